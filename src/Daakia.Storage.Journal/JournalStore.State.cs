using Daakia.Core;
using Daakia.Core.Storage;

namespace Daakia.Storage.Journal;

/// <summary>The live state and the effects that change it. Every effect is applied under <c>_gate</c> and, while a
/// record is open (<c>_log</c> set), encoded into it; replay applies the same effects with no record open.</summary>
public sealed partial class JournalStore
{
    private readonly Dictionary<QueueKey, JQueue> _queues = [];
    private readonly Dictionary<TenantId, JTenant> _tenants = [];
    private readonly ExpiryIndex _expiry = new();
    private readonly PositionList<JActivity> _activity = new();
    private readonly SortedList<(string Tenant, string Key), RetainedMessage> _retained = new(PairOrder.Instance);
    private readonly SortedList<(string Tenant, string Key), SessionRecord> _sessions = new(PairOrder.Instance);

    // Keyed by tenant and the kind's character before the key, so that the pair order is tenant, kind, key.
    private readonly SortedList<(string Tenant, string Key), StoredRecord> _records = new(PairOrder.Instance);
    private long _activityIds;
    private List<JEntry> _removedScratch = [];
    private long _retainedBytes;

    // The record being written (null: replaying, or no write in progress).
    private RecordBuffer? _log;
    private int _fileGeneration = 1;
    private int _nextFileId;
    private readonly List<JQueue> _definedInRecord = [];

    private JQueue QueueOf(QueueKey key)
    {
        if (!_queues.TryGetValue(key, out var q))
        {
            _queues[key] = q = new JQueue(key, TenantOf(key.Tenant));
        }

        return q;
    }

    private JTenant TenantOf(TenantId tenant)
    {
        if (!_tenants.TryGetValue(tenant, out var t))
        {
            _tenants[tenant] = t = new JTenant();
        }

        return t;
    }

    /// <summary>Names the queue in the open record by its number, defining the number first if this file lacks it.</summary>
    private void Define(JQueue q)
    {
        if (_log is not { } log || q.FileGeneration == _fileGeneration)
        {
            return;
        }

        q.FileGeneration = _fileGeneration;
        q.FileId = ++_nextFileId;
        _definedInRecord.Add(q);
        log.Byte((byte)Effect.DefineQueue);
        log.Varint((ulong)q.FileId);
        log.String(q.Key.Tenant.Value);
        log.Byte((byte)q.Key.Kind);
        log.String(q.Key.Name);
    }

    private JEntry PutEntry(JQueue q, JMessage m, long position, int deliveries, DateTimeOffset? visibleAt, List<Action>? undo, Letter? own = null)
    {
        var e = new JEntry(q, m, position) { Deliveries = deliveries, VisibleAt = visibleAt, Own = own };
        var last = q.LastPosition;
        q.Entries.Add(e);
        q.ById[m.Letter.Id] = e;
        q.LastPosition = Math.Max(q.LastPosition, position);
        Count(e, +1);
        if (undo is not null)
        {
            UndoPut(undo, e, last);
        }

        return e;
    }

    // The undo closures are made in methods of their own: a lambda in the method itself would allocate its captures on
    // every call, also the (usual) ones that track no undo.
    private void UndoPut(List<Action> undo, JEntry e, long last) => undo.Add(() =>
    {
        TakeEntry(e, null);
        e.Queue.LastPosition = last;
    });

    private void TakeEntry(JEntry e, List<Action>? undo)
    {
        e.Removed = true;
        e.Queue.Entries.Removed(e);
        e.Queue.ById.Remove(e.Message.Letter.Id);
        Count(e, -1);
        if (undo is not null)
        {
            UndoTake(undo, e);
        }
    }

    private void UndoTake(List<Action> undo, JEntry e) => undo.Add(() =>
    {
        e.Queue.Entries.Insert(e);
        e.Queue.ById[e.Message.Letter.Id] = e;
        Count(e, +1);
    });

