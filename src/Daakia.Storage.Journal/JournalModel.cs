using Daakia.Core;

namespace Daakia.Storage.Journal;

/// <summary>A stored message: held once however many queues have an entry of it; gone with its last entry.</summary>
internal sealed class JMessage(Letter letter)
{
    public Letter Letter { get; } = letter;

    public int Refs { get; set; }
}

/// <summary>One queue entry: its message, position, deliveries, visibility and (when moved) its own expiry.</summary>
internal sealed class JEntry(JQueue queue, JMessage message, long position) : IPositioned
{
    public JQueue Queue { get; } = queue;

    public JMessage Message { get; } = message;

    /// <summary>A copy of the message carrying this entry's own expiry, once an expiry op moved it (null: the
    /// message's). The message's other entries keep theirs.</summary>
    public Letter? Own { get; set; }

    /// <summary>The message as this entry hands it out: with the entry's expiry.</summary>
    public Letter Letter => Own ?? Message.Letter;

    public long Position { get; } = position;

    public int Deliveries { get; set; }

    public DateTimeOffset? VisibleAt { get; set; }

    public bool Removed { get; set; }

    /// <summary>The expiry index's bucket holding this entry, if it expires.</summary>
    public HashSet<JEntry>? ExpiryBucket { get; set; }

    public QueueEntry ToQueueEntry() => new(Letter, Position, Deliveries, VisibleAt);
}

/// <summary>One durable queue: entries by position and by message id, the last position given out, its usage.</summary>
internal sealed class JQueue(QueueKey key, JTenant tenant)
{
    public QueueKey Key { get; } = key;

    /// <summary>The tenant's totals, which every entry of the queue moves.</summary>
    public JTenant Tenant { get; } = tenant;

    public PositionList<JEntry> Entries { get; } = new();

    public Dictionary<Guid, JEntry> ById { get; } = [];

    /// <summary>Positions are never reused, even once the queue is empty.</summary>
    public long LastPosition { get; set; }

    /// <summary>Sum of <see cref="Core.Storage.InboxQuota.StoredSize"/> of its entries.</summary>
    public long Bytes { get; set; }

    /// <summary>The queue's number in the journal file of <see cref="FileGeneration"/> (0: not defined there yet).</summary>
    public int FileId { get; set; }

    public int FileGeneration { get; set; }
}

/// <summary>What all queues of one tenant hold: entries, and bytes with each message's content counted once.</summary>
internal sealed class JTenant
{
    public long Entries { get; set; }

    /// <summary>The entries of its named queues (<see cref="QueueKind.Queue"/>), for <see cref="Core.Storage.InboxQuota.MaxTenantQueueMessages"/>.
    /// Moved with every entry in and out (<c>Count</c>), so replay and a compacted snapshot rebuild it.</summary>
    public long NamedQueueEntries { get; set; }

    public long Bytes { get; set; }

    public SortedList<string, RosterEntry> Roster { get; } = new(StringComparer.Ordinal);

    public PositionList<JActivity> Activity { get; } = new();
}

/// <summary>An activity log entry in the log's lists (global and per tenant).</summary>
internal sealed class JActivity(ActivityEntry entry) : IPositioned
{
    public ActivityEntry Entry { get; } = entry;

    public long Position => Entry.Id;

    public bool Removed { get; set; }
}

/// <summary>
/// Entries that expire, in one-second buckets (a set each, so adding and removing an entry is O(1); most
/// entries of a second land in the bucket used last). The sweep walks the buckets in order.
/// </summary>
internal sealed class ExpiryIndex
{
    private readonly SortedDictionary<long, HashSet<JEntry>> _buckets = [];
    private long _lastKey = long.MinValue;
    private HashSet<JEntry>? _last;

    public int Count { get; private set; }

    private static long KeyOf(JEntry e) => e.Letter.ExpiresAt!.Value.UtcTicks / TimeSpan.TicksPerSecond;

    public void Add(JEntry e)
    {
        var key = KeyOf(e);
        if (key != _lastKey || _last is null)
        {
            if (!_buckets.TryGetValue(key, out var bucket))
            {
                _buckets[key] = bucket = new HashSet<JEntry>(ReferenceEqualityComparer.Instance);
            }

            (_lastKey, _last) = (key, bucket);
        }

        _last.Add(e);
        e.ExpiryBucket = _last;
        Count++;
    }

