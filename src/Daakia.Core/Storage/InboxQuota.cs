namespace Daakia.Core.Storage;

/// <summary>
/// What one inbox and one tenant may hold in the store. The store checks an append against it atomically, with the
/// append: a letter that would pass a limit for any recipient is refused as a whole
/// (<see cref="DaakiaErrorCode.QuotaExceeded"/>), and nothing of it is stored.
/// </summary>
/// <param name="MaxLetters">Most letters one inbox holds.</param>
/// <param name="MaxBytes">Most bytes one inbox holds (each letter counts <see cref="StoredSize"/>).</param>
/// <param name="MaxTenantBytes">Most bytes all inboxes of one tenant hold together (a letter counts <see cref="TenantSize"/>).</param>
/// <param name="MaxTenantQueueMessages">Most entries all named queues (<see cref="QueueKind.Queue"/>) of one tenant hold
/// together; an append counts one per named queue it names (<see cref="NamedQueueEntries"/>), entries of other kinds
/// never count.</param>
public sealed record InboxQuota(long MaxLetters, long MaxBytes, long MaxTenantBytes, long MaxTenantQueueMessages = long.MaxValue)
{
    /// <summary>What an inbox entry counts as beyond its payload (ids, author, timestamps, index entries).</summary>
    public const int EntryOverhead = 128;

    /// <summary>No limits.</summary>
    public static readonly InboxQuota None = new(long.MaxValue, long.MaxValue, long.MaxValue);

    /// <summary>
    /// The bytes one inbox entry of <paramref name="letter"/> counts against a quota: its content (payload and the UTF-8
    /// bytes of every header key and value, <see cref="Letter.Size"/>) plus <see cref="EntryOverhead"/>.
    /// </summary>
    public static long StoredSize(Letter letter) => letter.Size + EntryOverhead;

    /// <summary>
    /// The bytes appending <paramref name="letter"/> to <paramref name="queues"/> queues adds to its tenant's usage: its
    /// content once (it is stored once however many queues hold it) plus <see cref="EntryOverhead"/> per entry.
    /// </summary>
    public static long TenantSize(Letter letter, int queues) => letter.Size + ((long)EntryOverhead * queues);

    /// <summary>How many of <paramref name="queues"/> are named queues: the entries an append to them adds to its
    /// tenant's count against <see cref="MaxTenantQueueMessages"/>.</summary>
    public static int NamedQueueEntries(IReadOnlyList<QueueKey> queues)
    {
        ArgumentNullException.ThrowIfNull(queues);
        var n = 0;
        for (var i = 0; i < queues.Count; i++) // not foreach: an interface's enumerator is an allocation per send
        {
            if (queues[i].Kind == QueueKind.Queue)
            {
                n++;
            }
        }

        return n;
    }
}
