namespace Daakia.Core.Storage;

/// <summary>
/// What one inbox and one tenant may hold in the store. The store checks an append against it atomically, with the
/// append: a letter that would pass a limit for any recipient is refused as a whole
/// (<see cref="DaakiaErrorCode.QuotaExceeded"/>), and nothing of it is stored.
/// </summary>
/// <param name="MaxLetters">Most letters one inbox holds.</param>
/// <param name="MaxBytes">Most bytes one inbox holds (each letter counts <see cref="StoredSize"/>).</param>
/// <param name="MaxTenantBytes">Most bytes all inboxes of one tenant hold together.</param>
public sealed record InboxQuota(long MaxLetters, long MaxBytes, long MaxTenantBytes)
{
    /// <summary>What an inbox entry counts as beyond its payload (ids, author, timestamps, index entries).</summary>
    public const int EntryOverhead = 128;

    /// <summary>No limits.</summary>
    public static readonly InboxQuota None = new(long.MaxValue, long.MaxValue, long.MaxValue);

    /// <summary>The bytes one inbox entry of <paramref name="letter"/> counts against a quota.</summary>
    public static long StoredSize(Letter letter) => letter.Payload.Length + EntryOverhead;
}
