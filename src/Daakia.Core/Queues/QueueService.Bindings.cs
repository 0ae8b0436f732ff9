using System.Buffers.Binary;
using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>
/// Topic bindings (beyond Zaqar): a named queue bound to topic filters takes every publication of its tenant that
/// matches one of them — from MQTT, the WebSocket API, REST, whatever routes through the topics — as a message,
/// durably. A binding is a subscriber in the tenant's topic trie (<see cref="BoundQueue"/>, one per queue, so several
/// matching filters give one copy); the route ends with the append, and the publisher's acknowledgement waits for it,
/// as it does for the persistent sessions a route reaches (<see cref="TopicRouter"/>, <see cref="DurableRoute"/>).
/// </summary>
public sealed partial class QueueService
{
    /// <summary>The author of a routed message whose publisher named no client (a REST publish without one).</summary>
    private static readonly ClientId Anonymous = ClientId.Parse("anonymous");

    /// <summary>
    /// Binds a queue (made if missing, as a post makes it) to a topic filter — the topics' syntax with <c>+</c> and
    /// <c>#</c>; not <c>$share/…</c>, nor any filter of the server's <c>$</c> topics. Once the task completes the binding
    /// is durable (it survives a restart) and every publication of the tenant that matches it is appended to the
    /// queue. Retained messages are not: a binding takes what is published from when it is made. Returns false when
    /// the queue was bound to this filter already.
    /// </summary>
    /// <exception cref="DaakiaException"><see cref="DaakiaErrorCode.InvalidArgument"/> for a name or filter that is not one;
    /// <see cref="DaakiaErrorCode.LimitExceeded"/> past <see cref="DaakiaCoreOptions.MaxBindingsPerQueue"/>;
    /// <see cref="DaakiaErrorCode.QuotaExceeded"/> for a new queue past <see cref="DaakiaCoreOptions.MaxQueuesPerTenant"/>.</exception>
    public async Task<bool> BindAsync(TenantId tenant, string name, string filter)
    {
        _engine.EnsureAccepting();
        RequireName(name);
        if (!IsBindable(filter, out var error))
        {
            throw DaakiaException.Invalid(error!);
        }

        var t = _engine.Tenant(tenant);
        var now = _time.GetUtcNow();
        Task<IReadOnlyList<StoreOpResult>> write;
        NamedQueueState state;
        BoundQueue bound;
        Subscription made;
        lock (t.Gate)
        {
            var isNew = false;
            if (!t.NamedQueues.TryGetValue(name, out var q))
            {
                q = Make(t, name, "{}"u8.ToArray(), NamedQueueSettings.None);
                isNew = true;
            }

            if (q.Bound is { } had && had.Bindings.ContainsKey(filter))
            {
                return false;
            }

            if ((q.Bound?.Bindings.Count ?? 0) >= _options.MaxBindingsPerQueue)
            {
                Undo(t, name, q, isNew);
                throw new DaakiaException(DaakiaErrorCode.LimitExceeded, $"A queue may be bound to at most {_options.MaxBindingsPerQueue} topic filters.");
            }

            var ops = new List<StoreOp>(2);
            if (!q.RecordDurable)
            {
                ops.Add(Record(tenant, q.Info));
            }

            ops.Add(new PutRecordOp(new StoredRecord(tenant, RecordKind.QueueBinding, BindingRecords.Key(name, filter), BindingRecords.Encode(now))));
            try
            {
                write = _store.WriteAsync(ops).AsTask();
            }
            catch
            {
                Undo(t, name, q, isNew);
                throw;
            }

            // Into the trie once its record's write has its place in the store: what routes from now on is appended
            // after it, so the store never holds a routed message of a binding it does not hold.
            if (q.Bound is not { } b)
            {
                q.Bound = b = new BoundQueue(tenant, q);
                UsageLedger.Seed(b.Usage, () => _store.GetUsageAsync(b.Queue, CancellationToken.None), t.Gate);
            }

            b.Add(t, filter, now);
            (state, bound, made) = (q, b, b.Bindings[filter].Subscription);
        }

        try
        {
            await write;
        }
        catch
        {
            lock (t.Gate)
            {
                // Not stored: not bound (unless it changed meanwhile). What it routed meanwhile stays in the queue.
                if (bound.Bindings.TryGetValue(filter, out var now2) && ReferenceEquals(now2.Subscription, made))
                {
                    bound.Remove(t, filter);
                }
            }

            throw;
        }

        state.RecordDurable = true;
        return true;
    }

