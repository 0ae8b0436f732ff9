namespace Daakia.Core;

/// <summary>
/// One live transport session of a client, as the core tracks it. Made by <see cref="DaakiaEngine.ConnectAsync"/>;
/// the adapter passes it back to every operation and calls <see cref="Touch"/> on every frame it receives.
/// </summary>
public sealed class ClientConnection : ISubscriber
{
    private long _lastActivityTicks;
    private Dictionary<string, Subscription>? _subscriptions;

    internal ClientConnection(TenantId tenant, ClientId client, string protocol, IDeliveryTarget target, TimeSpan heartbeat, DateTimeOffset now)
    {
        Id = ConnectionId.Next();
        Tenant = tenant;
        Client = client;
        Protocol = protocol;
        Target = target;
        Heartbeat = heartbeat;
        ConnectedAt = now;
        _lastActivityTicks = now.UtcTicks;
    }

    public ConnectionId Id { get; }

    public TenantId Tenant { get; }

    public ClientId Client { get; }

    public string Protocol { get; }

    /// <summary>The heartbeat interval agreed for this connection.</summary>
    public TimeSpan Heartbeat { get; }

    public DateTimeOffset ConnectedAt { get; }

    internal IDeliveryTarget Target { get; }

    /// <summary>For the consumer handle of a persistent session's queue: the connection it stands for (closing the
    /// handle closes that). Null on a connection.</summary>
    internal ClientConnection? Main { get; init; }

    /// <summary>The persistent session attached to this connection, if any (under the tenant lock).</summary>
    internal PersistentSession? Session { get; set; }

    internal DateTimeOffset LastActivity => new(Volatile.Read(ref _lastActivityTicks), TimeSpan.Zero);

    // The fields below are guarded by the tenant lock.

    /// <summary>False until the adapter has sent its greeting; letters wait until then.</summary>
    internal bool Ready { get; set; }

    /// <summary>Set once the connection left the engine; nothing is delivered to it afterwards.</summary>
    internal bool Removed { get; set; }

    /// <summary>Delivery mode <c>all</c>: the highest letter sequence handed to this connection (every pending letter at or
    /// below it is in flight here).</summary>
    internal long DeliveredThrough { get; set; }

    /// <summary>Letters handed to this connection and not yet acknowledged (both delivery modes).</summary>
    internal int Inflight { get; set; }

    /// <summary>Bytes of <see cref="Inflight"/>.</summary>
    internal long InflightBytes { get; set; }

    /// <summary>Records a letter handed to this connection.</summary>
    internal void Take(int size)
    {
        Inflight++;
        InflightBytes += size;
    }

    /// <summary>Releases the slot of a letter that left the window.</summary>
    internal void Release(int size)
    {
        Inflight--;
        InflightBytes -= size;
    }

    /// <summary>Whether one more letter of <paramref name="size"/> bytes fits the in-flight window (one always fits when none is in flight).</summary>
    internal bool HasRoom(int size, int maxCount, long maxBytes) =>
        Inflight == 0 || (Inflight < maxCount && InflightBytes + size <= maxBytes);

    /// <summary>Subscriptions of this connection by filter; made on the first subscribe (most connections never subscribe).</summary>
    internal Dictionary<string, Subscription> Subscriptions => _subscriptions ??= new(StringComparer.Ordinal);

    internal bool HasSubscriptions => _subscriptions is { Count: > 0 };

    private int _heartbeatPaused;

    /// <summary>1 once the connection's end has been counted in the closed-connections metric (exactly once).</summary>
    internal int CloseCounted;

    /// <summary>True while the adapter is not reading because the server pushes back; the heartbeat scan skips it.</summary>
    internal bool HeartbeatPaused => Volatile.Read(ref _heartbeatPaused) != 0;

    /// <summary>Marks that the adapter stopped (or resumed) reading on the server's behalf (backpressure).</summary>
    public void PauseHeartbeat(bool paused) => Volatile.Write(ref _heartbeatPaused, paused ? 1 : 0);

    // The JSON API renders a publication the same way whichever of its subscriptions matched; MQTT needs them (the
    // QoS to deliver at, the subscription identifiers), so a target that says so gets them.
    bool ISubscriber.TryPublish(Publication publication, ReadOnlySpan<Subscription> matched) =>
        Target is ISubscriptionAwareTarget aware ? aware.TryPublish(publication, matched) : Target.TryPublish(publication);

    /// <summary>Records activity (any frame received) for the heartbeat deadline.</summary>
    public void Touch(TimeProvider time) => Volatile.Write(ref _lastActivityTicks, time.GetUtcNow().UtcTicks);
}
