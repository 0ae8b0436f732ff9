namespace Daakia.Core;

/// <summary>What a durable queue belongs to. Each kind is one capability's use of the one delivery engine.</summary>
public enum QueueKind : byte
{
    /// <summary>A client's inbox of letters; <see cref="QueueKey.Name"/> is the client id.</summary>
    Inbox = 0,

    /// <summary>Where a client's letters go after <see cref="DaakiaCoreOptions.MaxDeliveries"/> failed deliveries;
    /// <see cref="QueueKey.Name"/> is the client id.</summary>
    DeadLetters = 1,

    /// <summary>An MQTT persistent session's queue; <see cref="QueueKey.Name"/> is the MQTT client id.</summary>
    Session = 2,

    /// <summary>A named queue (Zaqar); <see cref="QueueKey.Name"/> is the queue name.</summary>
    Queue = 3,

    /// <summary>A service's task queue; <see cref="QueueKey.Name"/> is the service name.</summary>
    Tasks = 4,

    /// <summary>A queue subscription's notification outbox; <see cref="QueueKey.Name"/> is the queue name, '/', and the
    /// subscription id. Its entries reference the queue's messages (stored once).</summary>
    Notifications = 5,
}

/// <summary>
/// The consumer key of one durable queue: a tenant, a kind and a name. The store gives each queue its own increasing
/// positions; nothing orders across queues.
/// </summary>
public readonly record struct QueueKey(TenantId Tenant, QueueKind Kind, string Name)
{
    /// <summary>A client's inbox.</summary>
    public static QueueKey Inbox(TenantId tenant, ClientId client) => new(tenant, QueueKind.Inbox, client.Value);

    /// <summary>A client's dead letters.</summary>
    public static QueueKey DeadLetters(TenantId tenant, ClientId client) => new(tenant, QueueKind.DeadLetters, client.Value);

    public override string ToString() => $"{Tenant}/{Kind}/{Name}";
}