    /// <summary>Moves the usage, references and expiry index by one entry in (+1) or out (-1).</summary>
    private void Count(JEntry e, int sign)
    {
        var m = e.Message;
        var letter = m.Letter;
        var t = e.Queue.Tenant;
        e.Queue.Bytes += sign * InboxQuota.StoredSize(letter);
        t.Entries += sign;
        if (e.Queue.Key.Kind == QueueKind.Queue)
        {
            t.NamedQueueEntries += sign;
        }

        t.Bytes += sign * InboxQuota.EntryOverhead;
        if (sign > 0 && m.Refs++ == 0)
        {
            t.Bytes += letter.Size;
        }
        else if (sign < 0 && --m.Refs == 0)
        {
            t.Bytes -= letter.Size;
        }

        if (e.Letter.ExpiresAt is not null)
        {
            if (sign > 0)
            {
                _expiry.Add(e);
            }
            else
            {
                _expiry.Remove(e);
            }
        }
    }

    /// <summary>Why appending would pass a quota, or null.</summary>
    private DaakiaException? CheckQuota(Letter message, IReadOnlyList<QueueKey> queues, InboxQuota? quota) =>
        quota is null ? null : QuotaStore.Refusal(message, queues, quota, TenantUsage(message.Tenant), _usageOf ??= Usage, _namedQueueEntriesOf ??= NamedQueueEntries);

    private Func<QueueKey, InboxUsage>? _usageOf;
    private Func<TenantId, long>? _namedQueueEntriesOf;

    private long NamedQueueEntries(TenantId tenant) => _tenants.TryGetValue(tenant, out var t) ? t.NamedQueueEntries : 0;

    private InboxUsage Usage(QueueKey key) => _queues.TryGetValue(key, out var q) ? new InboxUsage(q.Entries.Count, q.Bytes) : default;

    private InboxUsage TenantUsage(TenantId tenant) => _tenants.TryGetValue(tenant, out var t) ? new InboxUsage(t.Entries, t.Bytes) : default;

    private long[] Append(Letter message, IReadOnlyList<QueueKey> queues, List<Action>? undo)
    {
        var m = new JMessage(message);
        var targets = new JQueue[queues.Count];
        for (var i = 0; i < targets.Length; i++)
        {
            targets[i] = QueueOf(queues[i]);
            Define(targets[i]);
        }

        if (_log is { } log)
        {
            log.Byte((byte)Effect.Append);
            WriteLetter(log, message);
            log.Varint((ulong)targets.Length);
        }

        var positions = new long[targets.Length];
        for (var i = 0; i < targets.Length; i++)
        {
            var q = targets[i];
            positions[i] = q.LastPosition + 1;
            if (q.ById.TryGetValue(message.Id, out var twice))
            {
                TakeEntry(twice, undo); // a message once per queue: a repeated queue keeps the later position
            }

            PutEntry(q, m, positions[i], 0, message.VisibleAt, undo);
            if (_log is { } l)
            {
                l.Varint((ulong)q.FileId);
                l.Varint(positions[i]);
            }
        }

        return positions;
    }

    /// <summary>Removes the entries of <paramref name="ids"/> from one queue; how many were there.</summary>
    private int Remove(QueueKey key, IReadOnlyList<Guid> ids, List<Action>? undo)
    {
        if (!_queues.TryGetValue(key, out var q))
        {
            return 0;
        }

        // Under the store's lock: one scratch list serves every call.
        var found = _removedScratch;
        found.Clear();
        for (var i = 0; i < ids.Count; i++)
        {
            if (q.ById.TryGetValue(ids[i], out var e))
            {
                found.Add(e);
                TakeEntry(e, undo);
            }
        }

        var n = found.Count;
        if (n > 0)
        {
            LogRemoved(q, found);
        }

        found.Clear();
        if (found.Capacity > 1024)
        {
            _removedScratch = [];
        }

        return n;
    }