    /// <summary>Unbinds a queue from a topic filter, durably before the task completes; false if it was not bound to it.</summary>
    public async Task<bool> UnbindAsync(TenantId tenant, string name, string filter)
    {
        _engine.EnsureAccepting();
        var t = Of(tenant);
        Task<IReadOnlyList<StoreOpResult>> write;
        Task<IReadOnlyList<StoreOpResult>> dormant;
        BoundQueue bound;
        DateTimeOffset created;
        lock (t.Gate)
        {
            if (!t.NamedQueues.TryGetValue(name, out var q) || q.Bound is not { } b)
            {
                return false;
            }

            if (!b.Bindings.TryGetValue(filter, out var had))
            {
                if (!b.Dormant.Remove(filter))
                {
                    return false;
                }

                dormant = _store.WriteAsync([new DeleteRecordOp(tenant, RecordKind.QueueBinding, BindingRecords.Key(name, filter))]).AsTask();
                goto Dormant;
            }

            write = _store.WriteAsync([new DeleteRecordOp(tenant, RecordKind.QueueBinding, BindingRecords.Key(name, filter))]).AsTask();
            b.Remove(t, filter);
            (bound, created) = (b, had.CreatedAt);
        }

        try
        {
            await write;
        }
        catch
        {
            lock (t.Gate)
            {
                // Still in the store: still bound, as a restart would say (unless bound again or deleted meanwhile).
                if (!bound.Removed && !bound.Bindings.ContainsKey(filter))
                {
                    bound.Add(t, filter, created);
                }
            }

            throw;
        }

        return true;

    Dormant:
        await dormant; // a binding today's options do not allow: its record goes (if that fails, a restart finds it again)
        return true;
    }

    /// <summary>The filters a queue is bound to, in ordinal order; null if there is no such queue.</summary>
    public IReadOnlyList<QueueBinding>? ListBindings(TenantId tenant, string name)
    {
        var t = Of(tenant);
        lock (t.Gate)
        {
            if (!t.NamedQueues.TryGetValue(name, out var q))
            {
                return null;
            }

            if (q.Bound is not { } b)
            {
                return [];
            }

            var list = new List<QueueBinding>(b.Bindings.Count);
            foreach (var (filter, (_, created)) in b.Bindings)
            {
                list.Add(new QueueBinding(filter, created));
            }

            list.Sort(static (x, y) => string.CompareOrdinal(x.Filter, y.Filter));
            return list;
        }
    }

    /// <summary>Publications a bound queue did not take because it (or its tenant's storage) was full (the
    /// <c>queues.bound.dropped</c> metric).</summary>
    public long BindingDrops => _metrics.QueueBoundDrops;

    /// <summary>Whether a queue may be bound to <paramref name="filter"/>: a valid topic filter, none of the server's.</summary>
    private bool IsBindable(string? filter, out string? error)
    {
        if (filter is not null && filter.StartsWith('$'))
        {
            error = "A queue cannot be bound to a filter starting with '$': topics starting with '$' are the server's, and a binding is not a shared subscription.";
            return false;
        }

        return TopicNames.IsValidFilter(filter, _options, out error);
    }

    /// <summary>A deleted queue's bindings leave the topics, their records' deletes into <paramref name="ops"/> (caller holds the lock).</summary>
    private static void ForgetBindings(TenantState t, NamedQueueState q, List<StoreOp> ops)
    {
        if (q.Bound is not { } b)
        {
            return;
        }

        foreach (var filter in b.Bindings.Keys.ToList())
        {
            ops.Add(new DeleteRecordOp(t.Id, RecordKind.QueueBinding, BindingRecords.Key(q.Info.Name, filter)));
            b.Remove(t, filter);
        }

        foreach (var filter in b.Dormant)
        {
            ops.Add(new DeleteRecordOp(t.Id, RecordKind.QueueBinding, BindingRecords.Key(q.Info.Name, filter)));
        }

        b.Dormant.Clear();

        b.Removed = true;
    }

