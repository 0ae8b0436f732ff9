namespace Daakia.Core.Storage;

/// <summary>What an inbox or a tenant holds in the store now: letters and bytes (as <see cref="InboxQuota"/> counts them).</summary>
public readonly record struct InboxUsage(long Letters, long Bytes);