    private void LogRemoved(JQueue q, List<JEntry> removed)
    {
        if (_log is null)
        {
            return;
        }

        Define(q);
        var log = _log;
        log.Byte((byte)Effect.Remove);
        log.Varint((ulong)q.FileId);
        log.Varint((ulong)removed.Count);
        foreach (var e in removed)
        {
            log.Guid(e.Message.Letter.Id);
        }
    }

    private static void UndoReturn(List<Action> undo, JEntry e, int deliveries, DateTimeOffset? visible) =>
        undo.Add(() => (e.Deliveries, e.VisibleAt) = (deliveries, visible));

    private int Return(QueueKey key, IReadOnlyList<ReturnedEntry> entries, List<Action>? undo)
    {
        if (!_queues.TryGetValue(key, out var q))
        {
            return 0;
        }

        List<JEntry>? found = null;
        foreach (var r in entries)
        {
            if (q.ById.TryGetValue(r.Id, out var e))
            {
                var (deliveries, visible) = (e.Deliveries, e.VisibleAt);
                e.Deliveries = Math.Max(e.Deliveries, r.Deliveries);
                e.VisibleAt = r.VisibleAt;
                if (undo is not null)
                {
                    UndoReturn(undo, e, deliveries, visible);
                }
                (found ??= []).Add(e);
            }
        }

        if (found is null)
        {
            return 0;
        }

        if (_log is not null)
        {
            Define(q);
            var log = _log;
            log.Byte((byte)Effect.Return);
            log.Varint((ulong)q.FileId);
            log.Varint((ulong)found.Count);
            foreach (var e in found)
            {
                log.Guid(e.Message.Letter.Id);
                log.Varint((ulong)e.Deliveries);
                log.OptionalTime(e.VisibleAt);
            }
        }

        return found.Count;
    }

    /// <summary>Sets (or, with <paramref name="extendOnly"/>, moves later only) the expiry of the named entries of one
    /// queue; how many were found. Only the entries that changed are logged, with their new expiry.</summary>
    private int SetExpiry(QueueKey key, IReadOnlyList<EntryExpiry> entries, bool extendOnly, List<Action>? undo)
    {
        if (!_queues.TryGetValue(key, out var q))
        {
            return 0;
        }

        var found = 0;
        List<JEntry>? changed = null;
        foreach (var x in entries)
        {
            if (!q.ById.TryGetValue(x.Id, out var e))
            {
                continue;
            }

            found++;
            var had = e.Letter.ExpiresAt;
            if (had == x.ExpiresAt || (extendOnly && (had is not { } h || h >= x.ExpiresAt)))
            {
                continue; // as asked already, or (extending) never expires or lives long enough
            }

            var own = e.Own;
            Expire(e, x.ExpiresAt);
            if (undo is not null)
            {
                UndoExpiry(undo, e, own);
            }

            (changed ??= []).Add(e);
        }

        if (changed is not null && _log is not null)
        {
            Define(q);
            var log = _log;
            log.Byte((byte)Effect.Expiry);
            log.Varint((ulong)q.FileId);
            log.Varint((ulong)changed.Count);
            foreach (var e in changed)
            {
                log.Guid(e.Message.Letter.Id);
                log.Time(e.Letter.ExpiresAt!.Value);
            }
        }

        return found;
    }

    /// <summary>Gives an entry its own expiry (or back the message's, when that is the one asked for).</summary>
    private void Expire(JEntry e, DateTimeOffset expiresAt) =>
        Reindex(e, e.Message.Letter.ExpiresAt == expiresAt ? null : e.Message.Letter.WithExpiresAt(expiresAt));