    /// <summary>Raises a bound queue's usage bound by the appends of a post being written (caller holds the lock).</summary>
    private static void Appending(NamedQueueState q, List<StoreOp> ops)
    {
        if (q.Bound is not { } b)
        {
            return;
        }

        foreach (var op in ops)
        {
            if (op is AppendOp append)
            {
                b.Usage.Add(1, InboxQuota.StoredSize(append.Message));
            }
        }
    }

    /// <summary>
    /// Appends a publication to the bound queues a route reached (routing calls it, once per route): each queue once,
    /// however many of its filters matched; the payload as published (any bytes; its content type and topic kept with
    /// it), its TTL the queue's default message TTL — or what is left of the publication's expiry, when that is sooner —
    /// and its delay the queue's default delay. Queues whose usage bound says the message certainly fits share one
    /// append (the payload stored once), per distinct TTL and delay; each other queue gets an append of its own, so that
    /// the store, which alone refuses, refuses only that queue when it is full. A refused append drops the message for
    /// its queues (counted in <c>queues.bound.dropped</c>, logged at most once a minute per queue) and does not fail
    /// the publisher; any other failure does. The task completes once every append is durable or dropped.
    /// </summary>
    /// <remarks>Every append is called here, under the tenant lock, in route order, so each queue holds what it was
    /// routed in the order it was published.</remarks>
    internal Task Enqueue(TenantState t, Publication p, List<BoundQueue> queues)
    {
        var envelope = PublicationEnvelope.Of(p);
        var size = (long)p.Payload.Length + envelope.Size + InboxQuota.EntryOverhead; // InboxQuota.StoredSize of the letters below
        var quota = _options.NamedQueueQuota;
        var now = _time.GetUtcNow();
        HashSet<BoundQueue>? seen = queues.Count > 8 ? new(queues.Count, ReferenceEqualityComparer.Instance) : null;
        List<Task>? waiting = null;
        lock (t.Gate)
        {
            List<Append>? appends = null;
            for (var i = 0; i < queues.Count; i++)
            {
                var b = queues[i];
                if (b.Removed || (seen is null ? queues.IndexOf(b) < i : !seen.Add(b)))
                {
                    continue; // deleted meanwhile, or collected twice: one copy
                }

                var (expires, visible) = Times(b.State.Info.Settings, p);
                var fits = b.Usage.Fits(1, size, _options.MaxQueueMessages, _options.MaxQueueBytes);
                if (!fits)
                {
                    UsageLedger.Seed(b.Usage, () => _store.GetUsageAsync(b.Queue, CancellationToken.None), t.Gate);
                }

                var into = fits ? appends?.Find(a => a.Shared && a.Expires == expires && a.Visible == visible) : null;
                if (into is null)
                {
                    into = new Append(fits, expires, visible);
                    (appends ??= []).Add(into);
                }

                into.Queues.Add(b);
            }

            foreach (var a in appends ?? [])
            {
                var letter = new Letter
                {
                    Id = MessageIds.New(now),
                    Tenant = t.Id,
                    Author = p.Author ?? Anonymous,
                    Recipients = [],
                    Payload = p.Payload,
                    ContentType = p.ContentType,
                    Envelope = envelope,
                    Timestamp = p.Timestamp,
                    ExpiresAt = a.Expires,
                    VisibleAt = a.Visible,
                };
                var ops = new List<StoreOp>(1);
                var keys = new QueueKey[a.Queues.Count];
                for (var i = 0; i < keys.Length; i++)
                {
                    var state = a.Queues[i].State;
                    keys[i] = a.Queues[i].Queue;
                    if (!state.RecordDurable)
                    {
                        ops.Add(Record(t.Id, state.Info)); // made by a bind whose write is not durable yet (or failed)
                    }
                }

                ops.Add(new AppendOp(letter, keys, quota));
                var write = _store.WriteAsync(ops).AsTask();
                foreach (var b in a.Queues)
                {
                    b.Usage.Add(1, size);
                }

                var done = Appended(t, p, a.Queues, write);
                if (!done.IsCompletedSuccessfully)
                {
                    (waiting ??= []).Add(done);
                }
            }
        }

        return waiting is null ? Task.CompletedTask : waiting.Count == 1 ? waiting[0] : Task.WhenAll(waiting);
    }

