namespace Daakia.Core.Storage;

/// <summary>
/// What the store keeps of an MQTT persistent session besides its queue: whose it is, how long it outlives its
/// connection, and its subscriptions with their options (put back into the tenant's topics at start-up).
/// </summary>
/// <param name="Tenant">The session's tenant.</param>
/// <param name="Client">The MQTT client id, the session's name.</param>
/// <param name="Subscriptions">Its subscriptions, in the order they were made.</param>
/// <param name="ExpirySeconds">The session expiry interval in seconds; <see cref="Never"/>: it never expires.</param>
public sealed record SessionRecord(TenantId Tenant, ClientId Client, uint ExpirySeconds, IReadOnlyList<SubscriptionRequest> Subscriptions)
{
    /// <summary>Packet ids of QoS 2 messages the client has received (PUBREC) and whose PUBCOMP has not come, in id order:
    /// their PUBREL is sent again when the session resumes. Read back with the record; written by
    /// <see cref="SessionReleaseOp"/> and <see cref="SessionCompleteOp"/>, not by <see cref="SaveSessionOp"/>.</summary>
    public IReadOnlyList<ushort> AwaitingComplete { get; init; } = [];

    /// <summary>The expiry of a session that never expires (MQTT 5's 0xFFFFFFFF; MQTT 3.1.1's clean session 0).</summary>
    public const uint Never = uint.MaxValue;
}

/// <summary>Creates or replaces a session's record (its expiry and subscriptions).</summary>
public sealed record SaveSessionOp(SessionRecord Session) : StoreOp;

/// <summary>
/// Ends a session: removes its record and every entry of its queue (<see cref="QueueKind.Session"/>). The count of the
/// result is the number of entries removed.
/// </summary>
public sealed record DeleteSessionOp(TenantId Tenant, ClientId Client) : StoreOp;

/// <summary>Records that the QoS 2 message sent with <paramref name="PacketId"/> awaits PUBCOMP (put in the unit that takes
/// it out of the session's queue at PUBREC).</summary>
public sealed record SessionReleaseOp(TenantId Tenant, ClientId Client, ushort PacketId) : StoreOp;

/// <summary>The PUBCOMP of <paramref name="PacketId"/> came: it no longer awaits one.</summary>
public sealed record SessionCompleteOp(TenantId Tenant, ClientId Client, ushort PacketId) : StoreOp;

/// <summary>MQTT persistent sessions' records, written as ops of a unit of work and read in full at start-up.</summary>
public interface ISessionStore
{
    /// <summary>Up to <paramref name="limit"/> session records after <paramref name="after"/> (null: from the start),
    /// ordered by tenant and then client id (ordinal).</summary>
    ValueTask<IReadOnlyList<SessionRecord>> ReadSessionsAsync((TenantId Tenant, ClientId Client)? after, int limit, CancellationToken cancellationToken = default);
}
