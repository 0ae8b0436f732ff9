using System.Runtime.InteropServices;
using Daakia.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Daakia.Core;

/// <summary>
/// MQTT persistent sessions on the delivery engine (<see cref="DaakiaEngine.Sessions"/>): open (create, resume or
/// discard), durable subscriptions, queueing what their subscriptions match at QoS 1/2 (payload stored once for every
/// session it reaches; the publisher is acknowledged after the commit), delivery through the queue's window to the
/// attached connection, acks, expiry, and the return of all of it at start-up.
/// </summary>
public sealed class SessionKeeper
{
    private readonly DaakiaEngine _engine;
    private readonly IDaakiaStore _store;
    private readonly DaakiaCoreOptions _options;
    private readonly TimeProvider _time;
    private readonly DaakiaMetrics _metrics;
    private readonly QueueDelivery _delivery;
    private readonly ILogger _logger;

    internal SessionKeeper(DaakiaEngine engine, IDaakiaStore store, DaakiaCoreOptions options, TimeProvider time, DaakiaMetrics metrics, QueueDelivery delivery, ILogger logger)
    {
        _engine = engine;
        _store = store;
        _options = options;
        _time = time;
        _metrics = metrics;
        _delivery = delivery;
        _logger = logger;
    }

    /// <summary>What <see cref="OpenAsync"/> found and made.</summary>
    /// <param name="Session">The connection's persistent session; null when it has none (a clean session that ends with it).</param>
    /// <param name="Present">Whether an existing session was resumed (MQTT's Session Present flag).</param>
    public readonly record struct SessionOpened(PersistentSession? Session, bool Present);

    /// <summary>
    /// Opens the session of an MQTT connection (after <see cref="DaakiaEngine.ConnectAsync"/>): with
    /// <paramref name="cleanStart"/> an existing session is discarded first; otherwise it is resumed. A session is created
    /// when none is resumed and <paramref name="expirySeconds"/> is above 0. The record is durable before the task
    /// completes (answer CONNECT after it); messages wait until <see cref="Start"/>.
    /// </summary>
    /// <exception cref="DaakiaException"><see cref="DaakiaErrorCode.LimitExceeded"/>: the tenant has
    /// <see cref="DaakiaCoreOptions.MaxSessionsPerTenant"/> sessions.</exception>
    public async ValueTask<SessionOpened> OpenAsync(ClientConnection connection, bool cleanStart, uint expirySeconds)
    {
        var t = _engine.Tenant(connection.Tenant);
        PersistentSession? session;
        var present = false;
        var writes = new List<StoreOp>(2);
        lock (t.Gate)
        {
            if (connection.Removed)
            {
                throw new DaakiaException(DaakiaErrorCode.Unavailable, "The connection is closed.");
            }

            t.Sessions.TryGetValue(connection.Client, out session);
            if (session?.Connection is { } previous)
            {
                Detach(t, previous, _time.GetUtcNow()); // taken over: the new connection has it now
                if (session.Ended)
                {
                    session = null; // its expiry was 0: it ended with that connection
                }
            }

            if (session is not null && cleanStart)
            {
                End(t, session);
                writes.Add(new DeleteSessionOp(t.Id, session.Client));
                session = null;
            }

            if (session is null && expirySeconds == 0)
            {
                if (writes.Count == 0)
                {
                    return default; // nothing stored, nothing to store: the usual clean session
                }
            }
            else if (session is null)
            {
                if (t.Sessions.Count >= _options.MaxSessionsPerTenant)
                {
                    throw new DaakiaException(DaakiaErrorCode.LimitExceeded, $"The tenant has {t.Sessions.Count} persistent sessions (limit {_options.MaxSessionsPerTenant}).");
                }

                session = new PersistentSession(t.Id, connection.Client, expirySeconds);
                t.Sessions[connection.Client] = session;
                writes.Add(new SaveSessionOp(new SessionRecord(t.Id, session.Client, expirySeconds, [])));
            }
            else
            {
                present = true;
                if (session.ExpirySeconds != expirySeconds)
                {
                    session.ExpirySeconds = expirySeconds;
                    writes.Add(new SaveSessionOp(new SessionRecord(t.Id, session.Client, expirySeconds, session.Requests())));
                }
            }

            if (session is not null)
            {
                Attach(t, session, connection);
            }
        }

        if (writes.Count > 0)
        {
            try
            {
                await _store.WriteAsync(writes, CancellationToken.None);
            }
            catch when (session is not null && !present)
            {
                // The new session's record is not stored: it does not stay in memory either (the connection is refused),
                // unless another connection took it over meanwhile: then it is that one's (its next write stores it).
                lock (t.Gate)
                {
                    if (ReferenceEquals(session.Connection, connection))
                    {
                        Detach(t, connection, _time.GetUtcNow());
                    }

                    if (!session.Ended && session.Connection is null)
                    {
                        End(t, session);
                    }
                }

                throw;
            }
        }

        if (session is null)
        {
            return default;
        }

        lock (t.Gate)
        {
            if (!ReferenceEquals(session.Connection, connection))
            {
                // Taken over (or closed) while the record was written: the session is the newer connection's.
                throw new DaakiaException(DaakiaErrorCode.Unavailable, "The session was taken over by another connection.");
            }
        }

        await ResyncAsync(t, session);
        return new SessionOpened(session, present);
    }

