namespace Daakia.Core;

/// <summary>
/// One subscription: a filter, its owner and its options. Immutable; changing the options of a filter replaces the
/// subscription (MQTT-3.8.4-3), so routing results that hold one never see it change.
/// </summary>
public sealed class Subscription
{
    internal Subscription(ISubscriber owner, string filter, SubscriptionOptions options)
    {
        Owner = owner;
        Filter = filter;
        Options = options;
        TopicNames.TrySplitShared(filter, out var group, out var topicFilter);
        ShareGroup = group;
        TopicFilter = topicFilter;
    }

    /// <summary>The filter as subscribed, <c>$share/{group}/</c> prefix included; one owner has one subscription per filter.</summary>
    public string Filter { get; }

    /// <summary>The filter matched against topic names (<see cref="Filter"/> without the share prefix).</summary>
    public string TopicFilter { get; }

    /// <summary>The ShareName of a shared subscription; null for an ordinary one.</summary>
    public string? ShareGroup { get; }

    public SubscriptionOptions Options { get; }

    internal ISubscriber Owner { get; }

    public override string ToString() => Filter;
}
