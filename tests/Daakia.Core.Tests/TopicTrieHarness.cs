namespace Daakia.Core.Tests;

/// <summary>A topic trie with its lock, taking the lock for every change the way the engine does.</summary>
internal sealed class TopicTrieHarness
{
    public TopicTrieHarness(int cacheSize = 4096) => Trie = new TopicTrie(Gate, cacheSize);

    public Lock Gate { get; } = new();

    public TopicTrie Trie { get; }

    public RouteCache Cache => Trie.Cache;

    public Subscription Add(ISubscriber owner, string filter, SubscriptionOptions options = default)
    {
        var s = new Subscription(owner, filter, options);
        lock (Gate)
        {
            Trie.Add(s);
        }

        return s;
    }

    public Subscription Replace(Subscription old, SubscriptionOptions options)
    {
        var s = new Subscription(old.Owner, old.Filter, options);
        lock (Gate)
        {
            Trie.Replace(old, s);
        }

        return s;
    }

    public bool Remove(Subscription subscription)
    {
        lock (Gate)
        {
            return Trie.Remove(subscription);
        }
    }

    public TopicMatch Match(string topic) => Trie.Match(topic);
}