    public void Remove(JEntry e)
    {
        if (e.ExpiryBucket is not { } bucket || !bucket.Remove(e))
        {
            return;
        }

        e.ExpiryBucket = null;
        Count--;
        if (bucket.Count == 0)
        {
            var key = KeyOf(e);
            _buckets.Remove(key);
            if (ReferenceEquals(bucket, _last))
            {
                _last = null;
            }
        }
    }

    /// <summary>Up to <paramref name="limit"/> entries expired at or before <paramref name="now"/>, earliest buckets first.</summary>
    public List<JEntry> Due(DateTimeOffset now, int limit)
    {
        var due = new List<JEntry>();
        var nowKey = now.UtcTicks / TimeSpan.TicksPerSecond;
        foreach (var (key, bucket) in _buckets)
        {
            if (key > nowKey || due.Count >= limit)
            {
                break;
            }

            foreach (var e in bucket)
            {
                if (due.Count >= limit)
                {
                    break;
                }

                if (e.Letter.ExpiresAt <= now)
                {
                    due.Add(e);
                }
            }
        }

        return due;
    }
}

/// <summary>Tenant, then key (topic or client id), ordinal: the order retained messages and sessions are read in.</summary>
internal sealed class PairOrder : IComparer<(string Tenant, string Key)>
{
    public static readonly PairOrder Instance = new();

    public int Compare((string Tenant, string Key) x, (string Tenant, string Key) y)
    {
        var t = string.CompareOrdinal(x.Tenant, y.Tenant);
        return t != 0 ? t : string.CompareOrdinal(x.Key, y.Key);
    }
}

/// <summary>The journal's record kinds (one byte before each effect).</summary>
internal enum Effect : byte
{
    /// <summary>Queue number, tenant, kind, name: later effects of the same file name the queue by number.</summary>
    DefineQueue = 1,

    /// <summary>A message and its entries: (queue, position) for each, 0 deliveries, visible at the message's time.</summary>
    Append = 2,

    /// <summary>Queue, count, message ids: entries removed.</summary>
    Remove = 3,

    /// <summary>Queue, count, (message id, deliveries, visible at): entries that came back unacknowledged.</summary>
    Return = 4,

    /// <summary>From, to, count, (message id, new position): entries moved, keeping their deliveries, visible at once.</summary>
    Move = 5,

    /// <summary>One activity entry, with its id.</summary>
    Activity = 6,

    /// <summary>Count, ids: activity entries pruned.</summary>
    Prune = 7,

    /// <summary>A roster entry (tenant, client, first seen, last seen).</summary>
    Seen = 8,

    /// <summary>A retained message without properties (journals written before <see cref="RetainWithProperties"/>).</summary>
    Retain = 9,

    ClearRetained = 10,

    /// <summary>A session's record without its awaiting-complete ids (those stay as they were).</summary>
    SaveSession = 11,

    DeleteSession = 12,

    SessionRelease = 13,

    SessionComplete = 14,

    /// <summary>Snapshot only: a queue's last position.</summary>
    QueueHigh = 15,

    /// <summary>Snapshot only: the last activity id given out.</summary>
    ActivityHigh = 16,

    /// <summary>Snapshot only: a session's whole record, awaiting-complete ids included.</summary>
    Session = 17,

    /// <summary>Snapshot only: a message (its entries follow as <see cref="Entry"/>).</summary>
    Message = 18,

    /// <summary>Snapshot only: queue, message id, position, deliveries, visible at.</summary>
    Entry = 19,

    /// <summary>A retained message: <see cref="Retain"/>'s fields, then its properties (a presence byte, then the blob of
    /// <see cref="Core.Storage.PropertiesBlob"/>).</summary>
    RetainWithProperties = 20,

    /// <summary>A durable record created or replaced: tenant, kind (a byte), key, value (length-prefixed bytes).</summary>
    PutRecord = 21,

    /// <summary>A durable record removed: tenant, kind (a byte), key.</summary>
    DeleteRecord = 22,

    /// <summary>Queue, count, (message id, expires at): entries whose expiry moved (also in snapshots, after the
    /// <see cref="Entry"/> of an entry with an expiry of its own).</summary>
    Expiry = 23,
}
