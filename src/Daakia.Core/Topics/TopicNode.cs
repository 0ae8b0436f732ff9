using System.Collections.Concurrent;

namespace Daakia.Core;

/// <summary>
/// One filter level of the topic trie. Written only under the tenant lock and read by any thread without locks:
/// every field a reader follows is published with a volatile write after the object it points to is complete, and
/// what a reader enumerates is either an immutable array (replaced on change) or a concurrent dictionary.
/// </summary>
/// <remarks>
/// Small is the common case (a leaf with one subscriber, a level with a few children), so both the children and the
/// subscriptions start as small copy-on-write arrays and become concurrent dictionaries only when large: copying an
/// array per change would make churn on a popular filter quadratic, and a dictionary per leaf would cost hundreds of
/// bytes per subscription.
/// </remarks>
internal sealed class TopicNode
{
    private const int SmallChildren = 8;
    private const int SmallSubscriptions = 32;

    // Null, KeyValuePair<string, TopicNode>[] (at most SmallChildren) or LargeChildren.
    private object? _children;
    private int _childCount;

    // Subscription[] (at most SmallSubscriptions) or ConcurrentDictionary<Subscription, byte>.
    private object _subscriptions = Array.Empty<Subscription>();
    private int _subscriptionCount;

    private SharedGroup[] _groups = [];
    private TopicNode? _plus;
    private TopicNode? _hash;

    /// <summary>The <c>+</c> child.</summary>
    public TopicNode? Plus => Volatile.Read(ref _plus);

    /// <summary>The <c>#</c> child.</summary>
    public TopicNode? Hash => Volatile.Read(ref _hash);

    public SharedGroup[] Groups => Volatile.Read(ref _groups);

    /// <summary>Nothing subscribed here or below (writers only).</summary>
    public bool IsEmpty => _subscriptionCount == 0 && _groups.Length == 0 && _childCount == 0 && _plus is null && _hash is null;

    /// <summary>The literal child for <paramref name="level"/>, if any (never <c>+</c> or <c>#</c>).</summary>
    public TopicNode? Child(ReadOnlySpan<char> level)
    {
        switch (Volatile.Read(ref _children))
        {
            case KeyValuePair<string, TopicNode>[] small:
                foreach (var (key, node) in small)
                {
                    if (level.SequenceEqual(key))
                    {
                        return node;
                    }
                }

                return null;
            case LargeChildren large:
                return large.Lookup.TryGetValue(level, out var found) ? found : null;
            default:
                return null;
        }
    }

    /// <summary>Adds every subscription here to <paramref name="found"/> and every shared group to <paramref name="groups"/>.</summary>
    public void CollectInto(List<Subscription> found, List<SharedGroup> groups)
    {
        switch (Volatile.Read(ref _subscriptions))
        {
            case Subscription[] small:
                found.AddRange(small);
                break;
            case ConcurrentDictionary<Subscription, byte> large:
                // A concurrent dictionary's enumeration sees every entry present throughout it exactly once.
                foreach (var (s, _) in large)
                {
                    found.Add(s);
                }

                break;
        }

        var g = Groups;
        if (g.Length > 0)
        {
            groups.AddRange(g);
        }
    }

    // Writers below: the caller holds the tenant lock.

    /// <summary>The child for a filter level, made if missing.</summary>
    public TopicNode GetOrAddChild(string level)
    {
        if (level == "+")
        {
            return _plus ?? Publish(ref _plus, new TopicNode());
        }

        if (level == "#")
        {
            return _hash ?? Publish(ref _hash, new TopicNode());
        }

        if (Child(level) is { } existing)
        {
            return existing;
        }

        var child = new TopicNode();
        switch (_children)
        {
            case LargeChildren large:
                large.Map[level] = child;
                break;
            case KeyValuePair<string, TopicNode>[] small when small.Length >= SmallChildren:
                var map = new LargeChildren();
                foreach (var (key, node) in small)
                {
                    map.Map[key] = node;
                }

                map.Map[level] = child;
                Volatile.Write(ref _children, map);
                break;
            case KeyValuePair<string, TopicNode>[] small:
                Volatile.Write(ref _children, (object)(KeyValuePair<string, TopicNode>[])[.. small, new(level, child)]);
                break;
            default:
                Volatile.Write(ref _children, (object)new[] { new KeyValuePair<string, TopicNode>(level, child) });
                break;
        }

        _childCount++;
        return child;
    }

