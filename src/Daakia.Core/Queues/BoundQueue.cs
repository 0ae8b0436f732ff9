using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>
/// A named queue's topic bindings as the tenant's topic trie sees them: one subscriber per bound queue, owning one
/// subscription per bound filter, so a publication that matches several of them reaches the queue once. Routing
/// collects it (<see cref="DurableRoute"/>) and the route ends with the durable append
/// (<see cref="QueueService"/>, QueueService.Bindings.cs) that the publisher's acknowledgement waits for. Guarded by
/// the tenant lock; routing only calls <see cref="ISubscriber.TryPublish"/>, which touches nothing.
/// </summary>
internal sealed class BoundQueue : ISubscriber
{
    public BoundQueue(TenantId tenant, NamedQueueState state)
    {
        State = state;
        Queue = new QueueKey(tenant, QueueKind.Queue, state.Info.Name);
        // Routing compares it with a publication's author only for no-local, which no binding is: a client that
        // happens to have this id still reaches the queue.
        Client = ClientId.Parse("queue:" + state.Info.Name);
    }

    public NamedQueueState State { get; }

    public QueueKey Queue { get; }

    public ClientId Client { get; }

    /// <summary>The bound filters, each with its subscription in the trie and when it was bound.</summary>
    public Dictionary<string, (Subscription Subscription, DateTimeOffset CreatedAt)> Bindings { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// An upper bound of what the queue holds in the store (seeded from it, raised by every append to the queue —
    /// routed, posted, dead-lettered into it — when called, never lowered but by a new seed): while it says a message
    /// certainly fits, the append is shared with the other queues the publication reached; otherwise the queue gets an
    /// append of its own, which the store alone refuses when the queue is full.
    /// </summary>
    public UsageRecord Usage { get; } = new();

    /// <summary>Bound filters read back at start that today's options do not allow (not in the trie): their records
    /// stay until unbound or the queue is deleted.</summary>
    public HashSet<string> Dormant { get; } = new(StringComparer.Ordinal);

    /// <summary>The queue was deleted: nothing is appended for it any more.</summary>
    public bool Removed { get; set; }

    /// <summary>When a dropped publication was last logged (a full queue logs at most once a minute), and how many
    /// were dropped since.</summary>
    public DateTimeOffset DropLoggedAt { get; set; } = DateTimeOffset.MinValue;

    public long DropsUnlogged { get; set; }

    /// <summary>Binds a filter (caller holds the lock, and checked it).</summary>
    public void Add(TenantState t, string filter, DateTimeOffset createdAt)
    {
        var s = new Subscription(this, filter, default);
        Bindings[filter] = (s, createdAt);
        t.Topics.Add(s);
    }

    /// <summary>Unbinds a filter (caller holds the lock); false if it was not bound.</summary>
    public bool Remove(TenantState t, string filter)
    {
        if (!Bindings.Remove(filter, out var had))
        {
            return false;
        }

        t.Topics.Remove(had.Subscription);
        return true;
    }

    /// <summary>Publications reach the queue through its durable append, retained copies never (a binding receives what
    /// is published from when it is made, not the topics' retained messages).</summary>
    bool ISubscriber.TryPublish(Publication publication, ReadOnlySpan<Subscription> matched)
    {
        if (!publication.IsRetainedCopy)
        {
            DurableRoute.Collect(this);
        }

        return true;
    }
}
