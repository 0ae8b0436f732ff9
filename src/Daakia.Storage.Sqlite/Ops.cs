using Daakia.Core;
using Daakia.Core.Storage;

namespace Daakia.Storage.Sqlite;

/// <summary>Appends one message to one or more queues (see <see cref="QueueWrites.Append"/>).</summary>
internal sealed class QueueAppendOp(Letter message, IReadOnlyList<QueueKey> queues, InboxQuota quota) : WriteOp<IReadOnlyList<long>>
{
    public Letter Message => message;

    public IReadOnlyList<QueueKey> Queues => queues;

    /// <summary>Set when a later delete of the same batch takes this entry (<see cref="AckPairing"/>).</summary>
    public AckPair? Pair { get; set; }

    // Several statements (the message, its entries, maybe new queues): all or none.
    protected override bool IsMultiStatement => true;

    protected override void Run(WriterStatements s) => Result = QueueWrites.Append(s, message, queues, quota, Pair);
}

/// <summary>Removes entries (acknowledged, or deleted by a consumer) from one queue.</summary>
internal sealed class QueueDeleteOp(QueueKey queue, IReadOnlyList<Guid> ids) : WriteOp<int>
{
    public QueueKey Queue => queue;

    public IReadOnlyList<Guid> Ids => ids;

    /// <summary>The ids whose append is earlier in the same batch (<see cref="AckPairing"/>).</summary>
    public Dictionary<Guid, AckPair>? Pairs { get; set; }

    // An entry and its message's reference go together, and an ack of many entries is whole or nothing.
    protected override bool IsMultiStatement => true;

    protected override void Run(WriterStatements s) => Result = QueueWrites.Delete(s, queue, ids, Pairs);
}

/// <summary>Records entries that came back unacknowledged.</summary>
internal sealed class QueueReturnOp(QueueKey queue, IReadOnlyList<ReturnedEntry> entries) : WriteOp<int>
{
    protected override bool IsMultiStatement => entries.Count > 1;

    protected override void Run(WriterStatements s) => Result = QueueWrites.Return(s, queue, entries);
}

/// <summary>Moves entries to a dead-letter queue and records each move, in one write.</summary>
internal sealed class DeadLetterOp(QueueKey from, QueueKey to, IReadOnlyList<Guid> ids, DateTimeOffset at) : WriteOp<int>
{
    protected override bool IsMultiStatement => true;

    protected override void Run(WriterStatements s) => Result = QueueWrites.Move(s, from, to, ids, ActivityKinds.DeadLettered, at);
}

/// <summary>
/// A unit of work: every op under the one savepoint of this write, so a failing op or a refused quota undoes the whole
/// unit (and the ledger's changes with it) while the rest of the batch commits.
/// </summary>
internal sealed class UnitOfWorkOp(IReadOnlyList<StoreOp> ops) : WriteOp<IReadOnlyList<StoreOpResult>>
{
    protected override bool IsMultiStatement => true;

    protected override void Run(WriterStatements s)
    {
        var results = new StoreOpResult[ops.Count];
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = ops[i] switch
            {
                AppendOp a => new StoreOpResult(a.Queues.Count, QueueWrites.Append(s, a.Message, a.Queues, a.Quota ?? InboxQuota.None)),
                DeleteOp d => new StoreOpResult(QueueWrites.Delete(s, d.Queue, d.Ids)),
                ReturnOp r => new StoreOpResult(QueueWrites.Return(s, r.Queue, r.Entries)),
                MoveOp m => new StoreOpResult(QueueWrites.Move(s, m.From, m.To, m.Ids, m.ActivityKind, m.At)),
                ExpiryOp x => new StoreOpResult(QueueWrites.SetExpiry(s, x.Queue, x.Entries, x.ExtendOnly)),
                ActivityOp x => new StoreOpResult(QueueWrites.Record(s, x.Entries)),
                RetainOp r => new StoreOpResult(Retain(s, r.Message)),
                ClearRetainedOp c => new StoreOpResult(ClearRetained(s, c.Tenant, c.Topic)),
                SaveSessionOp save => new StoreOpResult(SaveSession(s, save.Session)),
                DeleteSessionOp d => new StoreOpResult(DeleteSession(s, d.Tenant, d.Client)),
                SessionReleaseOp r => new StoreOpResult(Release(s.InsertRelease, r.Tenant, r.Client, r.PacketId)),
                SessionCompleteOp c => new StoreOpResult(Release(s.DeleteRelease, c.Tenant, c.Client, c.PacketId)),
                PutRecordOp put => new StoreOpResult(PutRecord(s, put.Record)),
                DeleteRecordOp d => new StoreOpResult(DeleteRecord(s, d.Tenant, d.Kind, d.Key)),
                PurgeQueueOp p => new StoreOpResult(Purge(s, p.Queue)),
                _ => throw new NotSupportedException($"Unknown store op {ops[i].GetType().Name}."),
            };
        }

