using Daakia.Core;
using Daakia.Core.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Daakia.Storage.Journal;

/// <summary>
/// The journal store: everything the core stores, held in memory in indexed form and made durable as an append-only
/// journal of effects (one record per call, CRC-checked), written and fsynced in batches by one writer thread (group
/// commit), read back at start-up, and rewritten as a snapshot of the live data once mostly dead (compaction).
/// </summary>
/// <remarks>
/// <para><b>Order.</b> Every call takes one lock, applies its effects to the live state and encodes them into the
/// pending batch before it returns: calls take their place in the store's order when they return, and a read sees
/// every write called before it. A read may also see writes that are not durable yet (their tasks have not completed).
/// </para>
/// <para><b>Durability.</b> A write's task completes once the batch holding its record is written (durability
/// <c>os</c>) or written and fsynced (<c>fsync</c>). A write that fails to reach the file faults the store: that
/// batch's writes and every later call fail with <see cref="DaakiaErrorCode.Unavailable"/>, and
/// <see cref="IsHealthy"/> turns false; the journal on disk still holds everything acknowledged before.</para>
/// <para><b>Memory.</b> Payloads live in memory as well as in the journal: what is stored is bounded by the core's
/// quotas (per inbox, per session, per tenant), not by the disk.</para>
/// </remarks>
public sealed partial class JournalStore : IDaakiaStore, IStoreHealth
{
    private readonly Lock _gate = new();
    private readonly JournalStoreOptions _options;
    private readonly ILogger _logger;
    private volatile string? _fault;
    private bool _opened;
    private bool _closed;

    private readonly System.Diagnostics.Metrics.Meter _meter = new(MeterName);
    private readonly System.Diagnostics.Metrics.Histogram<double> _commitSeconds;
    private long _batches;
    private long _committedWrites;

    /// <summary>The store's meter (the same name as the SQLite store's: one store runs per process).</summary>
    public const string MeterName = "Daakia.Store";

    public JournalStore(JournalStoreOptions options, ILogger<JournalStore>? logger = null)
    {
        JournalStoreOptions.Validate(options);
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _commitSeconds = Core.Storage.StoreMetrics.CommitDuration(_meter);
        _meter.CreateObservableCounter("commits", () => Interlocked.Read(ref _batches), description: "Batches the journal's writer wrote (each one fsync at durability fsync).");
        _meter.CreateObservableCounter("writes", () => Interlocked.Read(ref _committedWrites), description: "Writes (appends, acks, returns, units of work, …) made durable; writes per commit is the group commit's batch size.");
        _meter.CreateObservableGauge("journal.bytes", () => Volatile.Read(ref _fileLength), unit: "By", description: "Size of the journal file (it is compacted once past Daakia:Journal:CompactBytes and mostly dead).");
        _meter.CreateObservableCounter("journal.compactions", () => Compactions, description: "Times the journal was rewritten as a snapshot of its live data.");
    }

    /// <summary>False once a write failed to reach the journal; see <see cref="Fault"/>.</summary>
    public bool IsHealthy => _fault is null;

    public string? Fault => _fault;

    /// <summary>The journal file's path.</summary>
    public string JournalPath => Path.Combine(_options.DataDirectory, FileName);

    private void ThrowIfUnavailable()
    {
        if (_fault is { } fault)
        {
            throw new DaakiaException(DaakiaErrorCode.Unavailable, fault);
        }

        if (!_opened || _closed)
        {
            throw new DaakiaException(DaakiaErrorCode.Unavailable, _closed ? "The store is closed." : "The store is not open.");
        }
    }

    private static ValueTask<T> Failed<T>(Exception e) => ValueTask.FromException<T>(e);

    // ---- Writes: effects applied under the lock, their record queued; the task completes once it is durable.