    /// <summary>Puts an entry's own copy of its message in place, moving it in the expiry index (out of its old bucket
    /// first: the bucket is found by the expiry it had).</summary>
    private void Reindex(JEntry e, Letter? own)
    {
        _expiry.Remove(e);
        e.Own = own;
        if (e.Letter.ExpiresAt is not null)
        {
            _expiry.Add(e);
        }
    }

    private void UndoExpiry(List<Action> undo, JEntry e, Letter? own) => undo.Add(() => Reindex(e, own));

    private int Move(QueueKey from, QueueKey to, IReadOnlyList<Guid> ids, string kind, DateTimeOffset at, List<Action>? undo)
    {
        if (!_queues.TryGetValue(from, out var source))
        {
            return 0;
        }

        var target = QueueOf(to);
        List<(JEntry Old, JEntry New)>? moved = null;
        foreach (var id in ids)
        {
            if (source.ById.TryGetValue(id, out var e))
            {
                TakeEntry(e, undo);
                if (target.ById.TryGetValue(id, out var there))
                {
                    TakeEntry(there, undo);
                }

                var n = PutEntry(target, e.Message, target.LastPosition + 1, e.Deliveries, null, undo, e.Own); // its expiry goes with it
                (moved ??= []).Add((e, n));
            }
        }

        if (moved is null)
        {
            return 0;
        }

        if (_log is not null)
        {
            Define(source);
            Define(target);
            var log = _log;
            log.Byte((byte)Effect.Move);
            log.Varint((ulong)source.FileId);
            log.Varint((ulong)target.FileId);
            log.Varint((ulong)moved.Count);
            foreach (var (old, n) in moved)
            {
                log.Guid(old.Message.Letter.Id);
                log.Varint(n.Position);
            }
        }

        foreach (var (old, _) in moved)
        {
            // Recorded in the same record as the move: no reader sees one without the other.
            AddActivity(new ActivityEntry(0, from.Tenant, at, kind, old.Message.Letter.Author, from.Name, old.Message.Letter.Id.ToString()), undo);
        }

        return moved.Count;
    }

    /// <summary>Appends an activity entry with the next id (or, replaying, the id it had).</summary>
    private void AddActivity(ActivityEntry entry, List<Action>? undo, bool keepId = false)
    {
        var before = _activityIds;
        var e = keepId ? entry : entry with { Id = ++_activityIds };
        _activityIds = Math.Max(_activityIds, e.Id);
        var a = new JActivity(e);
        _activity.Add(a);
        var t = TenantOf(e.Tenant);
        t.Activity.Add(a);
        if (_log is { } log)
        {
            log.Byte((byte)Effect.Activity);
            WriteActivity(log, e);
        }

        if (undo is not null)
        {
            UndoActivity(undo, a, t, before);
        }
    }

    private void UndoActivity(List<Action> undo, JActivity a, JTenant t, long before) => undo.Add(() =>
    {
        a.Removed = true;
        _activity.Removed(a);
        t.Activity.Removed(a);
        _activityIds = before;
    });

    private void RemoveActivity(JActivity a)
    {
        a.Removed = true;
        _activity.Removed(a);
        TenantOf(a.Entry.Tenant).Activity.Removed(a);
    }

    private void Seen(TenantId tenant, ClientId client, DateTimeOffset first, DateTimeOffset last)
    {
        var roster = TenantOf(tenant).Roster;
        var entry = roster.TryGetValue(client.Value, out var e)
            ? e with { LastSeen = last > e.LastSeen ? last : e.LastSeen }
            : new RosterEntry(client, first, last);
        roster[client.Value] = entry;
        if (_log is { } log)
        {
            log.Byte((byte)Effect.Seen);
            log.String(tenant.Value);
            log.String(client.Value);
            log.Time(entry.FirstSeen);
            log.Time(entry.LastSeen);
        }
    }

