namespace Daakia.Core;

/// <summary>
/// What a connection looks like to the core. Each protocol adapter implements it over its transport.
/// </summary>
/// <remarks>
/// The core calls these methods while holding its tenant lock: they must not block, must not do I/O inline
/// and must not call back into the engine synchronously. The usual shape is a bounded outbox drained by the
/// connection's own writer loop.
/// </remarks>
public interface IDeliveryTarget
{
    /// <summary>
    /// Queues a letter for the wire. <paramref name="deliveries"/> counts this hand-out: 1 the first time, more when
    /// the letter comes again (released, its lease expired, its connection went). False when the outbox is full.
    /// </summary>
    bool TryDeliver(Letter letter, int deliveries);

    /// <summary>Queues a topic publication for the wire. False when the outbox is full.</summary>
    bool TryPublish(Publication publication);

    /// <summary>Asks the connection to close (after flushing what is queued, where the protocol allows).</summary>
    void Close(CloseReason reason);
}

/// <summary>
/// A delivery target that needs to know which of its subscriptions a publication matched (MQTT: the QoS to deliver at
/// is the highest of theirs, capped by the publication's, and 5.0 sends every matching subscription identifier).
/// </summary>
public interface ISubscriptionAwareTarget : IDeliveryTarget
{
    /// <summary>Queues a publication that matched <paramref name="matched"/> (one or more of this connection's
    /// subscriptions). Same rules as <see cref="IDeliveryTarget.TryPublish"/>.</summary>
    bool TryPublish(Publication publication, ReadOnlySpan<Subscription> matched);
}
