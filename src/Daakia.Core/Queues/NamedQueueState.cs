using System.Buffers.Binary;
using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>
/// One named queue in memory (under the tenant's lock): its info, and its claims — every claim by id, and the live
/// claim of each claimed message — so listing, claiming and deleting never read the claims from the store.
/// </summary>
internal sealed class NamedQueueState(NamedQueueInfo info)
{
    public NamedQueueInfo Info { get; set; } = info;

    /// <summary>False until the queue's record is known to be durable: a write that makes the queue (a post to a queue
    /// a failed create left in memory) puts the record again.</summary>
    public bool RecordDurable { get; set; }

    public Dictionary<Guid, QueueClaim> Claims { get; } = [];

    /// <summary>The queue's subscriptions by id (null until it has one).</summary>
    public Dictionary<Guid, SubscriptionState>? Subscriptions { get; set; }

    /// <summary>The queue's topic bindings, once it was bound to a filter (null: never since it was made or read back).</summary>
    public BoundQueue? Bound { get; set; }

    /// <summary>Idempotency keys of posts (beyond Zaqar), bounded in count and bytes.</summary>
    public IdempotencyKeys Keys { get; } = new();

    private TaskCompletionSource? _arrived;

    /// <summary>Completes at the next post to this queue (long-poll: a claim or a listing waiting for messages).</summary>
    public Task Arrival => (_arrived ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>Whether a long-poll holds the arrival signal now, to be woken by the next post (caller holds the lock).</summary>
    public bool Awaited => _arrived is not null;

    /// <summary>A post is durable: whoever waits for messages looks again (caller holds the lock).</summary>
    public void Arrived()
    {
        var waiting = _arrived;
        _arrived = null;
        waiting?.TrySetResult();
    }

    /// <summary>
    /// Claims and pops reading candidates from the store now (outside the lock), oldest first: while there are any, every
    /// message id removed from the queue is remembered with its place in the order of removals, so that none of them
    /// takes a message that went meanwhile (deleted, popped, moved to the dead-letter queue; a release is noted too, so
    /// a read whose snapshot shows the message still claimed does not count on it); a purge while they read makes them
    /// take nothing. A read looks only at what was removed after it began, and what no read in flight began before is let
    /// go, so this stays bounded by what is removed during the oldest read, however the reads overlap.
    /// </summary>
    private readonly LinkedList<QueueRead> _reads = [];

    private readonly Dictionary<Guid, long> _removedAt = [];
    private readonly Queue<(long At, Guid Id)> _removals = new();
    private long _removalCount;

    public long Purges { get; set; }

    /// <summary>Whether a candidate read is in flight (caller holds the lock).</summary>
    public bool Reading => _reads.Count > 0;

    /// <summary>Ids remembered for the reads in flight (caller holds the lock).</summary>
    public int RemovedCount => _removedAt.Count;

    /// <summary>A candidate read starts (caller holds the lock).</summary>
    public QueueRead BeginRead()
    {
        var read = new QueueRead(_removalCount);
        read.Node = _reads.AddLast(read);
        return read;
    }

    /// <summary>Notes removed ids for the reads in flight (caller holds the lock).</summary>
    public void Removing(IEnumerable<Guid> ids)
    {
        if (_reads.Count == 0)
        {
            return;
        }

        foreach (var id in ids)
        {
            var at = ++_removalCount;
            _removedAt[id] = at;
            _removals.Enqueue((at, id));
        }
    }

    /// <summary>Whether <paramref name="id"/> was removed after <paramref name="read"/> began (caller holds the lock).</summary>
    public bool RemovedDuring(QueueRead read, Guid id) => _removedAt.TryGetValue(id, out var at) && at > read.Since;

    /// <summary>A read is done (caller holds the lock): what no read still in flight began before is let go.</summary>
    public void EndRead(QueueRead read)
    {
        if (read.Node is { } node)
        {
            _reads.Remove(node);
            read.Node = null;
        }

        var oldest = _reads.First?.Value.Since ?? long.MaxValue;
        while (_removals.TryPeek(out var r) && r.At <= oldest)
        {
            _removals.Dequeue();
            if (_removedAt.TryGetValue(r.Id, out var at) && at == r.At)
            {
                _removedAt.Remove(r.Id); // not when removed again since: that later one is still in the queue
            }
        }
    }

    /// <summary>
    /// Messages whose removal (delete, pop, dead-letter move) or return (a release) is written but not yet committed,
    /// each with how many such writes are in flight. Claims read their candidates from the store's committed snapshot
    /// (<see cref="Storage.IQueueStore.ReadCommittedAsync"/>), where these still look as before the write: none is a
    /// candidate until its write is settled (caller holds the lock).
    /// </summary>
    private readonly Dictionary<Guid, int> _unsettled = [];

    /// <summary>Whether a write in flight still changes the message (caller holds the lock).</summary>
    public bool IsUnsettled(Guid id) => _unsettled.Count > 0 && _unsettled.ContainsKey(id);

    /// <summary>Notes a write in flight for each id (caller holds the lock); <see cref="Settled"/> once it completed or failed.</summary>
    public void Unsettle(IEnumerable<Guid> ids)
    {
        foreach (var id in ids)
        {
            _unsettled[id] = _unsettled.GetValueOrDefault(id) + 1;
        }
    }

    /// <summary>The write <see cref="Unsettle"/> noted is done, committed or failed (caller holds the lock).</summary>
    public void Settled(IEnumerable<Guid> ids)
    {
        foreach (var id in ids)
        {
            if (_unsettled.TryGetValue(id, out var n))
            {
                if (n <= 1)
                {
                    _unsettled.Remove(id);
                }
                else
                {
                    _unsettled[id] = n - 1;
                }
            }
        }
    }

    /// <summary>Messages a pop is taking (their delete not yet durable): no claim or other pop takes them meanwhile.</summary>
    public HashSet<Guid> Popping { get; } = [];

    /// <summary>The claim each claimed message belongs to (the newest claim that took it).</summary>
    public Dictionary<Guid, Guid> ClaimOf { get; } = [];

    /// <summary>The live claim holding <paramref name="message"/>, or null.</summary>
    public QueueClaim? LiveClaimOf(Guid message, DateTimeOffset now) =>
        ClaimOf.TryGetValue(message, out var id) && Claims.TryGetValue(id, out var claim) && claim.IsLive(now) ? claim : null;

    public void Add(QueueClaim claim)
    {
        Claims[claim.Id] = claim;
        foreach (var m in claim.Messages)
        {
            ClaimOf[m] = claim.Id;
        }
    }

    /// <summary>Takes a claim out (and its messages' links to it, where they still point at it).</summary>
    public void Remove(QueueClaim claim)
    {
        Claims.Remove(claim.Id);
        foreach (var m in claim.Messages)
        {
            if (ClaimOf.TryGetValue(m, out var id) && id == claim.Id)
            {
                ClaimOf.Remove(m);
            }
        }
    }
}

/// <summary>The store encodings of a named queue's record and of a claim's (<see cref="RecordKind"/>), version 1.</summary>
internal static class NamedQueueRecords
{
    private const byte Version = 1;

