namespace Daakia.Core;

/// <summary>
/// The durable subscribers one route reached — persistent sessions at QoS 1 or 2, and named queues bound to a matching
/// filter — collected on the routing thread (routing is synchronous and does not nest) and taken by the router once
/// the route is done, for the durable appends that end it (<see cref="TopicRouter"/>): the publisher's acknowledgement
/// waits for them.
/// </summary>
internal static class DurableRoute
{
    [ThreadStatic]
    private static List<PersistentSession>? t_sessions;

    [ThreadStatic]
    private static List<BoundQueue>? t_queues;

    public static void Collect(PersistentSession session)
    {
        var list = t_sessions ??= [];
        if (list.Count == 0 || !ReferenceEquals(list[^1], session))
        {
            list.Add(session);
        }
    }

    public static void Collect(BoundQueue queue)
    {
        var list = t_queues ??= [];
        if (list.Count == 0 || !ReferenceEquals(list[^1], queue))
        {
            list.Add(queue);
        }
    }

    /// <summary>The sessions the route collected (null: none), leaving the thread's list empty.</summary>
    public static List<PersistentSession>? TakeSessions()
    {
        var list = t_sessions;
        if (list is not { Count: > 0 })
        {
            return null;
        }

        t_sessions = null;
        return list;
    }

    /// <summary>The bound queues the route collected (null: none), leaving the thread's list empty.</summary>
    public static List<BoundQueue>? TakeQueues()
    {
        var list = t_queues;
        if (list is not { Count: > 0 })
        {
            return null;
        }

        t_queues = null;
        return list;
    }

    /// <summary>Forgets what a route that failed collected, so it cannot reach the next route on this thread.</summary>
    public static void Clear()
    {
        t_sessions?.Clear();
        t_queues?.Clear();
    }
}