    private void Retain(RetainedMessage message)
    {
        var key = (message.Tenant.Value, message.Topic);
        if (_retained.TryGetValue(key, out var old))
        {
            _retainedBytes -= old.Size;
        }

        _retained[key] = message;
        _retainedBytes += message.Size;
        if (_log is { } log)
        {
            log.Byte((byte)Effect.RetainWithProperties);
            WriteRetained(log, message);
        }
    }

    private void ClearRetained(TenantId tenant, string topic)
    {
        if (_retained.Remove((tenant.Value, topic), out var old))
        {
            _retainedBytes -= old.Size;
            if (_log is { } log)
            {
                log.Byte((byte)Effect.ClearRetained);
                log.String(tenant.Value);
                log.String(topic);
            }
        }
    }

    private void SaveSession(SessionRecord record)
    {
        var key = (record.Tenant.Value, record.Client.Value);
        var pending = _sessions.TryGetValue(key, out var had) ? had.AwaitingComplete : [];
        _sessions[key] = record with { Subscriptions = [.. record.Subscriptions], AwaitingComplete = pending };
        if (_log is { } log)
        {
            log.Byte((byte)Effect.SaveSession);
            WriteSession(log, record, withAwaiting: false);
        }
    }

    private static (string, string) RecordKey(TenantId tenant, RecordKind kind, string key) => (tenant.Value, (char)kind + key);

    private void PutRecord(StoredRecord record)
    {
        _records[RecordKey(record.Tenant, record.Kind, record.Key)] = record;
        if (_log is { } log)
        {
            log.Byte((byte)Effect.PutRecord);
            WriteRecord(log, record);
        }
    }

    private static void WriteRecord(RecordBuffer log, StoredRecord record)
    {
        log.String(record.Tenant.Value);
        log.Byte((byte)record.Kind);
        log.String(record.Key);
        log.Bytes(record.Value.Span);
    }

    private void DeleteRecord(TenantId tenant, RecordKind kind, string key)
    {
        if (_records.Remove(RecordKey(tenant, kind, key)) && _log is { } log)
        {
            log.Byte((byte)Effect.DeleteRecord);
            log.String(tenant.Value);
            log.Byte((byte)kind);
            log.String(key);
        }
    }

    /// <summary>Empties a session's queue (entries logged as removed); the record goes with <see cref="DropSessionRecord"/>.</summary>
    private int EmptySessionQueue(TenantId tenant, ClientId client, List<Action>? undo) =>
        EmptyQueue(new QueueKey(tenant, QueueKind.Session, client.Value), undo);

    /// <summary>Empties a queue (entries logged as removed); how many it held.</summary>
    private int EmptyQueue(QueueKey queue, List<Action>? undo)
    {
        if (!_queues.TryGetValue(queue, out var q) || q.Entries.Count == 0)
        {
            return 0;
        }

        var all = q.Entries.First(int.MaxValue).ToList();
        foreach (var e in all)
        {
            TakeEntry(e, undo);
        }

        LogRemoved(q, all);
        return all.Count;
    }

    private void DropSessionRecord(TenantId tenant, ClientId client)
    {
        if (_sessions.Remove((tenant.Value, client.Value)) && _log is { } log)
        {
            log.Byte((byte)Effect.DeleteSession);
            log.String(tenant.Value);
            log.String(client.Value);
        }
    }

    private void SessionRelease(TenantId tenant, ClientId client, ushort packetId, bool release)
    {
        var key = (tenant.Value, client.Value);
        if (!_sessions.TryGetValue(key, out var s))
        {
            return;
        }

        _sessions[key] = release
            ? s with { AwaitingComplete = [.. s.AwaitingComplete.Append(packetId).Distinct().Order()] }
            : s with { AwaitingComplete = [.. s.AwaitingComplete.Where(id => id != packetId)] };
        if (_log is { } log)
        {
            log.Byte((byte)(release ? Effect.SessionRelease : Effect.SessionComplete));
            log.String(tenant.Value);
            log.String(client.Value);
            log.Varint(packetId);
        }
    }
}