    /// <summary>
    /// Reads the queue's size from the store into the session's bounds (at start-up and at each attach, and after the
    /// sweep expired some of its entries): counts moved by removals the core could not size (an ack by a connection
    /// already taken over, an expiry while offline) come right. Writes in flight meanwhile may be counted or not.
    /// </summary>
    private async Task ResyncAsync(TenantState t, PersistentSession s)
    {
        var usage = await _store.GetUsageAsync(s.Queue, CancellationToken.None);
        lock (t.Gate)
        {
            s.Queued = usage.Letters;
            s.QueuedBytes = usage.Bytes;
        }
    }

    /// <summary>The session's queue's window for a new connection: a consumer handle of its own, not ready yet.</summary>
    private void Attach(TenantState t, PersistentSession s, ClientConnection connection)
    {
        var consumer = new ClientConnection(t.Id, s.Client, connection.Protocol, new SessionTarget(s, connection.Target), connection.Heartbeat, connection.ConnectedAt)
        {
            Main = connection,
        };
        s.Connection = connection;
        s.Consumer = consumer;
        s.DetachedAt = null;
        s.Window = new DeliveryWindow(s.Queue, s.Queue, t.Gate, [consumer]) { DeadLettering = false };
        connection.Session = s;
    }

    /// <summary>Lets the session's queued messages flow to its connection (call after CONNACK is queued): those it had
    /// in flight come first, in queue order, marked as sent before.</summary>
    public void Start(PersistentSession session, ClientConnection connection)
    {
        var t = _engine.Tenant(session.Tenant);
        List<ClientConnection>? toClose = null;
        lock (t.Gate)
        {
            if (!ReferenceEquals(session.Connection, connection) || session.Window is not { Removed: false } w
                || session.Consumer is not { Ready: false } consumer)
            {
                return; // taken over meanwhile, or started already
            }

            consumer.Ready = true;
            _delivery.StartLoad(w, ref toClose);
        }

        _engine.CloseAll(toClose, CloseReason.SlowConsumer);
    }

    /// <summary>
    /// Adds subscriptions to a persistent session (as <see cref="TopicRouter.Subscribe(ClientConnection, IReadOnlyList{SubscriptionRequest})"/>
    /// does to a connection); <paramref name="stored"/> completes once the session's record holds them (answer SUBSCRIBE
    /// after it). Returns, per request, whether the subscription is new.
    /// </summary>
    public bool[] Subscribe(PersistentSession session, ClientConnection connection, IReadOnlyList<SubscriptionRequest> requests, out Task stored)
    {
        var isNew = _engine.Topics.Validate(requests);
        var t = _engine.Tenant(session.Tenant);
        lock (t.Gate)
        {
            if (session.Ended || !ReferenceEquals(session.Connection, connection))
            {
                throw new DaakiaException(DaakiaErrorCode.Unavailable, "The session has ended or moved to another connection.");
            }

            _engine.Topics.Add(t, session, session.Subscriptions, requests, isNew);
            stored = SaveLocked(t, session);
        }

        return isNew;
    }

    /// <summary>Removes subscriptions of a persistent session; <paramref name="stored"/> completes once the record says so.</summary>
    public void Unsubscribe(PersistentSession session, ClientConnection connection, IReadOnlyList<string> filters, out Task stored)
    {
        var t = _engine.Tenant(session.Tenant);
        lock (t.Gate)
        {
            stored = !session.Ended && ReferenceEquals(session.Connection, connection) && TopicRouter.Remove(t, session.Subscriptions, filters)
                ? SaveLocked(t, session) : Task.CompletedTask;
        }
    }