    /// <summary>Drops the child for a filter level (it is empty).</summary>
    public void RemoveChild(string level)
    {
        if (level == "+")
        {
            Volatile.Write(ref _plus, null);
            return;
        }

        if (level == "#")
        {
            Volatile.Write(ref _hash, null);
            return;
        }

        switch (_children)
        {
            case LargeChildren large when large.Map.TryRemove(level, out _):
                _childCount--;
                if (_childCount <= SmallChildren / 2)
                {
                    var small = new KeyValuePair<string, TopicNode>[_childCount];
                    var i = 0;
                    foreach (var entry in large.Map)
                    {
                        small[i++] = entry;
                    }

                    Volatile.Write(ref _children, small);
                }

                break;
            case KeyValuePair<string, TopicNode>[] small:
                var index = small.Length - 1;
                while (index >= 0 && small[index].Key != level)
                {
                    index--;
                }

                if (index >= 0)
                {
                    _childCount--;
                    Volatile.Write(ref _children, _childCount == 0 ? null : (object)(KeyValuePair<string, TopicNode>[])[.. small.AsSpan(0, index), .. small.AsSpan(index + 1)]);
                }

                break;
        }
    }

    public void AddSubscription(Subscription subscription)
    {
        switch (_subscriptions)
        {
            case ConcurrentDictionary<Subscription, byte> large:
                large[subscription] = 0;
                break;
            case Subscription[] small when small.Length >= SmallSubscriptions:
                var set = new ConcurrentDictionary<Subscription, byte>(1, SmallSubscriptions * 2, ReferenceEqualityComparer.Instance);
                foreach (var s in small)
                {
                    set[s] = 0;
                }

                set[subscription] = 0;
                Volatile.Write(ref _subscriptions, set);
                break;
            case Subscription[] small:
                Volatile.Write(ref _subscriptions, (Subscription[])[.. small, subscription]);
                break;
        }

        _subscriptionCount++;
    }

    /// <summary>
    /// Puts <paramref name="subscription"/> in the place of <paramref name="old"/> (same owner and filter, new options).
    /// A concurrent reader sees the old one, the new one or, on a large node, both, never neither: the flow of messages
    /// is not interrupted by a re-subscribe (MQTT-3.8.4-3).
    /// </summary>
    public void ReplaceSubscription(Subscription old, Subscription subscription)
    {
        switch (_subscriptions)
        {
            case ConcurrentDictionary<Subscription, byte> large:
                large[subscription] = 0;
                large.TryRemove(old, out _);
                break;
            case Subscription[] small:
                var copy = (Subscription[])small.Clone();
                copy[Array.IndexOf(copy, old)] = subscription;
                Volatile.Write(ref _subscriptions, copy);
                break;
        }
    }

    public bool RemoveSubscription(Subscription subscription)
    {
        switch (_subscriptions)
        {
            case ConcurrentDictionary<Subscription, byte> large when large.TryRemove(subscription, out _):
                _subscriptionCount--;
                if (_subscriptionCount <= SmallSubscriptions / 2)
                {
                    var small = new Subscription[_subscriptionCount];
                    var i = 0;
                    foreach (var (s, _) in large)
                    {
                        small[i++] = s;
                    }

                    Volatile.Write(ref _subscriptions, small);
                }

                return true;
            case Subscription[] small:
                var index = Array.IndexOf(small, subscription);
                if (index < 0)
                {
                    return false;
                }

                _subscriptionCount--;
                Volatile.Write(ref _subscriptions, (Subscription[])[.. small.AsSpan(0, index), .. small.AsSpan(index + 1)]);
                return true;
            default:
                return false;
        }
    }

    public SharedGroup? FindGroup(string name)
    {
        foreach (var g in _groups)
        {
            if (g.Name == name)
            {
                return g;
            }
        }

        return null;
    }

    public void AddGroup(SharedGroup group) => Volatile.Write(ref _groups, [.. _groups, group]);

    public void RemoveGroup(SharedGroup group)
    {
        var groups = _groups;
        var i = Array.IndexOf(groups, group);
        if (i >= 0)
        {
            Volatile.Write(ref _groups, [.. groups.AsSpan(0, i), .. groups.AsSpan(i + 1)]);
        }
    }

    private static TopicNode Publish(ref TopicNode? field, TopicNode node)
    {
        Volatile.Write(ref field, node);
        return node;
    }

    /// <summary>Literal children past <see cref="SmallChildren"/>, looked up by span so a topic is never split into strings.</summary>
    private sealed class LargeChildren
    {
        public LargeChildren()
        {
            Map = new(1, SmallChildren * 4, StringComparer.Ordinal);
            Lookup = Map.GetAlternateLookup<ReadOnlySpan<char>>();
        }

        public ConcurrentDictionary<string, TopicNode> Map { get; }

        public ConcurrentDictionary<string, TopicNode>.AlternateLookup<ReadOnlySpan<char>> Lookup { get; }
    }
}
