namespace Daakia.Core;

/// <summary>
/// An MQTT persistent session as the core holds it: a subscriber that outlives its connections. Its subscriptions stay
/// in the tenant's topics while its client is away; a publication they match at QoS 1 or 2 is appended to the session's
/// durable queue (<see cref="QueueKind.Session"/>), and while a connection is attached the queue's window hands the
/// entries to it. Fields are guarded by the tenant lock unless they say otherwise.
/// </summary>
public sealed class PersistentSession : ISubscriber
{
    private volatile ClientConnection? _connection;

    internal PersistentSession(TenantId tenant, ClientId client, uint expirySeconds)
    {
        Tenant = tenant;
        Client = client;
        ExpirySeconds = expirySeconds;
        Queue = new QueueKey(tenant, QueueKind.Session, client.Value);
    }

    public TenantId Tenant { get; }

    /// <summary>The MQTT client id.</summary>
    public ClientId Client { get; }

    /// <summary>How long the session outlives its connection, in seconds (<see cref="Storage.SessionRecord.Never"/>: for ever).</summary>
    public uint ExpirySeconds { get; internal set; }

    /// <summary>
    /// The adapter's own state of the session that must outlive a connection but not the server (MQTT: packet ids of
    /// messages in flight, QoS 2 flows awaiting their next packet). The core never looks inside.
    /// </summary>
    /// <remarks>If it implements <see cref="ISessionAdapterState"/>, the core tells it of messages that leave the queue
    /// without the adapter's doing.</remarks>
    public object? AdapterState { get; set; }

    /// <summary>QoS 2 packet ids that awaited PUBCOMP when the session was read back at start-up (the adapter resends
    /// their PUBREL); empty for a session made since.</summary>
    public IReadOnlyList<ushort> RestoredReleases { get; internal init; } = [];

    internal QueueKey Queue { get; }

    /// <summary>Subscriptions by filter; their owner is the session, so they route while it is offline.</summary>
    internal Dictionary<string, Subscription> Subscriptions { get; } = new(StringComparer.Ordinal);

    /// <summary>The attached connection (read without the lock by routing).</summary>
    internal ClientConnection? Connection
    {
        get => _connection;
        set => _connection = value;
    }

    /// <summary>The queue's consumer while a connection is attached: a handle of <see cref="Connection"/> that keeps
    /// its own in-flight count for this window.</summary>
    internal ClientConnection? Consumer { get; set; }

    /// <summary>The queue's window while a connection is attached.</summary>
    internal DeliveryWindow? Window { get; set; }

    /// <summary>When the last connection went (expiry counts from it); null while attached.</summary>
    internal DateTimeOffset? DetachedAt { get; set; }

    /// <summary>Entries and bytes in the queue, as the bound sees them: read from the store at start-up and at each
    /// attach, moved by appends and removals meanwhile.</summary>
    internal long Queued { get; set; }

    internal long QueuedBytes { get; set; }

    /// <summary>Set once the session ended (expired, cleaned); nothing is queued for it afterwards.</summary>
    internal bool Ended { get; set; }

    /// <summary>The requests its subscriptions were made with, as the store records them.</summary>
    internal List<SubscriptionRequest> Requests()
    {
        var list = new List<SubscriptionRequest>(Subscriptions.Count);
        foreach (var s in Subscriptions.Values)
        {
            list.Add(new SubscriptionRequest(s.Filter, s.Options));
        }

        return list;
    }

    /// <summary>The session's subscriptions that match <paramref name="topic"/> now, shared ones included (no-local left
    /// out for <paramref name="author"/>'s own messages), for a queued message about to be delivered.</summary>
    internal void Matching(string topic, ClientId author, List<Subscription> into)
    {
        foreach (var s in Subscriptions.Values)
        {
            if (!(s.Options.NoLocal && author == Client) && TopicNames.Matches(s.TopicFilter, topic))
            {
                into.Add(s);
            }
        }
    }

    /// <summary>
    /// Routing offers a publication: at QoS 0 (the lower of the published QoS and the highest matched subscription's),
    /// and retained copies for a new subscription, go straight to the attached connection and are not kept for an
    /// offline session (as mosquitto's default); at QoS 1 or 2 the session is collected for the durable append that
    /// follows the route (<see cref="DurableRoute"/>).
    /// </summary>
    bool ISubscriber.TryPublish(Publication publication, ReadOnlySpan<Subscription> matched)
    {
        var max = QualityOfService.AtMostOnce;
        foreach (var s in matched)
        {
            max = s.Options.MaxQos > max ? s.Options.MaxQos : max;
        }

        var qos = publication.Qos < max ? publication.Qos : max;
        if (qos == QualityOfService.AtMostOnce || publication.IsRetainedCopy || publication.Author is null)
        {
            return _connection is not { } c || ((ISubscriber)c).TryPublish(publication, matched);
        }

        DurableRoute.Collect(this);
        return true;
    }
}

/// <summary>A persistent session's adapter state (<see cref="PersistentSession.AdapterState"/>) that tracks queued
/// messages it sent.</summary>
public interface ISessionAdapterState
{
    /// <summary>A message left the session's queue without the adapter's doing (it expired in the store). Called
    /// outside the core's locks.</summary>
    void Removed(Guid messageId);
}