        Result = results;
    }

    private static int Retain(WriterStatements s, RetainedMessage m)
    {
        var upsert = s.UpsertRetained;
        upsert.Bind(1, m.Tenant.Value);
        upsert.Bind(2, m.Topic);
        upsert.Bind(3, WriterStatements.Text(m.Author), nullable: true);
        upsert.Bind(4, m.Payload.Span);
        upsert.Bind(5, m.ContentType);
        upsert.Bind(6, (long)m.Qos);
        upsert.Bind(7, Codec.Ms(m.Timestamp));
        upsert.Bind(8, m.ExpiresAt is { } e ? Codec.Ms(e) : null);
        upsert.BindBlobOrNull(9, Core.Storage.PropertiesBlob.Encode(m.Properties));
        return upsert.Execute();
    }

    private static int SaveSession(WriterStatements s, SessionRecord session)
    {
        var upsert = s.UpsertSession;
        upsert.Bind(1, session.Tenant.Value);
        upsert.Bind(2, session.Client.Value);
        upsert.Bind(3, (long)session.ExpirySeconds);
        upsert.Bind(4, Codec.EncodeSubscriptions(session.Subscriptions));
        return upsert.Execute();
    }

    private static int Release(RawStatement statement, TenantId tenant, ClientId client, ushort packetId)
    {
        statement.Bind(1, tenant.Value);
        statement.Bind(2, client.Value);
        statement.Bind(3, (long)packetId);
        return statement.Execute();
    }

    /// <summary>The session's record, then its queue's entries.</summary>
    private static int DeleteSession(WriterStatements s, TenantId tenant, ClientId client)
    {
        foreach (var delete in new[] { s.DeleteSession, s.DeleteReleases })
        {
            delete.Bind(1, tenant.Value);
            delete.Bind(2, client.Value);
            delete.Execute();
        }
        return Purge(s, new QueueKey(tenant, QueueKind.Session, client.Value));
    }

    /// <summary>Every entry of one queue, each as an ack would remove it (references and usage).</summary>
    private static int Purge(WriterStatements s, QueueKey queue)
    {
        if (s.Queues.Find(QueueName.Of(queue)) is not { } row)
        {
            return 0;
        }

        var ids = new List<Guid>();
        var select = s.SelectQueueIds;
        select.Bind(1, row.Qid);
        try
        {
            while (select.Step())
            {
                ids.Add(new Guid(select.Blob(0)));
            }
        }
        finally
        {
            select.Reset();
        }

        return ids.Count == 0 ? 0 : QueueWrites.Delete(s, queue, ids);
    }

    private static int PutRecord(WriterStatements s, StoredRecord record)
    {
        var upsert = s.UpsertRecord;
        upsert.Bind(1, record.Tenant.Value);
        upsert.Bind(2, (long)record.Kind);
        upsert.Bind(3, record.Key);
        upsert.Bind(4, record.Value.Span);
        return upsert.Execute();
    }

    private static int DeleteRecord(WriterStatements s, TenantId tenant, RecordKind kind, string key)
    {
        var delete = s.DeleteRecord;
        delete.Bind(1, tenant.Value);
        delete.Bind(2, (long)kind);
        delete.Bind(3, key);
        return delete.Execute();
    }

    private static int ClearRetained(WriterStatements s, TenantId tenant, string topic)
    {
        var delete = s.DeleteRetained;
        delete.Bind(1, tenant.Value);
        delete.Bind(2, topic);
        return delete.Execute();
    }
}

