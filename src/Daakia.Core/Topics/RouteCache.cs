using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Daakia.Core;

/// <summary>
/// Topic name → <see cref="TopicMatch"/>, read without locks. A subscription change removes only the entries whose
/// topic its filter matches (NATS's sublist cache is the model), so connection churn leaves unrelated topics cached.
/// Bounded by count: past <c>capacity</c> entries a quarter of them are evicted (arbitrary ones, hash order).
/// </summary>
/// <remarks>
/// A reader that misses walks the trie without the lock while a writer may be changing it, so the result it is about
/// to insert may predate a change whose invalidation already ran. The generation makes that safe: a writer changes the
/// trie, then increments the generation, then invalidates; a reader reads the generation before its walk and, after
/// inserting, reads it again and takes its entry back if it moved. Either the writer's invalidation sees the entry, or
/// the reader sees the new generation (both sides have a full fence between their write and their read).
/// </remarks>
internal sealed class RouteCache(int capacity)
{
    private readonly ConcurrentDictionary<string, TopicMatch> _entries = new(StringComparer.Ordinal);
    private long _generation;
    private int _count;
    private int _evicting;
    private long _misses;
    private long _invalidated;

    /// <summary>Entries now (approximate while readers insert).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Lookups that found no entry (tests and diagnostics).</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Entries removed by subscription changes (not by eviction).</summary>
    public long Invalidated => Interlocked.Read(ref _invalidated);

    /// <summary>Test seam: runs just before a walk's result is inserted, where a concurrent change can land.</summary>
    internal Action<string>? BeforeInsert { get; set; }

    /// <summary>Read before a trie walk and handed to <see cref="Add"/>.</summary>
    public long Generation => Volatile.Read(ref _generation);

    public bool TryGet(string topic, [MaybeNullWhen(false)] out TopicMatch match)
    {
        if (_entries.TryGetValue(topic, out match))
        {
            return true;
        }

        Interlocked.Increment(ref _misses);
        return false;
    }

    /// <summary>Caches a walk's result unless a subscription changed since <paramref name="generation"/> was read.</summary>
    public void Add(string topic, TopicMatch match, long generation)
    {
        if (capacity == 0 || Generation != generation)
        {
            return;
        }

        BeforeInsert?.Invoke(topic);
        if (!_entries.TryAdd(topic, match))
        {
            return;
        }

        // The increment is also the full fence between the insert and the generation's second read.
        var count = Interlocked.Increment(ref _count);
        if (Generation != generation)
        {
            if (_entries.TryRemove(new KeyValuePair<string, TopicMatch>(topic, match)))
            {
                Interlocked.Decrement(ref _count);
            }

            return;
        }

        if (count > capacity)
        {
            Evict();
        }
    }

    /// <summary>
    /// Removes every entry whose topic <paramref name="topicFilter"/> matches (caller holds the tenant lock and has
    /// already changed the trie). A filter without wildcards matches one topic: one removal. A wildcard filter is
    /// tested against each entry, so its cost is bounded by the capacity.
    /// </summary>
    public void Invalidate(string topicFilter)
    {
        Interlocked.Increment(ref _generation);
        if (!TopicNames.HasWildcard(topicFilter))
        {
            Remove(topicFilter);
            return;
        }

        // Only topics that start with the filter's literal part can match; checking that first keeps the scan cheap
        // per entry. ('a/#' matches 'a' as well, so a '#' filter's prefix drops the '/' before it.)
        var wildcard = topicFilter.AsSpan().IndexOfAny('+', '#');
        var prefix = topicFilter.AsSpan(0, topicFilter[wildcard] == '#' && wildcard > 0 ? wildcard - 1 : wildcard);
        foreach (var (topic, _) in _entries)
        {
            if (topic.AsSpan().StartsWith(prefix) && TopicNames.Matches(topicFilter, topic))
            {
                Remove(topic);
            }
        }
    }

    private void Remove(string topic)
    {
        if (_entries.TryRemove(topic, out _))
        {
            Interlocked.Decrement(ref _count);
            Interlocked.Increment(ref _invalidated);
        }
    }

    private void Evict()
    {
        // One evictor at a time; the others go on (the count is a bound to return to, not a hard cap).
        if (Interlocked.CompareExchange(ref _evicting, 1, 0) != 0)
        {
            return;
        }

        try
        {
            var target = capacity - (capacity / 4);
            foreach (var (topic, _) in _entries)
            {
                if (Count <= target)
                {
                    break;
                }

                if (_entries.TryRemove(topic, out _))
                {
                    Interlocked.Decrement(ref _count);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _evicting, 0);
        }
    }
}
