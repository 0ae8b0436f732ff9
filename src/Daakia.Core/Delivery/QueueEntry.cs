namespace Daakia.Core;

/// <summary>
/// One message in one durable queue, as the store reads it back: the message (shared by every queue that holds it),
/// its position in this queue, how many times it was handed out and came back unacknowledged, and when it becomes
/// visible (null: now). The message's <see cref="Letter.ExpiresAt"/> is this entry's expiry: the one the message was
/// appended with, unless an <see cref="Storage.ExpiryOp"/> moved it for this entry (then the store hands out a copy of
/// the message carrying the entry's expiry).
/// </summary>
public sealed record QueueEntry(Letter Message, long Position, int Deliveries = 0, DateTimeOffset? VisibleAt = null)
{
    /// <summary>The message id.</summary>
    public Guid Id => Message.Id;
}

/// <summary>
/// An entry that comes back to its queue unacknowledged (its lease expired, its connection went, or the consumer
/// released it): how often it has now been delivered, and when it may be delivered again (null: at once).
/// </summary>
public readonly record struct ReturnedEntry(Guid Id, int Deliveries, DateTimeOffset? VisibleAt = null);

/// <summary>When one entry of a queue (named by its message id) is to expire (<see cref="Storage.ExpiryOp"/>).</summary>
public readonly record struct EntryExpiry(Guid Id, DateTimeOffset ExpiresAt);

/// <summary>An entry the store removed from its queue because its message's TTL passed.</summary>
public sealed record ExpiredEntry(QueueKey Queue, Letter Message);