    public ValueTask<IReadOnlyList<long>> AppendAsync(Letter message, IReadOnlyList<QueueKey> queues, InboxQuota? quota = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(queues);
        SameTenant(message, queues);
        lock (_gate)
        {
            ThrowIfUnavailable();
            if (CheckQuota(message, queues, quota) is { } refused)
            {
                return Failed<IReadOnlyList<long>>(refused);
            }

            var start = BeginRecord();
            using var scope = new RecordScope(this, start, null);
            var positions = Append(message, queues, null);
            return Commit<IReadOnlyList<long>>(start, positions);
        }
    }

    public ValueTask<int> DeleteAsync(QueueKey queue, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messageIds);
        lock (_gate)
        {
            ThrowIfUnavailable();
            var start = BeginRecord();
            using var scope = new RecordScope(this, start, null);
            return Commit(start, Remove(queue, messageIds, null));
        }
    }

    public ValueTask<int> ReturnAsync(QueueKey queue, IReadOnlyList<ReturnedEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        lock (_gate)
        {
            ThrowIfUnavailable();
            var start = BeginRecord();
            using var scope = new RecordScope(this, start, null);
            return Commit(start, Return(queue, entries, null));
        }
    }

    public ValueTask<int> DeadLetterAsync(QueueKey from, QueueKey to, IReadOnlyList<Guid> messageIds, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messageIds);
        lock (_gate)
        {
            ThrowIfUnavailable();
            var start = BeginRecord();
            using var scope = new RecordScope(this, start, null);
            return Commit(start, Move(from, to, messageIds, ActivityKinds.DeadLettered, at, null));
        }
    }

    public ValueTask<IReadOnlyList<StoreOpResult>> WriteAsync(IReadOnlyList<StoreOp> ops, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ops);
        lock (_gate)
        {
            ThrowIfUnavailable();

            foreach (var op in ops)
            {
                Validate(op);
            }

            // A unit is all or nothing: an append refused by its quota undoes what the unit's earlier ops did (only
            // tracked when such an append follows another op: the first op can be checked before anything happens).
            List<Action>? undo = null;
            for (var i = 1; i < ops.Count && undo is null; i++)
            {
                if (ops[i] is AppendOp { Quota: not null })
                {
                    undo = [];
                }
            }

            var start = BeginRecord();
            using var scope = new RecordScope(this, start, undo);
            var results = new StoreOpResult[ops.Count];
            for (var i = 0; i < ops.Count; i++)
            {
                if (ops[i] is AppendOp check && CheckQuota(check.Message, check.Queues, check.Quota) is { } refused)
                {
                    for (var u = (undo?.Count ?? 0) - 1; u >= 0; u--)
                    {
                        undo![u]();
                    }

                    AbandonRecord(start);
                    return Failed<IReadOnlyList<StoreOpResult>>(refused);
                }

                results[i] = ops[i] switch
                {
                    AppendOp a => new StoreOpResult(a.Queues.Count, Append(a.Message, a.Queues, undo)),
                    DeleteOp d => new StoreOpResult(Remove(d.Queue, d.Ids, undo)),
                    ReturnOp r => new StoreOpResult(Return(r.Queue, r.Entries, undo)),
                    MoveOp m => new StoreOpResult(Move(m.From, m.To, m.Ids, m.ActivityKind, m.At, undo)),
                    ExpiryOp x => new StoreOpResult(SetExpiry(x.Queue, x.Entries, x.ExtendOnly, undo)),
                    ActivityOp x => new StoreOpResult(Record(x.Entries, undo)),
                    DeleteSessionOp d => new StoreOpResult(EmptySessionQueue(d.Tenant, d.Client, undo)),
                    PurgeQueueOp p => new StoreOpResult(EmptyQueue(p.Queue, undo)),
                    DeleteRecordOp d => new StoreOpResult(_records.ContainsKey(RecordKey(d.Tenant, d.Kind, d.Key)) ? 1 : 0),
                    RetainOp or ClearRetainedOp or SaveSessionOp or SessionReleaseOp or SessionCompleteOp or PutRecordOp => new StoreOpResult(0),
                    _ => throw new ArgumentException($"Unknown store op {ops[i].GetType().Name}.", nameof(ops)),
                };
            }

            // Records change once no op of the unit can refuse any more.
            foreach (var op in ops)
            {
                switch (op)
                {
                    case RetainOp r:
                        Retain(r.Message with { Payload = r.Message.Payload.ToArray() });
                        break;
                    case ClearRetainedOp c:
                        ClearRetained(c.Tenant, c.Topic);
                        break;
                    case SaveSessionOp s:
                        SaveSession(s.Session);
                        break;
                    case DeleteSessionOp d:
                        DropSessionRecord(d.Tenant, d.Client);
                        break;
                    case SessionReleaseOp rel:
                        SessionRelease(rel.Tenant, rel.Client, rel.PacketId, release: true);
                        break;
                    case SessionCompleteOp done:
                        SessionRelease(done.Tenant, done.Client, done.PacketId, release: false);
                        break;
                    case PutRecordOp put:
                        PutRecord(put.Record with { Value = put.Record.Value.ToArray() });
                        break;
                    case DeleteRecordOp gone:
                        DeleteRecord(gone.Tenant, gone.Kind, gone.Key);
                        break;
                }
            }

            return Commit<IReadOnlyList<StoreOpResult>>(start, results);
        }
    }

    /// <summary>Refuses, before anything of the unit happens, an op the store cannot apply whole.</summary>
    private static void Validate(StoreOp op)
    {
        switch (op)
        {
            case AppendOp a:
                ArgumentNullException.ThrowIfNull(a.Message, nameof(op));
                ArgumentNullException.ThrowIfNull(a.Queues, nameof(op));
                SameTenant(a.Message, a.Queues);
                break;
            case DeleteOp d:
                ArgumentNullException.ThrowIfNull(d.Ids, nameof(op));
                break;
            case ReturnOp r:
                ArgumentNullException.ThrowIfNull(r.Entries, nameof(op));
                break;
            case MoveOp m:
                ArgumentNullException.ThrowIfNull(m.Ids, nameof(op));
                ArgumentNullException.ThrowIfNull(m.ActivityKind, nameof(op));
                break;
            case ExpiryOp x:
                ArgumentNullException.ThrowIfNull(x.Entries, nameof(op));
                break;
            case ActivityOp x:
                ArgumentNullException.ThrowIfNull(x.Entries, nameof(op));
                foreach (var e in x.Entries)
                {
                    ArgumentNullException.ThrowIfNull(e?.Kind, nameof(op));
                }

                break;
            case RetainOp r:
                ArgumentNullException.ThrowIfNull(r.Message, nameof(op));
                break;
            case SaveSessionOp s:
                ArgumentNullException.ThrowIfNull(s.Session, nameof(op));
                break;
            case PutRecordOp put:
                ArgumentNullException.ThrowIfNull(put.Record, nameof(op));
                ArgumentNullException.ThrowIfNull(put.Record.Key, nameof(op));
                break;
            case DeleteRecordOp d:
                ArgumentNullException.ThrowIfNull(d.Key, nameof(op));
                break;
            case ClearRetainedOp or DeleteSessionOp or SessionReleaseOp or SessionCompleteOp or PurgeQueueOp:
                break;
            default:
                throw new ArgumentException($"Unknown store op {op?.GetType().Name ?? "null"}.", nameof(op));
        }
    }

    /// <summary>Every queue must be of the message's tenant (the tenant's usage counts its payload).</summary>
    private static void SameTenant(Letter message, IReadOnlyList<QueueKey> queues)
    {
        foreach (var q in queues)
        {
            if (q.Tenant != message.Tenant)
            {
                throw new ArgumentException($"Queue {q} is not of the message's tenant {message.Tenant}.", nameof(queues));
            }
        }
    }

    private int Record(IReadOnlyList<ActivityEntry> entries, List<Action>? undo)
    {
        foreach (var e in entries)
        {
            AddActivity(e, undo);
        }

        return entries.Count;
    }

    public ValueTask<IReadOnlyList<ExpiredEntry>> RemoveExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            var expired = _expiry.Due(now, Math.Min(limit, 1000));

            var start = BeginRecord();
            using var scope = new RecordScope(this, start, null);
            var result = new List<ExpiredEntry>(expired.Count);
            foreach (var e in expired)
            {
                TakeEntry(e, null);
                LogRemoved(e.Queue, [e]);
                var letter = e.Letter;
                result.Add(new ExpiredEntry(e.Queue.Key, letter));
                // In the same record as the removal, so a crash cannot lose the record of it.
                AddActivity(new ActivityEntry(0, e.Queue.Key.Tenant, now, ActivityKinds.Expired, letter.Author, e.Queue.Key.Name, letter.Id.ToString()), null);
            }

            return Commit<IReadOnlyList<ExpiredEntry>>(start, result);
        }
    }

    public ValueTask RecordSeenAsync(TenantId tenant, ClientId client, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            var start = BeginRecord();
            using var scope = new RecordScope(this, start, null);
            Seen(tenant, client, at, at);
            return new ValueTask(Commit(start, true).AsTask());
        }
    }

    public ValueTask AppendActivityAsync(IReadOnlyList<ActivityEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (var e in entries)
        {
            ArgumentNullException.ThrowIfNull(e?.Kind, nameof(entries));
        }

        lock (_gate)
        {
            ThrowIfUnavailable();
            var start = BeginRecord();
            using var scope = new RecordScope(this, start, null);
            Record(entries, null);
            var done = Commit(start, true);
            return done.IsCompletedSuccessfully ? ValueTask.CompletedTask : new ValueTask(done.AsTask());
        }
    }

    public ValueTask<int> PruneActivityAsync(DateTimeOffset olderThan, long keepEntries, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            var floor = _activityIds - keepEntries;
            var gone = _activity.First(limit).Where(a => a.Entry.At <= olderThan || a.Entry.Id <= floor).ToList();
            var start = BeginRecord();
            using var scope = new RecordScope(this, start, null);
            if (gone.Count > 0)
            {
                foreach (var a in gone)
                {
                    RemoveActivity(a);
                }

                var log = _log!;
                log.Byte((byte)Effect.Prune);
                log.Varint((ulong)gone.Count);
                foreach (var a in gone)
                {
                    log.Varint(a.Entry.Id);
                }
            }

            return Commit(start, gone.Count);
        }
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            if (_pending.Length == 0 && !_writing)
            {
                return ValueTask.CompletedTask;
            }

            var w = Waiter<bool>.Rent(true);
            _waiters.Add(w);
            WakeWriter();
            return new ValueTask(w.Task.AsTask());
        }
    }

    // ---- Reads: answered from the live state at once.

    public ValueTask<IReadOnlyList<QueueEntry>> ReadAsync(QueueKey queue, long afterPosition, int limit, long maxBytes = long.MaxValue, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            var result = new List<QueueEntry>();
            if (_queues.TryGetValue(queue, out var q))
            {
                long bytes = 0;
                foreach (var e in q.Entries.After(afterPosition))
                {
                    bytes += e.Message.Letter.Payload.Length;
                    if (result.Count >= limit || (result.Count > 0 && bytes > maxBytes))
                    {
                        break;
                    }

                    result.Add(e.ToQueueEntry());
                }
            }

            return ValueTask.FromResult<IReadOnlyList<QueueEntry>>(result);
        }
    }

    public ValueTask<IReadOnlyList<QueueEntry>> ReadByIdsAsync(QueueKey queue, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            var result = new List<QueueEntry>();
            if (_queues.TryGetValue(queue, out var q))
            {
                var seen = new HashSet<Guid>();
                foreach (var id in messageIds)
                {
                    if (seen.Add(id) && q.ById.TryGetValue(id, out var e))
                    {
                        result.Add(e.ToQueueEntry());
                    }
                }
            }

            result.Sort(static (a, b) => a.Position.CompareTo(b.Position));
            return ValueTask.FromResult<IReadOnlyList<QueueEntry>>(result);
        }
    }

    public ValueTask<IReadOnlyList<QueueEntry>> ReadLastAsync(QueueKey queue, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            return ValueTask.FromResult<IReadOnlyList<QueueEntry>>(_queues.TryGetValue(queue, out var q) ? [.. q.Entries.Last(limit).Select(e => e.ToQueueEntry())] : []);
        }
    }

    public ValueTask<IReadOnlyList<StoredRecord>> ReadRecordsAsync((TenantId Tenant, RecordKind Kind, string Key)? after, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            return ValueTask.FromResult<IReadOnlyList<StoredRecord>>(Page(_records, after is { } a ? RecordKey(a.Tenant, a.Kind, a.Key) : null, limit));
        }
    }

    public ValueTask<InboxUsage> GetUsageAsync(QueueKey queue, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            return ValueTask.FromResult(Usage(queue));
        }
    }

    public ValueTask<InboxUsage> GetTenantUsageAsync(TenantId tenant, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            return ValueTask.FromResult(TenantUsage(tenant));
        }
    }

    public ValueTask<long> CountAsync(QueueKey queue, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            return ValueTask.FromResult(_queues.TryGetValue(queue, out var q) ? (long)q.Entries.Count : 0L);
        }
    }

    public ValueTask<IReadOnlyList<RosterEntry>> ListClientsAsync(TenantId tenant, ClientId? after, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            if (!_tenants.TryGetValue(tenant, out var t))
            {
                return ValueTask.FromResult<IReadOnlyList<RosterEntry>>([]);
            }

            var from = after is { } a ? UpperBound(t.Roster.Keys, a.Value, StringComparer.Ordinal) : 0;
            var result = new List<RosterEntry>();
            for (var i = from; i < t.Roster.Count && result.Count < limit; i++)
            {
                result.Add(t.Roster.Values[i]);
            }

            return ValueTask.FromResult<IReadOnlyList<RosterEntry>>(result);
        }
    }

    public ValueTask<RosterEntry?> GetClientAsync(TenantId tenant, ClientId client, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            return ValueTask.FromResult(_tenants.TryGetValue(tenant, out var t) && t.Roster.TryGetValue(client.Value, out var e) ? e : null);
        }
    }

    public ValueTask<long> LastActivityIdAsync(TenantId tenant, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            return ValueTask.FromResult(_tenants.TryGetValue(tenant, out var t) ? t.Activity.LastPosition : 0);
        }
    }

    public ValueTask<IReadOnlyList<ActivityEntry>> ReadActivityAsync(TenantId tenant, long afterId, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            IReadOnlyList<ActivityEntry> result = _tenants.TryGetValue(tenant, out var t)
                ? [.. t.Activity.After(afterId).Take(limit).Select(a => a.Entry)]
                : [];
            return ValueTask.FromResult(result);
        }
    }

    public ValueTask<IReadOnlyList<RetainedMessage>> ReadRetainedAsync((TenantId Tenant, string Topic)? after, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            return ValueTask.FromResult<IReadOnlyList<RetainedMessage>>(Page(_retained, after is { } a ? (a.Tenant.Value, a.Topic) : null, limit));
        }
    }

    public ValueTask<IReadOnlyList<SessionRecord>> ReadSessionsAsync((TenantId Tenant, ClientId Client)? after, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            return ValueTask.FromResult<IReadOnlyList<SessionRecord>>(Page(_sessions, after is { } a ? (a.Tenant.Value, a.Client.Value) : null, limit));
        }
    }

    private static List<T> Page<T>(SortedList<(string Tenant, string Key), T> list, (string, string)? after, int limit)
    {
        var from = after is { } a ? UpperBound(list.Keys, a, PairOrder.Instance) : 0;
        var result = new List<T>();
        for (var i = from; i < list.Count && result.Count < limit; i++)
        {
            result.Add(list.Values[i]);
        }

        return result;
    }

    /// <summary>Index of the first key greater than <paramref name="key"/>.</summary>
    private static int UpperBound<TKey>(IList<TKey> keys, TKey key, IComparer<TKey> order)
    {
        int lo = 0, hi = keys.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (order.Compare(keys[mid], key) <= 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}
