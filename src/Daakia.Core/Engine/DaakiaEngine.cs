using System.Collections.Concurrent;
using Daakia.Core.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Daakia.Core;

/// <summary>
/// The routing core, and the one object an adapter holds: it connects and disconnects clients; each capability is its
/// own surface — <see cref="Letters"/> (durable, on <see cref="QueueDelivery"/>), <see cref="Topics"/>,
/// <see cref="Presence"/>, <see cref="Activity"/>. No I/O of its own beyond the store seam.
/// </summary>
/// <remarks>
/// Each tenant has one lock guarding its clients, inbox windows and subscriptions. Work under it is in-memory and
/// short: store calls only take their place in the store's order there (their tasks are awaited outside), and
/// deliveries only queue into connections' bounded outboxes.
/// </remarks>
public sealed partial class DaakiaEngine : IAsyncDisposable
{
    private readonly IDaakiaStore _store;
    private readonly DaakiaCoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly QueueService _queues;
    private readonly ConcurrentDictionary<TenantId, TenantState> _tenants = new();
    private readonly DaakiaMetrics _metrics;
    private readonly WriteBudget _writes;
    private readonly Storage.InboxQuota _quota;
    private readonly QueueDelivery _delivery;
    private readonly TopicRouter _topics;
    private readonly PresenceDirectory _presence;
    private readonly ActivityLog _activity;
    private readonly ActivityRecorder _recorder;
    private readonly LetterOffice _letters;
    private readonly SessionKeeper _sessions;
    private readonly TaskService _tasks;
    private long _connectionCount;
    private volatile bool _running;
    private volatile bool _draining;

