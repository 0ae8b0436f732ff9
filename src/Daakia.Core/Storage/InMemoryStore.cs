namespace Daakia.Core.Storage;

/// <summary>
/// A store that keeps everything in memory: for tests of the core and for throwaway runs. Not durable.
/// One lock orders every call, which gives the contract's order for free.
/// </summary>
public sealed class InMemoryStore : IDaakiaStore, IStoreHealth
{
    private readonly Lock _gate = new();
    private readonly Dictionary<QueueKey, MemoryQueue> _queues = [];
    private readonly Dictionary<(TenantId, ClientId), RosterEntry> _roster = [];
    private readonly List<ActivityEntry> _activity = [];
    private readonly SortedDictionary<(string Tenant, string Topic), RetainedMessage> _retained = new(RetainedOrder.Instance);
    private readonly SortedDictionary<(string Tenant, string Topic), SessionRecord> _sessions = new(RetainedOrder.Instance);
    private readonly SortedDictionary<(string Tenant, RecordKind Kind, string Key), StoredRecord> _records = new(RecordOrder.Instance);
    private long _activityIds;

    /// <summary>Always true: nothing in memory can fault the way a disk or a writer thread can.</summary>
    public bool IsHealthy => true;

    public string? Fault => null;

    public ValueTask OpenAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public ValueTask<IReadOnlyList<long>> AppendAsync(Letter message, IReadOnlyList<QueueKey> queues, InboxQuota? quota = null, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (CheckQuota(message, queues, quota ?? InboxQuota.None) is { } refused)
            {
                return ValueTask.FromException<IReadOnlyList<long>>(refused);
            }

            return ValueTask.FromResult<IReadOnlyList<long>>(Append(message, queues));
        }
    }

    /// <summary>Why appending would pass a quota, or null (caller holds the lock).</summary>
    private DaakiaException? CheckQuota(Letter message, IReadOnlyList<QueueKey> queues, InboxQuota quota) =>
        QuotaStore.Refusal(message, queues, quota, TenantUsage(message.Tenant), _usageOf ??= Usage, _namedQueueEntriesOf ??= NamedQueueEntries);

    private Func<QueueKey, InboxUsage>? _usageOf;
    private Func<TenantId, long>? _namedQueueEntriesOf;

    /// <summary>The entries of a tenant's named queues (caller holds the lock).</summary>
    private long NamedQueueEntries(TenantId tenant)
    {
        long n = 0;
        foreach (var (key, q) in _queues)
        {
            if (key.Tenant == tenant && key.Kind == QueueKind.Queue)
            {
                n += q.Entries.Count;
            }
        }

        return n;
    }

    private long[] Append(Letter message, IReadOnlyList<QueueKey> queues)
    {
        var positions = new long[queues.Count];
        for (var i = 0; i < positions.Length; i++)
        {
            positions[i] = Put(queues[i], message, 0, message.VisibleAt);
        }

        return positions;
    }

    /// <summary>Puts an entry at the end of a queue (caller holds the lock); returns its position.</summary>
    private long Put(QueueKey queue, Letter message, int deliveries, DateTimeOffset? visibleAt)
    {
        if (!_queues.TryGetValue(queue, out var q))
        {
            _queues[queue] = q = new MemoryQueue();
        }

        var position = ++q.LastPosition;
        q.Entries[position] = new QueueEntry(message, position, deliveries, visibleAt);
        q.ById[message.Id] = position;
        return position;
    }

    /// <summary>Takes an entry out of a queue (caller holds the lock).</summary>
    private QueueEntry? Take(QueueKey queue, Guid id)
    {
        if (_queues.TryGetValue(queue, out var q) && q.ById.Remove(id, out var position) && q.Entries.Remove(position, out var entry))
        {
            return entry;
        }

        return null;
    }

    public ValueTask<InboxUsage> GetUsageAsync(QueueKey queue, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(Usage(queue));
        }
    }

    public ValueTask<InboxUsage> GetTenantUsageAsync(TenantId tenant, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(TenantUsage(tenant));
        }
    }

    /// <summary>Usage of one queue (caller holds the lock).</summary>
    private InboxUsage Usage(QueueKey queue)
    {
        long bytes = 0;
        if (!_queues.TryGetValue(queue, out var q))
        {
            return new InboxUsage(0, 0);
        }

        foreach (var e in q.Entries.Values)
        {
            bytes += InboxQuota.StoredSize(e.Message);
        }

        return new InboxUsage(q.Entries.Count, bytes);
    }

    /// <summary>Usage of a whole tenant: each entry's overhead, each message's content (payload and headers) once (caller
    /// holds the lock).</summary>
    private InboxUsage TenantUsage(TenantId tenant)
    {
        long letters = 0, bytes = 0;
        var payloads = new HashSet<Guid>();
        foreach (var (key, q) in _queues)
        {
            if (key.Tenant != tenant)
            {
                continue;
            }

            letters += q.Entries.Count;
            foreach (var e in q.Entries.Values)
            {
                bytes += InboxQuota.EntryOverhead + (payloads.Add(e.Id) ? e.Message.Size : 0);
            }
        }

        return new InboxUsage(letters, bytes);
    }

    public ValueTask<IReadOnlyList<QueueEntry>> ReadAsync(QueueKey queue, long afterPosition, int limit, long maxBytes = long.MaxValue, CancellationToken cancellationToken = default)
    {
        var result = new List<QueueEntry>();
        long bytes = 0;
        lock (_gate)
        {
            if (_queues.TryGetValue(queue, out var q))
            {
                foreach (var (position, entry) in q.Entries)
                {
                    if (position <= afterPosition)
                    {
                        continue;
                    }

                    bytes += entry.Message.Payload.Length;
                    if (result.Count >= limit || (result.Count > 0 && bytes > maxBytes))
                    {
                        break;
                    }

                    result.Add(entry);
                }
            }
        }

        return ValueTask.FromResult<IReadOnlyList<QueueEntry>>(result);
    }

    public ValueTask<IReadOnlyList<QueueEntry>> ReadByIdsAsync(QueueKey queue, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_queues.TryGetValue(queue, out var q))
            {
                return ValueTask.FromResult<IReadOnlyList<QueueEntry>>([]);
            }

            var positions = new SortedSet<long>();
            foreach (var id in messageIds)
            {
                if (q.ById.TryGetValue(id, out var position))
                {
                    positions.Add(position);
                }
            }

            return ValueTask.FromResult<IReadOnlyList<QueueEntry>>([.. positions.Select(p => q.Entries[p])]);
        }
    }

    public ValueTask<IReadOnlyList<QueueEntry>> ReadLastAsync(QueueKey queue, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult<IReadOnlyList<QueueEntry>>(_queues.TryGetValue(queue, out var q) ? [.. q.Entries.Values.Reverse().Take(limit)] : []);
        }
    }

    public ValueTask<long> CountAsync(QueueKey queue, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_queues.TryGetValue(queue, out var q) ? (long)q.Entries.Count : 0L);
        }
    }

    public ValueTask<int> DeleteAsync(QueueKey queue, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(Delete(queue, messageIds));
        }
    }

    private int Delete(QueueKey queue, IReadOnlyList<Guid> messageIds)
    {
        var removed = 0;
        foreach (var id in messageIds)
        {
            if (Take(queue, id) is not null)
            {
                removed++;
            }
        }

        return removed;
    }

    public ValueTask<int> ReturnAsync(QueueKey queue, IReadOnlyList<ReturnedEntry> entries, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(Return(queue, entries));
        }
    }

    private int Return(QueueKey queue, IReadOnlyList<ReturnedEntry> entries)
    {
        var found = 0;
        if (!_queues.TryGetValue(queue, out var q))
        {
            return 0;
        }

        foreach (var r in entries)
        {
            if (q.ById.TryGetValue(r.Id, out var position))
            {
                var e = q.Entries[position];
                q.Entries[position] = e with { Deliveries = Math.Max(e.Deliveries, r.Deliveries), VisibleAt = r.VisibleAt };
                found++;
            }
        }

        return found;
    }

    /// <summary>Moves the expiry of the named entries of one queue (caller holds the lock); how many it found. The entry
    /// gets a copy of its message with the new expiry: the message's other entries keep theirs.</summary>
    private int SetExpiry(QueueKey queue, IReadOnlyList<EntryExpiry> entries, bool extendOnly)
    {
        if (!_queues.TryGetValue(queue, out var q))
        {
            return 0;
        }

        var found = 0;
        foreach (var x in entries)
        {
            if (!q.ById.TryGetValue(x.Id, out var position))
            {
                continue;
            }

            found++;
            var e = q.Entries[position];
            if (extendOnly && (e.Message.ExpiresAt is not { } had || had >= x.ExpiresAt))
            {
                continue; // never expires, or lives long enough already
            }

            if (e.Message.ExpiresAt != x.ExpiresAt)
            {
                q.Entries[position] = e with { Message = e.Message.WithExpiresAt(x.ExpiresAt) };
            }
        }

        return found;
    }

    public ValueTask<int> DeadLetterAsync(QueueKey from, QueueKey to, IReadOnlyList<Guid> messageIds, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(Move(from, to, messageIds, ActivityKinds.DeadLettered, at));
        }
    }

    private int Move(QueueKey from, QueueKey to, IReadOnlyList<Guid> messageIds, string kind, DateTimeOffset at)
    {
        var moved = 0;
        foreach (var id in messageIds)
        {
            if (Take(from, id) is { } e)
            {
                Put(to, e.Message, e.Deliveries, null);
                // Recorded under the same lock as the move: no reader sees one without the other.
                _activity.Add(new ActivityEntry(++_activityIds, e.Message.Tenant, at, kind, e.Message.Author, from.Name, id.ToString()));
                moved++;
            }
        }

        return moved;
    }

    public ValueTask<IReadOnlyList<StoreOpResult>> WriteAsync(IReadOnlyList<StoreOp> ops, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            // Each append is checked against the usage as the unit's earlier ops left it (as SQLite does); a refused
            // unit is undone from a snapshot, so nothing of it is stored.
            var snapshot = Snapshot();
            var results = new StoreOpResult[ops.Count];
            for (var i = 0; i < ops.Count; i++)
            {
                if (ops[i] is AppendOp check && CheckQuota(check.Message, check.Queues, check.Quota ?? InboxQuota.None) is { } refused)
                {
                    Restore(snapshot);
                    return ValueTask.FromException<IReadOnlyList<StoreOpResult>>(refused);
                }

                if (ops[i] is RetainOp or ClearRetainedOp or SaveSessionOp or SessionReleaseOp or SessionCompleteOp or PutRecordOp)
                {
                    results[i] = new StoreOpResult(0); // applied below, once no op of the unit can refuse
                    continue;
                }

                results[i] = ops[i] switch
                {
                    AppendOp a => new StoreOpResult(a.Queues.Count, Append(a.Message, a.Queues)),
                    DeleteOp d => new StoreOpResult(Delete(d.Queue, d.Ids)),
                    ReturnOp r => new StoreOpResult(Return(r.Queue, r.Entries)),
                    MoveOp m => new StoreOpResult(Move(m.From, m.To, m.Ids, m.ActivityKind, m.At)),
                    ExpiryOp x => new StoreOpResult(SetExpiry(x.Queue, x.Entries, x.ExtendOnly)),
                    ActivityOp x => new StoreOpResult(Record(x.Entries)),
                    DeleteSessionOp d => new StoreOpResult(DeleteSession(d.Tenant, d.Client)),
                    DeleteRecordOp d => new StoreOpResult(_records.ContainsKey((d.Tenant.Value, d.Kind, d.Key)) ? 1 : 0),
                    PurgeQueueOp p => new StoreOpResult(Purge(p.Queue)),
                    _ => throw new ArgumentException($"Unknown store op {ops[i].GetType().Name}.", nameof(ops)),
                };
            }

            foreach (var op in ops)
            {
                if (op is RetainOp r)
                {
                    _retained[(r.Message.Tenant.Value, r.Message.Topic)] = r.Message with { Payload = r.Message.Payload.ToArray() };
                }
                else if (op is ClearRetainedOp c)
                {
                    _retained.Remove((c.Tenant.Value, c.Topic));
                }
                else if (op is SaveSessionOp save)
                {
                    var key = (save.Session.Tenant.Value, save.Session.Client.Value);
                    var pending = _sessions.TryGetValue(key, out var had) ? had.AwaitingComplete : [];
                    _sessions[key] = save.Session with { Subscriptions = [.. save.Session.Subscriptions], AwaitingComplete = pending };
                }
                else if (op is PutRecordOp put)
                {
                    var record = put.Record;
                    _records[(record.Tenant.Value, record.Kind, record.Key)] = record with { Value = record.Value.ToArray() };
                }
                else if (op is DeleteRecordOp removed)
                {
                    _records.Remove((removed.Tenant.Value, removed.Kind, removed.Key));
                }
                else if (op is DeleteSessionOp gone)
                {
                    _sessions.Remove((gone.Tenant.Value, gone.Client.Value));
                }
                else if (op is SessionReleaseOp rel && _sessions.TryGetValue((rel.Tenant.Value, rel.Client.Value), out var released))
                {
                    _sessions[(rel.Tenant.Value, rel.Client.Value)] = released with { AwaitingComplete = [.. released.AwaitingComplete.Append(rel.PacketId).Distinct().Order()] };
                }
                else if (op is SessionCompleteOp done && _sessions.TryGetValue((done.Tenant.Value, done.Client.Value), out var completed))
                {
                    _sessions[(done.Tenant.Value, done.Client.Value)] = completed with { AwaitingComplete = [.. completed.AwaitingComplete.Where(id => id != done.PacketId)] };
                }
            }

            return ValueTask.FromResult<IReadOnlyList<StoreOpResult>>(results);
        }
    }

    public ValueTask<IReadOnlyList<RetainedMessage>> ReadRetainedAsync((TenantId Tenant, string Topic)? after, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IEnumerable<RetainedMessage> all = _retained.Values;
            if (after is { } a)
            {
                var key = (a.Tenant.Value, a.Topic);
                all = _retained.Where(e => RetainedOrder.Instance.Compare(e.Key, key) > 0).Select(e => e.Value);
            }

            return ValueTask.FromResult<IReadOnlyList<RetainedMessage>>([.. all.Take(limit)]);
        }
    }

    /// <summary>Tenant, then topic, ordinal: the order the SQLite store reads them in.</summary>
    /// <summary>Empties a session's queue (caller holds the lock; the record goes once the unit cannot refuse); how many
    /// entries the queue held.</summary>
    private int DeleteSession(TenantId tenant, ClientId client)
    {
        var key = new QueueKey(tenant, QueueKind.Session, client.Value);
        if (!_queues.TryGetValue(key, out var q))
        {
            return 0;
        }

        return Delete(key, [.. q.Entries.Values.Select(e => e.Id)]);
    }

    /// <summary>Empties a queue (caller holds the lock); how many entries it held.</summary>
    private int Purge(QueueKey queue) => _queues.TryGetValue(queue, out var q) ? Delete(queue, [.. q.Entries.Values.Select(e => e.Id)]) : 0;

    public ValueTask<IReadOnlyList<StoredRecord>> ReadRecordsAsync((TenantId Tenant, RecordKind Kind, string Key)? after, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IEnumerable<KeyValuePair<(string Tenant, RecordKind Kind, string Key), StoredRecord>> all = _records;
            if (after is { } a)
            {
                var key = (a.Tenant.Value, a.Kind, a.Key);
                all = all.Where(e => RecordOrder.Instance.Compare(e.Key, key) > 0);
            }

            return ValueTask.FromResult<IReadOnlyList<StoredRecord>>([.. all.Take(limit).Select(e => e.Value)]);
        }
    }

    /// <summary>Tenant, kind, then key, ordinal: the order every store reads records in.</summary>
    private sealed class RecordOrder : IComparer<(string Tenant, RecordKind Kind, string Key)>
    {
        public static readonly RecordOrder Instance = new();

        public int Compare((string Tenant, RecordKind Kind, string Key) x, (string Tenant, RecordKind Kind, string Key) y)
        {
            var t = string.CompareOrdinal(x.Tenant, y.Tenant);
            if (t != 0)
            {
                return t;
            }

            return x.Kind != y.Kind ? x.Kind.CompareTo(y.Kind) : string.CompareOrdinal(x.Key, y.Key);
        }
    }

    public ValueTask<IReadOnlyList<SessionRecord>> ReadSessionsAsync((TenantId Tenant, ClientId Client)? after, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IEnumerable<KeyValuePair<(string Tenant, string Topic), SessionRecord>> all = _sessions;
            if (after is { } a)
            {
                var key = (a.Tenant.Value, a.Client.Value);
                all = all.Where(e => RetainedOrder.Instance.Compare(e.Key, key) > 0);
            }

            return ValueTask.FromResult<IReadOnlyList<SessionRecord>>([.. all.Take(limit).Select(e => e.Value)]);
        }
    }

    private sealed class RetainedOrder : IComparer<(string Tenant, string Topic)>
    {
        public static readonly RetainedOrder Instance = new();

        public int Compare((string Tenant, string Topic) x, (string Tenant, string Topic) y)
        {
            var t = string.CompareOrdinal(x.Tenant, y.Tenant);
            return t != 0 ? t : string.CompareOrdinal(x.Topic, y.Topic);
        }
    }

    public ValueTask<IReadOnlyList<ExpiredEntry>> RemoveExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default)
    {
        var result = new List<ExpiredEntry>();
        lock (_gate)
        {
            foreach (var (key, q) in _queues)
            {
                var expired = new List<QueueEntry>();
                foreach (var entry in q.Entries.Values)
                {
                    if (result.Count + expired.Count >= limit)
                    {
                        break;
                    }

                    if (entry.Message.IsExpired(now))
                    {
                        expired.Add(entry);
                    }
                }

                foreach (var entry in expired)
                {
                    Take(key, entry.Id);
                    result.Add(new ExpiredEntry(key, entry.Message));
                    // Recorded under the same lock as the removal: no reader sees one without the other.
                    _activity.Add(new ActivityEntry(++_activityIds, key.Tenant, now, ActivityKinds.Expired, entry.Message.Author, key.Name, entry.Id.ToString()));
                }
            }
        }

        return ValueTask.FromResult<IReadOnlyList<ExpiredEntry>>(result);
    }

    public ValueTask RecordSeenAsync(TenantId tenant, ClientId client, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _roster[(tenant, client)] = _roster.TryGetValue((tenant, client), out var e)
                ? e with { LastSeen = at > e.LastSeen ? at : e.LastSeen }
                : new RosterEntry(client, at, at);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<RosterEntry>> ListClientsAsync(TenantId tenant, ClientId? after, int limit, CancellationToken cancellationToken = default)
    {
        List<RosterEntry> result;
        lock (_gate)
        {
            result = [.. _roster
                .Where(kv => kv.Key.Item1 == tenant && (after is null || string.CompareOrdinal(kv.Key.Item2.Value, after.Value.Value) > 0))
                .Select(kv => kv.Value)
                .OrderBy(e => e.Client.Value, StringComparer.Ordinal)
                .Take(limit)];
        }

        return ValueTask.FromResult<IReadOnlyList<RosterEntry>>(result);
    }

    public ValueTask<RosterEntry?> GetClientAsync(TenantId tenant, ClientId client, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_roster.TryGetValue((tenant, client), out var e) ? e : null);
        }
    }

    public ValueTask AppendActivityAsync(IReadOnlyList<ActivityEntry> entries, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            Record(entries);
        }

        return ValueTask.CompletedTask;
    }

    private int Record(IReadOnlyList<ActivityEntry> entries)
    {
        foreach (var e in entries)
        {
            _activity.Add(e with { Id = ++_activityIds });
        }

        return entries.Count;
    }

    public ValueTask<int> PruneActivityAsync(DateTimeOffset olderThan, long keepEntries, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var removed = 0;
            var floor = _activityIds - keepEntries;
            for (var i = 0; i < Math.Min(limit, _activity.Count); i++)
            {
                if (_activity[i].At <= olderThan || _activity[i].Id <= floor)
                {
                    removed++;
                }
            }

            // The log is in id order, so the oldest `limit` candidates are a prefix; keep the ones that stay.
            var keep = _activity.Take(Math.Min(limit, _activity.Count)).Where(e => e.At > olderThan && e.Id > floor).ToList();
            _activity.RemoveRange(0, Math.Min(limit, _activity.Count));
            _activity.InsertRange(0, keep);
            return ValueTask.FromResult(removed);
        }
    }

    public ValueTask<long> LastActivityIdAsync(TenantId tenant, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_activity.FindLast(e => e.Tenant == tenant)?.Id ?? 0);
        }
    }

    public ValueTask<IReadOnlyList<ActivityEntry>> ReadActivityAsync(TenantId tenant, long afterId, int limit, CancellationToken cancellationToken = default)
    {
        List<ActivityEntry> result;
        lock (_gate)
        {
            result = [.. _activity.Where(e => e.Tenant == tenant && e.Id > afterId).Take(limit)];
        }

        return ValueTask.FromResult<IReadOnlyList<ActivityEntry>>(result);
    }

    private (Dictionary<QueueKey, MemoryQueue> Queues, int Activity, long ActivityIds) Snapshot()
    {
        var copy = new Dictionary<QueueKey, MemoryQueue>(_queues.Count);
        foreach (var (key, q) in _queues)
        {
            var c = new MemoryQueue { LastPosition = q.LastPosition };
            foreach (var (p, e) in q.Entries)
            {
                c.Entries[p] = e;
            }

            foreach (var (id, p) in q.ById)
            {
                c.ById[id] = p;
            }

            copy[key] = c;
        }

        return (copy, _activity.Count, _activityIds);
    }

    private void Restore((Dictionary<QueueKey, MemoryQueue> Queues, int Activity, long ActivityIds) snapshot)
    {
        _queues.Clear();
        foreach (var (key, q) in snapshot.Queues)
        {
            _queues[key] = q;
        }

        _activity.RemoveRange(snapshot.Activity, _activity.Count - snapshot.Activity);
        _activityIds = snapshot.ActivityIds;
    }

    /// <summary>One queue: entries by position, positions by message id, and the last position given out.</summary>
    private sealed class MemoryQueue
    {
        public SortedDictionary<long, QueueEntry> Entries { get; } = [];

        public Dictionary<Guid, long> ById { get; } = [];

        public long LastPosition { get; set; }
    }
}
