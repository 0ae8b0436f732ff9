namespace Daakia.Core.Storage;

/// <summary>What an inbox or a tenant holds in the store now: letters and bytes (payload and headers plus a fixed overhead per entry, as <see cref="InboxQuota"/> counts them).</summary>
public readonly record struct InboxUsage(long Letters, long Bytes);