/// <summary>
/// Removes expired entries (of every queue kind) and records each in the activity log, in one write: a crash cannot
/// remove an entry without its record, or record one that is still there.
/// </summary>
/// <remarks>
/// It runs on the writer thread, so it is kept small for every tenant waiting on the next commit: at most
/// <see cref="MaxPerWrite"/> entries, and their payloads are never read (the messages it returns carry an empty payload).
/// </remarks>
internal sealed class RemoveExpiredOp(DateTimeOffset now, int limit) : WriteOp<IReadOnlyList<ExpiredEntry>>
{
    /// <summary>Most entries one call removes; the core's sweep asks for this many and repeats while it gets them.</summary>
    public const int MaxPerWrite = 1000;

    protected override bool IsMultiStatement => true;

    protected override void Run(WriterStatements s)
    {
        var found = new List<(ExpiredEntry Entry, QueueName Queue, long Qid, long Position, long Mid, long? Counted)>();
        var select = s.SelectExpired;
        select.Bind(1, Codec.Ms(now));
        select.Bind(2, Math.Min(limit, MaxPerWrite));
        try
        {
            while (select.Step())
            {
                var tenant = select.Text(0);
                var queue = new QueueName(tenant, (int)select.Int64(1), select.Text(2));
                var key = new QueueKey(TenantId.Parse(tenant), (QueueKind)queue.Kind, queue.Name);
                found.Add((new ExpiredEntry(key, new Letter
                {
                    Tenant = key.Tenant,
                    Id = new Guid(select.Blob(4)),
                    Author = ClientId.Parse(select.Text(5)),
                    Recipients = Codec.SplitRecipients(select.Text(6)),
                    Payload = ReadOnlyMemory<byte>.Empty,
                    Timestamp = default,
                    ExpiresAt = Codec.Time(select.Int64(7)),
                }), queue, select.Int64(8), select.Int64(3), select.Int64(9), select.IsNull(10) ? null : select.Int64(10)));
            }
        }
        finally
        {
            select.Reset();
        }

        var delete = s.DeleteEntryByPos;
        var record = s.InsertActivity;
        var at = Codec.Ms(now);
        var removed = new List<ExpiredEntry>(found.Count);
        foreach (var (e, queue, qid, position, mid, counted) in found)
        {
            delete.Bind(1, qid);
            delete.Bind(2, position);
            if (delete.Execute() == 0)
            {
                continue;
            }

            var (size, last) = QueueWrites.Release(s, mid, counted);
            QueueWrites.Booked(s, queue, size, last);
            record.Bind(1, queue.Tenant);
            record.Bind(2, at);
            record.Bind(3, ActivityKinds.Expired);
            record.Bind(4, e.Message.Author.Value);
            record.Bind(5, queue.Name);
            record.Bind(6, e.Message.Id.ToString());
            record.Execute();
            removed.Add(e);
        }

        Result = removed;
    }
}

/// <summary>Records that a client was seen.</summary>
internal sealed class RecordSeenOp(TenantId tenant, ClientId client, DateTimeOffset at) : WriteOp<bool>
{
    protected override bool IsMultiStatement => false;

    protected override void Run(WriterStatements s)
    {
        var upsert = s.UpsertClient;
        upsert.Bind(1, tenant.Value);
        upsert.Bind(2, client.Value);
        upsert.Bind(3, Codec.Ms(at));
        upsert.Execute();
        Result = true;
    }
}

/// <summary>Appends activity entries.</summary>
internal sealed class AppendActivityOp(IReadOnlyList<ActivityEntry> entries) : WriteOp<bool>
{
    protected override bool IsMultiStatement => entries.Count > 1;

    protected override void Run(WriterStatements s)
    {
        QueueWrites.Record(s, entries);
        Result = true;
    }
}

/// <summary>Bounded retention of the activity log: removes the oldest entries past their age or the row bound.</summary>
internal sealed class PruneActivityOp(DateTimeOffset olderThan, long keepEntries, int limit) : WriteOp<int>
{
    protected override bool IsMultiStatement => false;

    protected override void Run(WriterStatements s)
    {
        // Only the oldest `limit` entries are looked at (the log is appended in time order): bounded work per call.
        var prune = s.PruneActivity;
        prune.Bind(1, limit);
        prune.Bind(2, Codec.Ms(olderThan));
        prune.Bind(3, keepEntries);
        Result = prune.Execute();
    }
}

/// <summary>Nothing to write: completes when everything before it is durable.</summary>
internal sealed class FlushOp : WriteOp<bool>
{
    protected override bool IsMultiStatement => false;

    protected override void Run(WriterStatements s) => Result = true;
}