    /// <summary>Writes the session's record as it is now (caller holds the lock: records reach the store in order).</summary>
    private Task<IReadOnlyList<StoreOpResult>> SaveLocked(TenantState t, PersistentSession s) =>
        _store.WriteAsync([new SaveSessionOp(new SessionRecord(t.Id, s.Client, s.ExpirySeconds, s.Requests()))], CancellationToken.None).AsTask();

    /// <summary>
    /// Queues a publication for the persistent sessions a route reached at QoS 1 or 2 (routing calls it): one message,
    /// one entry per session, in one append taking its place in store order under the tenant lock, offered at once to
    /// the attached sessions' windows. A session whose queue is full (<see cref="DaakiaCoreOptions.MaxSessionQueuedMessages"/>,
    /// <see cref="DaakiaCoreOptions.MaxSessionQueuedBytes"/>) does not get it (counted); the others do. The task completes
    /// once durable.
    /// </summary>
    internal Task Enqueue(TenantState t, Publication p, List<PersistentSession> sessions)
    {
        var now = _time.GetUtcNow();
        var letter = new Letter
        {
            Id = MessageIds.New(now),
            Tenant = t.Id,
            Author = p.Author!.Value,
            Recipients = [],
            Payload = p.Payload,
            ContentType = p.ContentType,
            Headers = p.Properties?.UserProperties ?? [],
            Timestamp = p.Timestamp,
            ExpiresAt = p.ExpiresAt,
            Envelope = PublicationEnvelope.Of(p),
        };
        var size = letter.Size + WindowEntry.Overhead;
        List<ClientConnection>? toClose = null;
        List<PersistentSession> reached = new(sessions.Count);
        HashSet<PersistentSession>? seen = sessions.Count > 8 ? new(sessions.Count, ReferenceEqualityComparer.Instance) : null;
        Task<IReadOnlyList<long>> write;
        lock (t.Gate)
        {
            foreach (var s in sessions)
            {
                if (s.Ended || (seen is null ? reached.Contains(s) : !seen.Add(s)))
                {
                    continue; // ended meanwhile, or reached twice (a subscription and a shared group): one copy
                }

                if (s.Queued >= _options.MaxSessionQueuedMessages || s.QueuedBytes + size > _options.MaxSessionQueuedBytes)
                {
                    _metrics.SessionDropped();
                    SessionLog.QueueFull(_logger, t.Id, s.Client, s.Queued, s.QueuedBytes);
                    continue;
                }

                reached.Add(s);
            }

            if (reached.Count == 0)
            {
                return Task.CompletedTask;
            }

            var queues = new QueueKey[reached.Count];
            for (var i = 0; i < queues.Length; i++)
            {
                queues[i] = reached[i].Queue;
            }

            write = _store.AppendAsync(letter, queues, null, CancellationToken.None).AsTask();
            if (write.IsFaulted)
            {
                return write;
            }

            var positions = write.IsCompletedSuccessfully ? write.Result : null;
            for (var i = 0; i < reached.Count; i++)
            {
                var s = reached[i];
                s.Queued++;
                s.QueuedBytes += size;
                if (s.Window is { Removed: false } w)
                {
                    _delivery.Offer(w, letter, positions?[i] ?? 0, ref toClose);
                }
            }
        }

        _metrics.SessionQueued(reached.Count);
        _engine.CloseAll(toClose, CloseReason.SlowConsumer);
        return write.IsCompletedSuccessfully ? Task.CompletedTask : CompleteEnqueueAsync(t, letter, size, reached, write);
    }

    private async Task CompleteEnqueueAsync(TenantState t, Letter letter, int size, List<PersistentSession> reached, Task<IReadOnlyList<long>> write)
    {
        IReadOnlyList<long> positions;
        try
        {
            positions = await write;
        }
        catch
        {
            // Not stored: it leaves the windows it was offered to and the bounds it was counted in.
            List<ClientConnection>? toClose = null;
            lock (t.Gate)
            {
                foreach (var s in reached)
                {
                    s.Queued = Math.Max(0, s.Queued - 1);
                    s.QueuedBytes = Math.Max(0, s.QueuedBytes - size);
                    if (s.Window is { Removed: false } w)
                    {
                        _delivery.Remove(w, letter.Id, ref toClose);
                    }
                }
            }

            _engine.CloseAll(toClose, CloseReason.SlowConsumer);
            throw;
        }

        lock (t.Gate)
        {
            for (var i = 0; i < reached.Count; i++)
            {
                if (reached[i].Window is { Removed: false } w)
                {
                    QueueDelivery.Positioned(w, letter.Id, positions[i]);
                }
            }
        }
    }

