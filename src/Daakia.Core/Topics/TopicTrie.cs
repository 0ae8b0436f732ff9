using System.Collections.Concurrent;

namespace Daakia.Core;

/// <summary>
/// The subscriptions of one tenant: a trie of filter levels with <c>+</c> and <c>#</c> branches. Changes happen
/// under the tenant lock; lookups go through a cache of topic name → subscribers that is read without locking
/// and cleared on every change (the model is NATS's sublist cache).
/// </summary>
internal sealed class TopicTrie(Lock gate, int cacheSize)
{
    private readonly Node _root = new();
    private readonly ConcurrentDictionary<string, ClientConnection[]> _cache = new(StringComparer.Ordinal);

    public int Count { get; private set; }

    /// <summary>Adds a subscription (caller holds the lock). False if the connection already had this filter.</summary>
    public bool Add(string filter, ClientConnection connection)
    {
        var node = _root;
        foreach (var level in filter.Split('/'))
        {
            node.Children ??= new(StringComparer.Ordinal);
            if (!node.Children.TryGetValue(level, out var next))
            {
                node.Children[level] = next = new Node();
            }

            node = next;
        }

        node.Subscribers ??= [];
        if (!node.Subscribers.Add(connection))
        {
            return false;
        }

        Count++;
        _cache.Clear();
        return true;
    }

    /// <summary>Removes a subscription (caller holds the lock).</summary>
    public bool Remove(string filter, ClientConnection connection)
    {
        var path = new List<(Node Parent, string Level)>();
        var node = _root;
        foreach (var level in filter.Split('/'))
        {
            if (node.Children is null || !node.Children.TryGetValue(level, out var next))
            {
                return false;
            }

            path.Add((node, level));
            node = next;
        }

        if (node.Subscribers is null || !node.Subscribers.Remove(connection))
        {
            return false;
        }

        Count--;
        // Prune empty branches so a churn of unique filters does not leave garbage behind.
        for (var i = path.Count - 1; i >= 0; i--)
        {
            var (parent, level) = path[i];
            var child = parent.Children![level];
            if (child.Subscribers is { Count: > 0 } || child.Children is { Count: > 0 })
            {
                break;
            }

            parent.Children.Remove(level);
        }

        _cache.Clear();
        return true;
    }

    /// <summary>The distinct connections subscribed to <paramref name="topic"/>, one entry each however many filters match.</summary>
    public ClientConnection[] Match(string topic)
    {
        if (_cache.TryGetValue(topic, out var cached))
        {
            return cached;
        }

        ClientConnection[] result;
        lock (gate)
        {
            var found = new HashSet<ClientConnection>();
            var levels = topic.Split('/');
            Collect(_root, levels, 0, found, topic.StartsWith('$'));
            result = found.Count == 0 ? [] : [.. found];
            if (_cache.Count >= cacheSize)
            {
                _cache.Clear();
            }

            _cache[topic] = result;
        }

        return result;
    }

    private static void Collect(Node node, string[] levels, int index, HashSet<ClientConnection> found, bool dollar)
    {
        if (node.Children is null)
        {
            return;
        }

        // First-level wildcards do not match '$' topics [MQTT-4.7.2-1].
        var wildcardsAllowed = !(dollar && index == 0);
        if (wildcardsAllowed && node.Children.TryGetValue("#", out var hash) && hash.Subscribers is not null)
        {
            found.UnionWith(hash.Subscribers);
        }

        if (index == levels.Length)
        {
            return;
        }

        if (node.Children.TryGetValue(levels[index], out var exact))
        {
            Visit(exact, levels, index + 1, found, dollar);
        }

        if (wildcardsAllowed && node.Children.TryGetValue("+", out var plus))
        {
            Visit(plus, levels, index + 1, found, dollar);
        }
    }

    private static void Visit(Node node, string[] levels, int next, HashSet<ClientConnection> found, bool dollar)
    {
        if (next == levels.Length)
        {
            if (node.Subscribers is not null)
            {
                found.UnionWith(node.Subscribers);
            }

            // "a/#" matches "a" as well [MQTT-4.7.1-2].
            if (node.Children is not null && node.Children.TryGetValue("#", out var hash) && hash.Subscribers is not null)
            {
                found.UnionWith(hash.Subscribers);
            }

            return;
        }

        Collect(node, levels, next, found, dollar);
    }

    private sealed class Node
    {
        public Dictionary<string, Node>? Children { get; set; }

        public HashSet<ClientConnection>? Subscribers { get; set; }
    }
}
