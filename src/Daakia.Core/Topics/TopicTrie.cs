using System.Diagnostics;

namespace Daakia.Core;

/// <summary>
/// The subscriptions of one tenant: a trie of filter levels with <c>+</c> and <c>#</c> branches, and shared
/// subscription groups at the node of their topic filter. Changes happen under the tenant lock; <see cref="Match"/>
/// never takes it: it reads the route cache and, on a miss, walks the trie without locking (see <see cref="TopicNode"/>).
/// Each change invalidates only the cached topics its filter matches (see <see cref="RouteCache"/>).
/// </summary>
internal sealed class TopicTrie(Lock gate, int cacheSize)
{
    [ThreadStatic]
    private static Scratch? t_scratch;

    private readonly TopicNode _root = new();

    /// <summary>Subscriptions held (shared ones included).</summary>
    public int Count { get; private set; }

    public RouteCache Cache { get; } = new(cacheSize);

    /// <summary>Adds a subscription whose owner has none on its filter (caller holds the lock).</summary>
    public void Add(Subscription subscription)
    {
        Debug.Assert(gate.IsHeldByCurrentThread);
        var node = NodeFor(subscription.TopicFilter);
        Count++;
        if (subscription.ShareGroup is not { } name)
        {
            node.AddSubscription(subscription);
            Cache.Invalidate(subscription.TopicFilter);
            return;
        }

        if (node.FindGroup(name) is { } group)
        {
            // Cached results hold the group, whose members they read when routing: nothing to invalidate.
            group.Add(subscription);
            return;
        }

        group = new SharedGroup(name, subscription.TopicFilter);
        group.Add(subscription);
        node.AddGroup(group);
        Cache.Invalidate(subscription.TopicFilter);
    }

    /// <summary>Replaces a subscription with one of the same owner and filter and new options (caller holds the lock).</summary>
    public void Replace(Subscription old, Subscription subscription)
    {
        Debug.Assert(gate.IsHeldByCurrentThread);
        Debug.Assert(ReferenceEquals(old.Owner, subscription.Owner) && old.Filter == subscription.Filter);
        var node = NodeFor(subscription.TopicFilter);
        if (subscription.ShareGroup is { } name)
        {
            node.FindGroup(name)!.Replace(old, subscription);
            return;
        }

        node.ReplaceSubscription(old, subscription);
        Cache.Invalidate(subscription.TopicFilter);
    }

    /// <summary>Removes a subscription (caller holds the lock). False if the trie did not hold it.</summary>
    public bool Remove(Subscription subscription)
    {
        Debug.Assert(gate.IsHeldByCurrentThread);
        if (!Remove(_root, subscription, 0))
        {
            return false;
        }

        Count--;
        return true;
    }

    /// <summary>Everything subscribed to <paramref name="topic"/> (a valid topic name). Never locks.</summary>
    public TopicMatch Match(string topic)
    {
        if (Cache.TryGet(topic, out var cached))
        {
            return cached;
        }

        var generation = Cache.Generation;
        var scratch = t_scratch ??= new Scratch();
        Walk(_root, topic, 0, scratch);
        var match = TopicMatch.Create(scratch.Found, scratch.Groups, scratch.Owners, scratch.Counts);
        scratch.Reset();
        Cache.Add(topic, match, generation);
        return match;
    }

    // Levels of the topic are topic[start..next '/']; start > topic.Length means every level is consumed.
    private static void Walk(TopicNode node, string topic, int start, Scratch scratch)
    {
        if (start > topic.Length)
        {
            node.CollectInto(scratch.Found, scratch.Groups);
            // "a/#" matches "a" as well [MQTT-4.7.1-2].
            node.Hash?.CollectInto(scratch.Found, scratch.Groups);
            return;
        }

        var end = topic.IndexOf('/', start);
        if (end < 0)
        {
            end = topic.Length;
        }

        // Wildcards at the first level do not match topics starting with '$' [MQTT-4.7.2-1].
        if (start > 0 || topic[0] != '$')
        {
            node.Hash?.CollectInto(scratch.Found, scratch.Groups);
            if (node.Plus is { } plus)
            {
                Walk(plus, topic, end + 1, scratch);
            }
        }

        if (node.Child(topic.AsSpan(start, end - start)) is { } exact)
        {
            Walk(exact, topic, end + 1, scratch);
        }
    }

    private TopicNode NodeFor(string topicFilter)
    {
        var node = _root;
        foreach (var range in topicFilter.AsSpan().Split('/'))
        {
            node = node.GetOrAddChild(topicFilter[range]);
        }

        return node;
    }

    /// <summary>Removes the subscription below <paramref name="node"/> and prunes levels left empty on the way back.</summary>
    private bool Remove(TopicNode node, Subscription subscription, int start)
    {
        var filter = subscription.TopicFilter;
        if (start > filter.Length)
        {
            if (subscription.ShareGroup is not { } name)
            {
                if (!node.RemoveSubscription(subscription))
                {
                    return false;
                }
            }
            else
            {
                if (node.FindGroup(name) is not { } group || Array.IndexOf(group.Members, subscription) < 0)
                {
                    return false;
                }

                if (!group.Remove(subscription))
                {
                    // Other members remain: cached results hold the group and need no change.
                    return true;
                }

                node.RemoveGroup(group);
            }

            Cache.Invalidate(filter);
            return true;
        }

        var end = filter.IndexOf('/', start);
        if (end < 0)
        {
            end = filter.Length;
        }

        var level = filter[start..end];
        var child = level switch
        {
            "+" => node.Plus,
            "#" => node.Hash,
            _ => node.Child(level),
        };
        if (child is null || !Remove(child, subscription, end + 1))
        {
            return false;
        }

        // Prune empty levels so a churn of unique filters does not leave garbage behind.
        if (child.IsEmpty)
        {
            node.RemoveChild(level);
        }

        return true;
    }

    /// <summary>Per-thread collections for a trie walk, reused so a cache miss allocates only its result.</summary>
    private sealed class Scratch
    {
        public List<Subscription> Found { get; } = [];

        public List<SharedGroup> Groups { get; } = [];

        public Dictionary<ISubscriber, int> Owners { get; } = new(ReferenceEqualityComparer.Instance);

        public List<int> Counts { get; } = [];

        public void Reset()
        {
            // Do not keep a huge walk's arrays alive on every thread that once made one.
            if (Found.Capacity > 4096)
            {
                t_scratch = null;
                return;
            }

            Found.Clear();
            Groups.Clear();
        }
    }
}
