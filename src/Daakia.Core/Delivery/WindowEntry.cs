namespace Daakia.Core;

/// <summary>
/// One entry of a durable queue held in memory by its <see cref="DeliveryWindow"/>: the message, where it is in the
/// queue, and where it is in flight. Guarded by the tenant lock.
/// </summary>
internal sealed class WindowEntry(Letter message, long position, int deliveries, DateTimeOffset? visibleAt)
{
    /// <summary>What an entry costs in memory, counted against the byte limits: payload and headers plus a fixed overhead.</summary>
    public const int Overhead = 128;

    public Letter Message { get; } = message;

    public Guid Id => Message.Id;

    public int Size { get; } = message.Size + Overhead;

    /// <summary>The entry's position in the store's queue; 0 until the store has allocated it (a live entry whose
    /// append has not completed yet).</summary>
    public long Position { get; set; } = position;

    /// <summary>Order in the window (in-memory only): increases with every entry that becomes deliverable, so an entry
    /// that comes back (released, lease expired, delay passed) goes behind those already waiting.</summary>
    public long Ordinal { get; set; }

    /// <summary>Times handed out and not acknowledged, including the current hand-out (durable when it comes back).</summary>
    public int Deliveries { get; set; } = deliveries;

    /// <summary>Not deliverable before this time (a delayed message, or one released with a delay).</summary>
    public DateTimeOffset? VisibleAt { get; set; } = visibleAt;

    /// <summary>Handed out in the current round (counted in <see cref="Deliveries"/>); cleared when it comes back.</summary>
    public bool Out { get; set; }

    /// <summary>When the current round's first hand-out happened (lease timeouts run from it).</summary>
    public DateTimeOffset HandedAt { get; set; }

    /// <summary>Delivery mode <c>any</c>: the connection it is leased to, or null while waiting.</summary>
    public ClientConnection? AssignedTo { get; set; }

    public static WindowEntry Of(QueueEntry e) => new(e.Message, e.Position, e.Deliveries, e.VisibleAt);
}