    /// <summary>
    /// Acknowledges messages of the session's queue that its connection had handed out (MQTT: PUBACK at QoS 1, PUBREC
    /// at QoS 2): they leave the queue durably before the task completes. If the delete fails they come back, once.
    /// Returns how many were in the queue.
    /// </summary>
    public async ValueTask<int> AckAsync(PersistentSession session, ClientConnection connection, IReadOnlyList<Guid> messageIds,
        IReadOnlyList<ushort>? awaitingComplete = null)
    {
        if (messageIds.Count == 0)
        {
            return 0;
        }

        var t = _engine.Tenant(session.Tenant);
        List<ClientConnection>? toClose = null;
        List<WindowEntry>? taken = null;
        DeliveryWindow? window = null;
        Task<int> write;
        lock (t.Gate)
        {
            if (awaitingComplete is { Count: > 0 })
            {
                // QoS 2 at PUBREC: out of the queue and "awaiting PUBCOMP" in one unit, so a crash keeps one or the other.
                var ops = new StoreOp[1 + awaitingComplete.Count];
                ops[0] = new DeleteOp(session.Queue, messageIds);
                for (var i = 0; i < awaitingComplete.Count; i++)
                {
                    ops[i + 1] = new SessionReleaseOp(session.Tenant, session.Client, awaitingComplete[i]);
                }

                write = CountOf(_store.WriteAsync(ops, CancellationToken.None));
            }
            else
            {
                write = _store.DeleteAsync(session.Queue, messageIds, CancellationToken.None).AsTask();
            }

            if (ReferenceEquals(session.Connection, connection) && session.Window is { Removed: false } w)
            {
                window = w;
                List<Guid>? unused = null;
                taken = QueueDelivery.TakeAcked(w, messageIds, ref unused);
                foreach (var e in taken ?? [])
                {
                    session.Queued = Math.Max(0, session.Queued - 1);
                    session.QueuedBytes = Math.Max(0, session.QueuedBytes - e.Size);
                }

                _delivery.Pump(w, ref toClose);
            }
        }

        _engine.CloseAll(toClose, CloseReason.SlowConsumer);
        try
        {
            var removed = await write;
            if (removed != (taken?.Count ?? 0))
            {
                await ResyncAsync(t, session); // some were not in the window: the bounds do not know their sizes
            }

            return removed;
        }
        catch
        {
            if (taken is not null)
            {
                lock (t.Gate)
                {
                    foreach (var e in taken)
                    {
                        session.Queued++;
                        session.QueuedBytes += e.Size;
                    }
                }

                _delivery.Restore(window!, taken);
            }

            throw;
        }
    }

    private static async Task<int> CountOf(ValueTask<IReadOnlyList<StoreOpResult>> unit) => (await unit)[0].Count;

    /// <summary>The PUBCOMP of a QoS 2 message came: its packet id no longer awaits one (nobody waits for the write; if it
    /// is lost, the PUBREL is sent once more after a restart and answered).</summary>
    public void Complete(PersistentSession session, ushort packetId) =>
        _engine.RunInBackground(() => new ValueTask(_store.WriteAsync([new SessionCompleteOp(session.Tenant, session.Client, packetId)], CancellationToken.None).AsTask()), "session-complete");

    /// <summary>The connection went (caller holds the tenant lock): what it had in flight goes back to the queue with its
    /// delivery count, and the session's expiry starts; a session with expiry 0 ends now.</summary>
    internal void Detach(TenantState t, ClientConnection connection, DateTimeOffset now)
    {
        var s = connection.Session;
        connection.Session = null;
        if (s is null || !ReferenceEquals(s.Connection, connection))
        {
            return;
        }

        s.Connection = null;
        if (s.Consumer is { } consumer)
        {
            consumer.Removed = true;
        }

        s.Consumer = null;
        if (s.Window is { } w)
        {
            _delivery.Drop(w);
        }

        s.Window = null;
        s.DetachedAt = now;
        if (s.ExpirySeconds == 0)
        {
            End(t, s);
            Forget([s]);
        }
    }