    public DaakiaEngine(IDaakiaStore store, DaakiaCoreOptions options, TimeProvider time, ILogger<DaakiaEngine>? logger = null, IEnumerable<INotificationSender>? senders = null)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _writes = new WriteBudget(options.MaxPendingWriteBytes, options.MaxPendingWrites);
        _quota = options.Quota;
        _metrics = new DaakiaMetrics(() => Interlocked.Read(ref _connectionCount), () => _writes.Bytes);
        _delivery = new QueueDelivery(store, options, time, _metrics, _logger, Background, toClose => CloseAll(toClose, CloseReason.SlowConsumer));
        _topics = new TopicRouter(this, options, time, _metrics);
        _presence = new PresenceDirectory(this, _topics, store, options, time);
        _recorder = new ActivityRecorder(store, options, _logger);
        _activity = new ActivityLog(store, options, _time, _recorder);
        _letters = new LetterOffice(this, store, options, time, _metrics, _writes, _delivery);
        _sessions = new SessionKeeper(this, store, options, time, _metrics, _delivery, _logger);
        _queues = new QueueService(this, store, options, time, _metrics, _logger);
        _tasks = new TaskService(this, store, options, time, _logger);
        if (senders is not null)
        {
            _queues.UseSenders(senders);
        }
    }

    /// <summary>Named queues (Zaqar's): queues, messages, claims (docs/zaqar-design.md).</summary>
    public QueueService Queues => _queues;

    /// <summary>Services, workers and tasks (seed 004's Swarm; docs/tasks-design.md).</summary>
    public TaskService Tasks => _tasks;

    /// <summary>MQTT persistent sessions: open, subscribe, ack (durable session queues on the delivery engine).</summary>
    public SessionKeeper Sessions => _sessions;

    /// <summary>Letters: send, ack, release, read inboxes and dead letters (durable direct messages).</summary>
    public LetterOffice Letters => _letters;

    /// <summary>Topics: subscribe, unsubscribe, publish (non-durable pub/sub).</summary>
    public TopicRouter Topics => _topics;

    /// <summary>Presence and the roster: set and query presence, who is online, every client ever seen.</summary>
    public PresenceDirectory Presence => _presence;

    /// <summary>The activity log.</summary>
    public ActivityLog Activity => _activity;

    public DaakiaCoreOptions Options => _options;

    public TimeProvider Time => _time;

    /// <summary>Live connections across all tenants.</summary>
    public long ConnectionCount => Interlocked.Read(ref _connectionCount);

    /// <summary>True while the server-wide budget of uncommitted durable writes is spent: new sends and acks are refused.</summary>
    public bool IsWriteBudgetSpent => _writes.IsSpent;

    /// <summary>Durable writes accepted and not yet committed (sends, acks, activity and roster records).</summary>
    public long PendingWrites => _writes.Count;

    /// <summary>Page reads of inboxes or an expiry sweep in flight (tests wait for them to settle).</summary>
    internal bool IsBusy => _delivery.IsBusy || Volatile.Read(ref _sweeping) != 0;

    /// <summary>
    /// Completes when the server-wide write budget has room (at once when it has). A connection's read loop awaits this
    /// before reading its next request, so a fast sender is slowed by not being read instead of being refused.
    /// </summary>
    public ValueTask WaitForWriteRoomAsync(CancellationToken cancellationToken = default)
    {
        var wait = _writes.WaitForRoomAsync(cancellationToken);
        if (!wait.IsCompleted)
        {
            _metrics.ReadPaused();
        }

        return wait;
    }

    /// <summary>Connections that ended, by reason (the <c>connections.closed</c> metric).</summary>
    internal long ClosedConnections(CloseReason reason) => _metrics.Closed(reason);

    /// <summary>Page reads that failed as a fault (logged as errors and retried; the <c>inbox.loads_failed</c> metric).</summary>
    internal long InboxLoadsFailed => _metrics.InboxLoadsFailed;

    /// <summary>Publications dropped because a subscriber's outbox was full (also the <c>publications.dropped</c> metric).</summary>
    public long PublicationsDropped => _metrics.PublicationsDropped;

    /// <summary>How many times a connection's read loop paused because the write budget was spent (also a metric).</summary>
    public long PausedReads => _metrics.PausedReads;

    /// <summary>True between <see cref="StartAsync"/> and the start of draining.</summary>
    public bool IsAccepting => _running && !_draining;

    /// <summary>Opens the core on an opened store and starts the heartbeat and expiry timers.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        // Retained messages are held in memory (bounded per tenant): read back in pages before anything connects.
        (TenantId Tenant, string Topic)? after = null;
        while (true)
        {
            var page = await _store.ReadRetainedAsync(after, 1000, cancellationToken);
            foreach (var m in page)
            {
                Topics.Restore(m);
            }

            if (page.Count < 1000)
            {
                break;
            }

            after = (page[^1].Tenant, page[^1].Topic);
        }

        // Persistent sessions next: their subscriptions route from the first publish on.
        await _sessions.RestoreAsync(cancellationToken);
        await _queues.RestoreAsync(cancellationToken);
        await _tasks.RestoreAsync(cancellationToken);
        StartTimers();
        _tasks.Start();
        _recorder.SetStopped(false);
        _running = true;
    }

    /// <summary>Stops accepting connections and sends; existing connections stay until <see cref="StopAsync"/>.</summary>
    public void BeginDrain() => _draining = true;

    /// <summary>Drains: closes every connection (<see cref="CloseReason.ServerShutdown"/>), stops timers, flushes the store.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        _draining = true;
        StopTimers();
        _tasks.Stop();
        _delivery.Stop();
        _queues.StopNotifications();
        var all = new List<ClientConnection>();
        foreach (var t in _tenants.Values)
        {
            lock (t.Gate)
            {
                foreach (var cs in t.Clients.Values)
                {
                    all.AddRange(cs.Connections);
                }
            }
        }

        foreach (var c in all)
        {
            CloseConnection(c, CloseReason.ServerShutdown);
        }

        _running = false;
        try
        {
            try
            {
                // The activity log's last batch, within a bound: a record of what happened never holds up the stop.
                // What connections that end after this record is not written: the store closes next.
                _recorder.SetStopped(true);
                await _recorder.FlushAsync().WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            }
            catch (TimeoutException)
            {
                EngineLog.FlushFailed(_logger, "the activity log's last entries were not written within 5 s");
            }

            await _store.FlushAsync(cancellationToken);
        }
        catch (DaakiaException ex)
        {
            // A faulted store has said why, loudly; shutting down goes on.
            EngineLog.FlushFailed(_logger, ex.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_running)
        {
            await StopAsync();
        }

        StopTimers();
        _queues.Dispose();
        _tasks.Dispose();
        _metrics.Dispose();
    }

    /// <summary>
    /// Registers a connection of <paramref name="client"/>. Letters wait until the adapter calls <see cref="Start"/>
    /// (after its greeting), then the inbox is replayed oldest first and new letters follow.
    /// </summary>
    public ValueTask<ClientConnection> ConnectAsync(TenantId tenant, ClientId client, IDeliveryTarget target, ConnectOptions options, CancellationToken cancellationToken = default)
    {
        EnsureAccepting();
        var heartbeat = options.Heartbeat ?? _options.DefaultHeartbeat;
        if (heartbeat < _options.MinHeartbeat || heartbeat > _options.MaxHeartbeat)
        {
            heartbeat = TimeSpan.FromTicks(Math.Clamp(heartbeat.Ticks, _options.MinHeartbeat.Ticks, _options.MaxHeartbeat.Ticks));
        }

        var now = _time.GetUtcNow();
        var t = Tenant(tenant);
        ClientConnection connection;
        List<ClientConnection>? toClose = null;
        lock (t.Gate)
        {
            if (t.Connections >= _options.MaxConnectionsPerTenant)
            {
                throw new DaakiaException(DaakiaErrorCode.LimitExceeded, $"The tenant has {t.Connections} connections (limit {_options.MaxConnectionsPerTenant}).");
            }

            if (!t.Clients.TryGetValue(client, out var cs))
            {
                t.Clients[client] = cs = new ClientState(tenant, client, t.Gate, t.Usage.Pin(client));
                _letters.SeedUsage(t, cs.Usage, client);
            }
            else if (cs.Connections.Count >= _options.MaxConnectionsPerClient)
            {
                throw new DaakiaException(DaakiaErrorCode.LimitExceeded, $"Client '{client}' already has {cs.Connections.Count} connections (limit {_options.MaxConnectionsPerClient}).");
            }

            connection = new ClientConnection(tenant, client, options.Protocol, target, heartbeat, now);
            cs.Connections.Add(connection);
            t.Connections++;
            Interlocked.Increment(ref _connectionCount);
            if (options.DeliveryMode is { } mode && mode != cs.Mode)
            {
                ChangeMode(cs, mode);
            }

            if (!cs.Window.Complete && !cs.Window.Loading)
            {
                _delivery.StartLoad(cs.Window, ref toClose);
            }

            _presence.Publish(t, cs, now);
        }

        CloseAll(toClose, CloseReason.SlowConsumer);

        EngineLog.Connected(_logger, tenant, client, options.Protocol, connection.Id);
        Background(() => _store.RecordSeenAsync(tenant, client, now, CancellationToken.None), "roster");
        RecordActivity(new ActivityEntry(0, tenant, now, ActivityKinds.Connect, client, connection.Id.ToString(), options.Protocol));
        return ValueTask.FromResult(connection);
    }

    /// <summary>Lets letters flow to a connection (call after the protocol's greeting is queued).</summary>
    public void Start(ClientConnection connection)
    {
        var t = Tenant(connection.Tenant);
        List<ClientConnection>? toClose = null;
        lock (t.Gate)
        {
            if (connection.Removed || !t.Clients.TryGetValue(connection.Client, out var cs))
            {
                return;
            }

            connection.Ready = true;
            _delivery.Pump(cs.Window, ref toClose);
        }

        CloseAll(toClose, CloseReason.SlowConsumer);
    }

    /// <summary>
    /// Removes a connection (the transport closed). Its unacknowledged letters go to the client's other connections or
    /// wait in the inbox; its subscriptions end. Idempotent.
    /// </summary>
    public void Disconnect(ClientConnection connection)
    {
        var t = Tenant(connection.Tenant);
        var now = _time.GetUtcNow();
        List<ClientConnection>? toClose = null;
        lock (t.Gate)
        {
            if (connection.Removed)
            {
                return;
            }

            connection.Removed = true;
            Interlocked.Decrement(ref _connectionCount);
            if (Interlocked.Exchange(ref connection.CloseCounted, 1) == 0)
            {
                // The client went away (or its adapter closed it): every connection's end is counted once, by reason.
                _metrics.ConnectionClosed(CloseReason.Normal);
            }
            if (connection.HasSubscriptions)
            {
                foreach (var subscription in connection.Subscriptions.Values)
                {
                    t.Topics.Remove(subscription);
                }

                connection.Subscriptions.Clear();
            }

            if (connection.Session is not null)
            {
                _sessions.Detach(t, connection, now);
            }

            if (t.Clients.TryGetValue(connection.Client, out var cs))
            {
                if (cs.Connections.Remove(connection))
                {
                    t.Connections--;
                }

                foreach (var e in cs.Window.Entries)
                {
                    if (ReferenceEquals(e.AssignedTo, connection))
                    {
                        // Its lease ends with the connection: another connection gets it (counted as a new delivery).
                        e.AssignedTo = null;
                    }
                }

                if (cs.Connections.Count == 0)
                {
                    _delivery.Drop(cs.Window);
                    t.Clients.Remove(connection.Client);
                    t.Usage.Unpin(cs.Usage);
                }
                else
                {
                    _delivery.Pump(cs.Window, ref toClose);
                }

                _presence.Publish(t, cs, now);
            }
        }

        CloseAll(toClose, CloseReason.SlowConsumer);
        _tasks.ConnectionGone(connection);
        EngineLog.Disconnected(_logger, connection.Tenant, connection.Client, connection.Id);
        Background(() => _store.RecordSeenAsync(connection.Tenant, connection.Client, now, CancellationToken.None), "roster");
        RecordActivity(new ActivityEntry(0, connection.Tenant, now, ActivityKinds.Disconnect, connection.Client, connection.Id.ToString(), connection.Protocol));
    }

    /// <summary>Changes how a client's letters spread over its connections; letters in flight are redelivered.</summary>
    public void SetDeliveryMode(ClientConnection connection, DeliveryMode mode)
    {
        var t = Tenant(connection.Tenant);
        List<ClientConnection>? toClose = null;
        lock (t.Gate)
        {
            if (connection.Removed || !t.Clients.TryGetValue(connection.Client, out var cs))
            {
                return;
            }

            if (cs.Mode != mode)
            {
                ChangeMode(cs, mode);
                _delivery.Pump(cs.Window, ref toClose);
            }
        }

        CloseAll(toClose, CloseReason.SlowConsumer);
    }

    private static void ChangeMode(ClientState cs, DeliveryMode mode)
    {
        cs.Mode = mode;
        foreach (var c in cs.Connections)
        {
            c.DeliveredThrough = 0;
            c.Inflight = 0;
            c.InflightBytes = 0;
        }

        foreach (var e in cs.Window.Entries)
        {
            e.AssignedTo = null;
            if (e.Out)
            {
                // The round restarts in the new mode: not a failed delivery, so its count goes back.
                e.Out = false;
                e.Deliveries--;
            }
        }
    }

    /// <summary>Every tenant the engine holds.</summary>
    internal ICollection<TenantState> AllTenants => _tenants.Values;

    /// <summary>A letter was appended to <paramref name="client"/>'s inbox without being offered (caller holds the tenant
    /// lock, after the append's call): its online window reads it from the store.</summary>
    internal void LetterStored(TenantState t, ClientId client, ref List<ClientConnection>? toClose)
    {
        if (t.Clients.TryGetValue(client, out var cs))
        {
            _delivery.Defer(cs.Window, ref toClose);
        }
    }

    /// <summary>The store the core runs on.</summary>
    internal IDaakiaStore Store => _store;

    internal TenantState Tenant(TenantId id) => _tenants.GetOrAdd(id, static (k, o) => new TenantState(k, o), _options);

    /// <summary>The tenant's state if the engine has it (nothing is made).</summary>
    internal TenantState? TryTenant(TenantId id) => _tenants.TryGetValue(id, out var t) ? t : null;

    internal void EnsureAccepting()
    {
        if (!_running || _draining)
        {
            throw new DaakiaException(DaakiaErrorCode.Unavailable, "The server is not accepting requests (starting or draining).");
        }
    }

    private void CloseConnection(ClientConnection c, CloseReason reason)
    {
        EngineLog.ClosingConnection(_logger, c.Id, c.Tenant, c.Client, reason);
        if (Interlocked.Exchange(ref c.CloseCounted, 1) == 0)
        {
            _metrics.ConnectionClosed(reason);
        }
        try
        {
            c.Target.Close(reason);
        }
        catch (Exception ex)
        {
            // An adapter's fault must not leak into the caller's operation (a send whose letter is stored, a timer).
            EngineLog.CloseFailed(_logger, ex, c.Id);
        }
    }

    internal void CloseAll(List<ClientConnection>? connections, CloseReason reason)
    {
        if (connections is null)
        {
            return;
        }

        foreach (var handle in connections)
        {
            var c = handle.Main ?? handle; // a session queue's consumer stands for its connection
            CloseConnection(c, reason);
            Disconnect(c);
        }
    }

    /// <summary>A store write nobody waits for, counted against the write budget (see <see cref="Background"/>).</summary>
    internal void RunInBackground(Func<ValueTask> start, string what) => Background(start, what);

    /// <summary>Records an entry in the activity log, written with the next batch (<see cref="ActivityRecorder"/>).</summary>
    internal void RecordActivity(ActivityEntry entry) => _recorder.Record(entry);

    /// <summary>
    /// Starts a store write nobody waits for (roster, activity) and logs it if it fails. It is never refused, but it
    /// counts against the write budget while it waits, so a storm of them makes sends and acks push back instead of
    /// growing the store's queue without bound.
    /// </summary>
    private void Background(Func<ValueTask> start, string what)
    {
        const int Cost = 256;
        _writes.Force(Cost);
        ValueTask write;
        try
        {
            write = start();
        }
        catch (Exception ex)
        {
            _writes.Give(Cost);
            EngineLog.BackgroundWriteFailed(_logger, ex, what);
            return;
        }

        if (write.IsCompletedSuccessfully)
        {
            _writes.Give(Cost);
            return;
        }

        _ = Observe(write, what, Cost);
    }

    private async Task Observe(ValueTask write, string what, int cost)
    {
        try
        {
            await write;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            EngineLog.BackgroundWriteFailed(_logger, ex, what);
        }
        finally
        {
            _writes.Give(cost);
        }
    }
}
