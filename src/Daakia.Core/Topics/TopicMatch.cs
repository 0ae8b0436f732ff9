namespace Daakia.Core;

/// <summary>
/// Everything one topic name matches: per subscriber, every matching non-shared subscription; and every shared
/// subscription group that matches. Immutable once made; the route cache hands the same instance to every publisher of
/// the topic until a subscription change that matches the topic invalidates it.
/// </summary>
internal sealed class TopicMatch
{
    public static readonly TopicMatch Empty = new([], [], null, []);

    // Subscriptions grouped by owner; _starts[i].._starts[i + 1] are subscriber i's. Null when every subscriber has
    // exactly one (the usual case), so subscriber i's is _subscriptions[i]. The owners are kept beside them so that
    // routing reads one array per subscriber instead of going through each subscription.
    private readonly Subscription[] _subscriptions;
    private readonly ISubscriber[] _owners;
    private readonly int[]? _starts;

    private TopicMatch(Subscription[] subscriptions, ISubscriber[] owners, int[]? starts, SharedGroup[] groups)
    {
        _subscriptions = subscriptions;
        _owners = owners;
        _starts = starts;
        Groups = groups;
        foreach (var s in subscriptions)
        {
            HasNoLocal |= s.Options.NoLocal;
        }
    }

    /// <summary>Distinct owners with at least one matching non-shared subscription.</summary>
    public int SubscriberCount => _owners.Length;

    /// <summary>The distinct owners, one per subscriber index.</summary>
    public ISubscriber[] Owners => _owners;

    /// <summary>Matching shared subscriptions; each gets a message once.</summary>
    public SharedGroup[] Groups { get; }

    /// <summary>Whether any matching subscription is no-local (routing then compares authors).</summary>
    public bool HasNoLocal { get; }

    public bool IsEmpty => _subscriptions.Length == 0 && Groups.Length == 0;

    /// <summary>
    /// When every subscriber has exactly one matching subscription (the usual shape): those subscriptions, one per
    /// subscriber, for a tight routing loop. Null otherwise.
    /// </summary>
    public Subscription[]? OnePerSubscriber => _starts is null ? _subscriptions : null;

    public ISubscriber Subscriber(int index) => _owners[index];

    /// <summary>Every matching non-shared subscription of subscriber <paramref name="index"/> (at least one).</summary>
    public ReadOnlySpan<Subscription> Subscriptions(int index) =>
        _starts is null ? _subscriptions.AsSpan(index, 1) : _subscriptions.AsSpan(_starts[index], _starts[index + 1] - _starts[index]);

    /// <summary>
    /// Makes a result from what a trie walk collected (each subscription once). <paramref name="owners"/> and
    /// <paramref name="counts"/> are empty scratch space, left empty.
    /// </summary>
    public static TopicMatch Create(List<Subscription> found, List<SharedGroup> groups, Dictionary<ISubscriber, int> owners, List<int> counts)
    {
        if (found.Count == 0 && groups.Count == 0)
        {
            return Empty;
        }

        foreach (var s in found)
        {
            if (owners.TryAdd(s.Owner, owners.Count))
            {
                counts.Add(1);
            }
            else
            {
                counts[owners[s.Owner]]++;
            }
        }

        var ownerArray = new ISubscriber[owners.Count];
        foreach (var (owner, index) in owners)
        {
            ownerArray[index] = owner;
        }

        Subscription[] subscriptions;
        int[]? starts = null;
        if (owners.Count == found.Count)
        {
            subscriptions = [.. found];
        }
        else
        {
            starts = new int[owners.Count + 1];
            for (var i = 0; i < counts.Count; i++)
            {
                starts[i + 1] = starts[i] + counts[i];
            }

            // Reuse the counts as fill positions.
            for (var i = 0; i < counts.Count; i++)
            {
                counts[i] = starts[i];
            }

            subscriptions = new Subscription[found.Count];
            foreach (var s in found)
            {
                var owner = owners[s.Owner];
                subscriptions[counts[owner]++] = s;
            }
        }

        owners.Clear();
        counts.Clear();
        return new TopicMatch(subscriptions, ownerArray, starts, groups.Count == 0 ? [] : [.. groups]);
    }
}