    public static string ClaimKey(string queue, Guid claim) => queue + "/" + claim.ToString("N");

    public static string IdempotencyKey(string queue, string key) => queue + "/" + key;

    public static byte[] Encode(DateTimeOffset expires, IReadOnlyList<Guid> ids)
    {
        var buffer = new byte[1 + 8 + 4 + (16 * ids.Count)];
        var w = new Writer(buffer);
        w.Byte(Version);
        w.Long(expires.ToUnixTimeMilliseconds());
        w.Int(ids.Count);
        foreach (var id in ids)
        {
            w.Guid(id);
        }

        return buffer;
    }

    public static (DateTimeOffset Expires, Guid[] Ids) DecodeIdempotency(ReadOnlySpan<byte> value)
    {
        var r = new RecordReader(value);
        if (r.Byte() != Version)
        {
            throw new InvalidDataException("An idempotency record is of an unknown version.");
        }

        var expires = DateTimeOffset.FromUnixTimeMilliseconds(r.Long());
        var ids = new Guid[r.Int()];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = r.Guid();
        }

        return (expires, ids);
    }

    public static byte[] Encode(NamedQueueInfo info)
    {
        var s = info.Settings;
        var dlq = s.DeadLetterQueue is null ? [] : System.Text.Encoding.UTF8.GetBytes(s.DeadLetterQueue);
        var buffer = new byte[1 + 8 + 4 + info.Metadata.Length + 1 + (6 * 8) + 4 + dlq.Length];
        var w = new Writer(buffer);
        w.Byte(Version);
        w.Long(info.CreatedAt.ToUnixTimeMilliseconds());
        w.Bytes(info.Metadata.Span);
        byte flags = 0;
        flags |= s.DefaultMessageTtl is null ? (byte)0 : (byte)1;
        flags |= s.DefaultMessageDelay is null ? (byte)0 : (byte)2;
        flags |= s.MaxPostBytes is null ? (byte)0 : (byte)4;
        flags |= s.MaxClaimCount is null ? (byte)0 : (byte)8;
        flags |= s.DeadLetterQueue is null ? (byte)0 : (byte)16;
        flags |= s.DeadLetterTtl is null ? (byte)0 : (byte)32;
        w.Byte(flags);
        w.Long((long)(s.DefaultMessageTtl?.TotalMilliseconds ?? 0));
        w.Long((long)(s.DefaultMessageDelay?.TotalMilliseconds ?? 0));
        w.Long(s.MaxPostBytes ?? 0);
        w.Long(s.MaxClaimCount ?? 0);
        w.Long((long)(s.DeadLetterTtl?.TotalMilliseconds ?? 0));
        w.Long(0); // reserved
        w.Bytes(dlq);
        return buffer[..w.Length];
    }