    /// <summary>A routed message's expiry and visibility in a queue with <paramref name="settings"/>.</summary>
    private (DateTimeOffset Expires, DateTimeOffset? Visible) Times(NamedQueueSettings settings, Publication p)
    {
        var expires = p.Timestamp + (settings.DefaultMessageTtl ?? _options.DefaultQueueMessageTtl);
        if (p.ExpiresAt is { } sooner && sooner < expires)
        {
            expires = sooner;
        }

        var delay = settings.DefaultMessageDelay ?? TimeSpan.Zero;
        return (expires, delay > TimeSpan.Zero ? p.Timestamp + delay : null);
    }

    private Task Appended(TenantState t, Publication p, List<BoundQueue> to, Task<IReadOnlyList<StoreOpResult>> write)
    {
        if (write.IsCompletedSuccessfully)
        {
            Arrived(t, to);
            return Task.CompletedTask;
        }

        return AppendedAsync(t, p, to, write);
    }

    private async Task AppendedAsync(TenantState t, Publication p, List<BoundQueue> to, Task<IReadOnlyList<StoreOpResult>> write)
    {
        try
        {
            await write;
        }
        catch (DaakiaException ex) when (ex.Code == DaakiaErrorCode.QuotaExceeded)
        {
            Dropped(t, p, to, ex);
            return;
        }

        Arrived(t, to);
    }

    /// <summary>Routed messages are durable in these queues: whoever waits for messages there (long-poll) looks again.</summary>
    private void Arrived(TenantState t, List<BoundQueue> to)
    {
        _metrics.QueueBoundAppended(to.Count);
        lock (t.Gate)
        {
            foreach (var b in to)
            {
                b.State.RecordDurable = true;
                b.State.Arrived();
            }

            var any = t.QueuePosted;
            t.QueuePosted = null;
            any?.TrySetResult();
        }
    }

    /// <summary>The store refused a routed message for these queues (a queue full, or the tenant's storage).</summary>
    private void Dropped(TenantState t, Publication p, List<BoundQueue> to, DaakiaException why)
    {
        _metrics.QueueBoundDropped(to.Count);
        var now = _time.GetUtcNow();
        lock (t.Gate)
        {
            foreach (var b in to)
            {
                // The bound said it fits and the store said no (its writes are not all the core's, or the tenant is
                // full): read it again before the next message is shared.
                b.Usage.Seeded = false;
                b.DropsUnlogged++;
                if (now - b.DropLoggedAt >= TimeSpan.FromMinutes(1))
                {
                    QueueLog.BindingDropped(_logger, t.Id, b.State.Info.Name, p.Topic, b.DropsUnlogged, why.Message);
                    b.DropLoggedAt = now;
                    b.DropsUnlogged = 0;
                }
            }
        }
    }

    /// <summary>One append of a routed message: to the queues that certainly have room (shared), or to one queue.</summary>
    private sealed class Append(bool shared, DateTimeOffset expires, DateTimeOffset? visible)
    {
        public bool Shared { get; } = shared;

        public DateTimeOffset Expires { get; } = expires;

        public DateTimeOffset? Visible { get; } = visible;

        public List<BoundQueue> Queues { get; } = [];
    }

    /// <summary>A binding's record: the key is the queue name, '/', the filter; the value is when it was made (version 1).</summary>
    private static class BindingRecords
    {
        public static string Key(string queue, string filter) => queue + "/" + filter;

        public static byte[] Encode(DateTimeOffset created)
        {
            var value = new byte[9];
            value[0] = 1;
            BinaryPrimitives.WriteInt64LittleEndian(value.AsSpan(1), created.ToUnixTimeMilliseconds());
            return value;
        }

        public static DateTimeOffset Decode(ReadOnlySpan<byte> value) =>
            value.Length == 9 && value[0] == 1
                ? DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64LittleEndian(value[1..]))
                : throw new InvalidDataException("A queue binding record is of an unknown version.");
    }
}