    /// <summary>Takes a session out of memory and its subscriptions out of the topics (caller holds the lock).</summary>
    private static void End(TenantState t, PersistentSession s)
    {
        s.Ended = true;
        TopicRouter.Remove(t, s.Subscriptions, [.. s.Subscriptions.Keys]);
        t.Sessions.Remove(s.Client);
    }

    /// <summary>Deletes ended sessions from the store, in the background (their store order is taken now).</summary>
    private void Forget(List<PersistentSession> ended)
    {
        var ops = new StoreOp[ended.Count];
        for (var i = 0; i < ops.Length; i++)
        {
            ops[i] = new DeleteSessionOp(ended[i].Tenant, ended[i].Client);
        }

        _engine.RunInBackground(() => new ValueTask(_store.WriteAsync(ops, CancellationToken.None).AsTask()), "session-end");
    }

    /// <summary>Ends the sessions whose client stayed away past their expiry interval (the engine's sweep calls it).</summary>
    internal int SweepExpired(IEnumerable<TenantState> tenants, DateTimeOffset now)
    {
        var ended = 0;
        foreach (var t in tenants)
        {
            List<PersistentSession>? expired = null;
            lock (t.Gate)
            {
                foreach (var s in t.Sessions.Values)
                {
                    if (s.Connection is null && s.ExpirySeconds != SessionRecord.Never && s.DetachedAt is { } at && now - at >= TimeSpan.FromSeconds(s.ExpirySeconds))
                    {
                        (expired ??= []).Add(s);
                    }
                }

                foreach (var s in expired ?? [])
                {
                    End(t, s);
                }
            }

            if (expired is not null)
            {
                Forget(expired);
                ended += expired.Count;
            }
        }

        if (ended > 0)
        {
            _metrics.SessionsExpired(ended);
            SessionLog.Expired(_logger, ended);
        }

        return ended;
    }

    /// <summary>An entry of a session's queue expired in the store (the sweep removed it): it leaves the window and the bounds.</summary>
    internal void Expired(IReadOnlyList<ExpiredEntry> entries)
    {
        HashSet<PersistentSession>? touched = null;
        List<(ISessionAdapterState, Guid)>? removed = null;
        foreach (var e in entries)
        {
            if (e.Queue.Kind != QueueKind.Session)
            {
                continue;
            }

            var t = _engine.Tenant(e.Queue.Tenant);
            List<ClientConnection>? toClose = null;
            lock (t.Gate)
            {
                if (ClientId.TryCreate(e.Queue.Name, out var client) && t.Sessions.TryGetValue(client, out var s))
                {
                    (touched ??= new(ReferenceEqualityComparer.Instance)).Add(s);
                    if (s.AdapterState is ISessionAdapterState state)
                    {
                        (removed ??= []).Add((state, e.Message.Id));
                    }

                    if (s.Window is { Removed: false } w)
                    {
                        _delivery.Remove(w, e.Message.Id, ref toClose);
                    }
                }
            }

            _engine.CloseAll(toClose, CloseReason.SlowConsumer);
        }

        foreach (var (state, id) in removed ?? [])
        {
            state.Removed(id);
        }

        // The sweep's entries carry no payload to size them by: the bounds are read again from the store.
        foreach (var s in touched ?? [])
        {
            _engine.RunInBackground(() => new ValueTask(ResyncAsync(_engine.Tenant(s.Tenant), s)), "session-usage");
        }
    }

    /// <summary>
    /// Puts every stored session back at start-up, before anything connects: its subscriptions into the topics (no
    /// retained messages are sent: nobody is connected) and its queue's size into the bounds. The expiry of each counts
    /// from now. A session stored with expiry 0 (its connection was open when the server stopped) ends.
    /// </summary>
    internal async Task RestoreAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        (TenantId, ClientId)? after = null;
        var stale = new List<PersistentSession>();
        var restored = 0;
        while (true)
        {
            var page = await _store.ReadSessionsAsync(after, 1000, cancellationToken);
            foreach (var record in page)
            {
                var t = _engine.Tenant(record.Tenant);
                var s = new PersistentSession(record.Tenant, record.Client, record.ExpirySeconds) { DetachedAt = now, RestoredReleases = record.AwaitingComplete };
                if (record.ExpirySeconds == 0)
                {
                    s.Ended = true;
                    stale.Add(s);
                    continue;
                }

                var usage = await _store.GetUsageAsync(s.Queue, cancellationToken);
                lock (t.Gate)
                {
                    s.Queued = usage.Letters;
                    s.QueuedBytes = usage.Bytes;
                    t.Sessions[s.Client] = s;
                    var requests = record.Subscriptions.Where(r => TopicNames.IsValidFilter(r.Filter, _options, out _)).ToList();
                    _engine.Topics.Add(t, s, s.Subscriptions, requests, new bool[requests.Count], sendRetained: false);
                }

                restored++;
            }

            if (page.Count < 1000)
            {
                break;
            }

            after = (page[^1].Tenant, page[^1].Client);
        }