    public static NamedQueueInfo DecodeQueue(string name, ReadOnlySpan<byte> value)
    {
        var r = new RecordReader(value);
        if (r.Byte() != Version)
        {
            throw new InvalidDataException($"Named queue record '{name}' is of an unknown version.");
        }

        var created = DateTimeOffset.FromUnixTimeMilliseconds(r.Long());
        var metadata = r.Bytes().ToArray();
        var flags = r.Byte();
        var ttl = r.Long();
        var delay = r.Long();
        var post = r.Long();
        var count = r.Long();
        var dlqTtl = r.Long();
        _ = r.Long();
        var dlq = r.Bytes();
        var settings = new NamedQueueSettings
        {
            DefaultMessageTtl = (flags & 1) != 0 ? TimeSpan.FromMilliseconds(ttl) : null,
            DefaultMessageDelay = (flags & 2) != 0 ? TimeSpan.FromMilliseconds(delay) : null,
            MaxPostBytes = (flags & 4) != 0 ? (int)post : null,
            MaxClaimCount = (flags & 8) != 0 ? (int)count : null,
            DeadLetterQueue = (flags & 16) != 0 ? System.Text.Encoding.UTF8.GetString(dlq) : null,
            DeadLetterTtl = (flags & 32) != 0 ? TimeSpan.FromMilliseconds(dlqTtl) : null,
        };
        return new NamedQueueInfo(name, metadata, settings, created);
    }

    public static byte[] Encode(QueueClaim claim)
    {
        var buffer = new byte[1 + 16 + (4 * 8) + 4 + (16 * claim.Messages.Count)];
        var w = new Writer(buffer);
        w.Byte(Version);
        w.Guid(claim.Id);
        w.Long((long)claim.Ttl.TotalMilliseconds);
        w.Long((long)claim.Grace.TotalMilliseconds);
        w.Long(claim.UpdatedAt.ToUnixTimeMilliseconds());
        w.Long(claim.ExpiresAt.ToUnixTimeMilliseconds());
        w.Int(claim.Messages.Count);
        foreach (var m in claim.Messages)
        {
            w.Guid(m);
        }

        return buffer;
    }

    public static QueueClaim DecodeClaim(string key, ReadOnlySpan<byte> value)
    {
        var slash = key.LastIndexOf('/');
        var r = new RecordReader(value);
        if (slash <= 0 || r.Byte() != Version)
        {
            throw new InvalidDataException($"Claim record '{key}' is of an unknown version.");
        }

        var id = r.Guid();
        var ttl = TimeSpan.FromMilliseconds(r.Long());
        var grace = TimeSpan.FromMilliseconds(r.Long());
        var updated = DateTimeOffset.FromUnixTimeMilliseconds(r.Long());
        var expires = DateTimeOffset.FromUnixTimeMilliseconds(r.Long());
        var messages = new Guid[r.Int()];
        for (var i = 0; i < messages.Length; i++)
        {
            messages[i] = r.Guid();
        }

        return new QueueClaim(id, key[..slash], ttl, grace, updated, expires, messages);
    }

    private ref struct Writer(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;

        public int Length { get; private set; }

        public void Byte(byte value) => _buffer[Length++] = value;

        public void Int(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_buffer[Length..], value);
            Length += 4;
        }

        public void Long(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_buffer[Length..], value);
            Length += 8;
        }

        public void Guid(Guid value)
        {
            value.TryWriteBytes(_buffer[Length..]);
            Length += 16;
        }

        public void Bytes(ReadOnlySpan<byte> value)
        {
            Int(value.Length);
            value.CopyTo(_buffer[Length..]);
            Length += value.Length;
        }
    }
}
