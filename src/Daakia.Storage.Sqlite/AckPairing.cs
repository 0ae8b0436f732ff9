namespace Daakia.Storage.Sqlite;

/// <summary>One letter's append and ack, paired within a batch (<see cref="AckPairing"/>).</summary>
internal sealed class AckPair
{
    /// <summary>Set by the append once it has booked the entry without writing it; cleared by the delete that takes it.</summary>
    public bool Present { get; set; }

    /// <summary>
    /// The content bytes the append booked (payload and headers, <see cref="Core.Letter.Size"/>): what
    /// <see cref="QueueWrites.Release"/> would have read from the entry or message row, so the delete takes off exactly that.
    /// </summary>
    public long ContentBytes { get; set; }
}

/// <summary>
/// A letter appended to one queue and acknowledged (deleted from that queue) within the same batch: neither its
/// message row nor its entry is written, because the transaction would insert and delete them again before anyone can
/// read them (the commit makes both visible at once, and every read waits for the commit of what was called before it).
/// Everything else the two writes do still happens as if they had run: the quota checks, the queue's next position,
/// the usage, and both callers' results.
/// </summary>
/// <remarks>
/// <para>Only on the writer's first, unguarded run of a batch that holds appends, deletes and writes that touch no
/// queue (<see cref="Plan"/>): any op that reads or moves entries (a return, a dead-letter move, a unit of work, the
/// expiry sweep) turns it off for that batch, since it could look for an entry that is not in the table.</para>
/// <para>A paired append first looks the id up in its queue; if an entry of that id is there (a duplicate) it runs as
/// usual and fails on the unique index as usual, and so does the delete. A paired append refused by a quota leaves
/// nothing to pair, and the delete then runs as usual. Each entry that exists only here counts as a change of the op
/// that made or took it (<see cref="WriterStatements.PairedChanges"/>): an op that fails after one is rolled back with
/// the whole batch, which then runs again guarded and without pairing, so a failed ack can never take a letter away;
/// so does a batch in which a delete failed before it reached its paired entry (<see cref="AnyLeft"/>).</para>
/// <para>The sender's ack still means what it did: it completes after this commit, and by then the letter was handed
/// to its recipient and acknowledged, in the same commit that would have made it durable.</para>
/// </remarks>
internal static class AckPairing
{
    /// <summary>Pairs the one-queue appends of the batch with a later delete of the same entry; returns how many.</summary>
    /// <remarks><paramref name="open"/> is the writer's scratch map, emptied here and reused batch after batch.</remarks>
    public static int Plan(List<WriteOp> batch, Dictionary<(QueueName Queue, Guid Id), QueueAppendOp?> open)
    {
        Clear(batch);
        var appends = 0;
        var deletes = 0;
        foreach (var op in batch)
        {
            switch (op)
            {
                case QueueAppendOp a:
                    appends += a.Queues.Count == 1 ? 1 : 0;
                    break;
                case QueueDeleteOp:
                    deletes++;
                    break;
                case RecordSeenOp or AppendActivityOp or PruneActivityOp or FlushOp:
                    break;
                default:
                    return 0; // an op that reads or moves entries: every entry must be in the table
            }
        }

        if (appends == 0 || deletes == 0)
        {
            return 0;
        }

        // An id appended twice to one queue in the batch is never paired (the null marks it).
        open.Clear();
        var paired = 0;
        foreach (var op in batch)
        {
            if (op is QueueAppendOp append)
            {
                if (append.Queues.Count != 1)
                {
                    // A multicast is never paired, and an id it appends to a queue cancels any pair on that queue and
                    // id: with the paired entry never written, its own append would not fail on the unique index.
                    foreach (var q in append.Queues)
                    {
                        open[(QueueName.Of(q), append.Message.Id)] = null;
                    }

                    continue;
                }

                var key = (QueueName.Of(append.Queues[0]), append.Message.Id);
                if (!open.TryAdd(key, append))
                {
                    open[key] = null;
                }
            }
            else if (op is QueueDeleteOp delete)
            {
                var queue = QueueName.Of(delete.Queue);
                // By index: a foreach over the interface would allocate an enumerator per delete.
                var ids = delete.Ids;
                for (var i = 0; i < ids.Count; i++)
                {
                    var key = (queue, ids[i]);
                    if (open.TryGetValue(key, out var match) && match is not null)
                    {
                        open.Remove(key);
                        var pair = new AckPair();
                        match.Pair = pair;
                        (delete.Pairs ??= [])[ids[i]] = pair;
                        paired++;
                    }
                }
            }
        }

        open.Clear();
        if (open.Count == 0 && open.EnsureCapacity(0) > MaxKeptCapacity)
        {
            open.TrimExcess(MaxKeptCapacity);
        }

        return paired;
    }

    /// <summary>Past this many slots the scratch map is trimmed after a batch, so one huge batch does not pin its size.</summary>
    private const int MaxKeptCapacity = 4096;

    /// <summary>Whether an append booked an entry without writing it that no delete took (its delete failed first).</summary>
    public static bool AnyLeft(List<WriteOp> batch)
    {
        foreach (var op in batch)
        {
            if (op is QueueAppendOp { Pair.Present: true })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Undoes a plan: every op of the batch runs as usual.</summary>
    public static void Clear(List<WriteOp> batch)
    {
        foreach (var op in batch)
        {
            switch (op)
            {
                case QueueAppendOp a:
                    a.Pair = null;
                    break;
                case QueueDeleteOp d:
                    d.Pairs = null;
                    break;
            }
        }
    }
}