        if (stale.Count > 0)
        {
            await _store.WriteAsync([.. stale.Select(s => (StoreOp)new DeleteSessionOp(s.Tenant, s.Client))], cancellationToken);
        }

        SessionLog.Restored(_logger, restored);
    }

    /// <summary>Whether the session has a subscription with exactly this filter.</summary>
    public bool HasSubscription(PersistentSession session, string filter)
    {
        var t = _engine.Tenant(session.Tenant);
        lock (t.Gate)
        {
            return session.Subscriptions.ContainsKey(filter);
        }
    }

    /// <summary>Persistent sessions of one tenant, online and offline.</summary>
    public int Count(TenantId tenant)
    {
        var t = _engine.Tenant(tenant);
        lock (t.Gate)
        {
            return t.Sessions.Count;
        }
    }

    /// <summary>Messages queued for one session as its bound counts them (tests, diagnostics).</summary>
    public long QueuedFor(TenantId tenant, ClientId client)
    {
        var t = _engine.Tenant(tenant);
        lock (t.Gate)
        {
            return t.Sessions.TryGetValue(client, out var s) ? s.Queued : 0;
        }
    }

    /// <summary>Messages not queued for a session because its queue was full.</summary>
    public long Dropped => _metrics.SessionsDropped;
}

/// <summary>
/// The target a session's queue delivers to: the attached connection's, told which of the session's subscriptions
/// match each message now (for its QoS and subscription identifiers).
/// </summary>
internal sealed class SessionTarget(PersistentSession session, IDeliveryTarget inner) : IDeliveryTarget
{
    [ThreadStatic]
    private static List<Subscription>? t_matched;

    public bool TryDeliver(Letter letter, int deliveries)
    {
        if (inner is not ISessionTarget target || letter.Envelope is not { } envelope)
        {
            return inner.TryDeliver(letter, deliveries);
        }

        var matched = t_matched ??= [];
        try
        {
            session.Matching(envelope.Topic, letter.Author, matched);
            return target.TryDeliver(session, letter, deliveries, CollectionsMarshal.AsSpan(matched));
        }
        finally
        {
            matched.Clear();
        }
    }

    public bool TryPublish(Publication publication) => inner.TryPublish(publication);

    public void Close(CloseReason reason) => inner.Close(reason);
}

/// <summary>A delivery target that takes messages of a persistent session's queue (MQTT).</summary>
public interface ISessionTarget : IDeliveryTarget
{
    /// <summary>
    /// Queues a message of <paramref name="session"/>'s queue for the wire (its topic side is <see cref="Letter.Envelope"/>).
    /// <paramref name="matched"/> are the session's subscriptions that match its topic now (empty if it unsubscribed
    /// since: the message is delivered at the QoS it was queued with). <paramref name="deliveries"/> above 1: sent
    /// before. Called under the tenant lock, as <see cref="IDeliveryTarget.TryDeliver"/>; the window bounds how many are
    /// in flight, so the target should not refuse one for room.
    /// </summary>
    bool TryDeliver(PersistentSession session, Letter message, int deliveries, ReadOnlySpan<Subscription> matched);
}

internal static partial class SessionLog
{
    [LoggerMessage(EventId = 1201, Level = LogLevel.Debug, Message = "The queue of session {Tenant}/{Client} is full ({Queued} messages, {Bytes} bytes): a message was not queued for it")]
    public static partial void QueueFull(ILogger logger, TenantId tenant, ClientId client, long queued, long bytes);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Information, Message = "{Count} persistent sessions expired")]
    public static partial void Expired(ILogger logger, int count);

    [LoggerMessage(EventId = 1203, Level = LogLevel.Information, Message = "{Count} persistent sessions restored")]
    public static partial void Restored(ILogger logger, int count);
}
