namespace Daakia.Core.Tests;

/// <summary>The route cache: invalidated per affected topic, not cleared; bounded; observable through its counters.</summary>
public sealed class TopicCacheTests
{
    private readonly TopicTestSubscriber _alice = new("alice");
    private readonly TopicTestSubscriber _bob = new("bob");

    [Fact]
    public void CacheHits_SurviveUnrelatedSubscribeAndUnsubscribeChurn()
    {
        var h = new TopicTrieHarness();
        h.Add(_alice, "sensors/+/temperature");
        h.Add(_alice, "$share/workers/jobs/#");
        h.Add(_bob, "$presence/+");
        string[] warm = ["sensors/b1/temperature", "jobs/1", "$presence/carol", "nobody/listens"];
        var before = warm.Select(h.Match).ToArray();
        var misses = h.Cache.Misses;
        var invalidated = h.Cache.Invalidated;

        for (var i = 0; i < 200; i++)
        {
            // Exact and wildcard filters that match none of the warm topics, and members joining and leaving a shared
            // group that already exists (results hold the group, not its members).
            var churner = new TopicTestSubscriber("churner" + i);
            var subs = new[]
            {
                h.Add(churner, $"devices/d{i}/commands"),
                h.Add(churner, $"devices/d{i}/#"),
                h.Add(churner, "sensors/+/humidity"),
                h.Add(churner, "+/b1/pressure"),
                h.Add(churner, "$share/workers/jobs/#"),
                h.Add(churner, "$share/other/devices/+"),
            };
            foreach (var s in subs)
            {
                h.Remove(s);
            }

            for (var w = 0; w < warm.Length; w++)
            {
                Assert.Same(before[w], h.Match(warm[w]));
            }
        }

        Assert.Equal(misses, h.Cache.Misses);
        Assert.Equal(invalidated, h.Cache.Invalidated);
        Assert.Equal(warm.Length, h.Cache.Count);
    }

    [Fact]
    public void Subscribe_InvalidatesOnlyTheCachedTopicsItsFilterMatches()
    {
        var h = new TopicTrieHarness();
        h.Add(_alice, "a/#");
        var ab = h.Match("a/b");
        var ac = h.Match("a/c");
        var xy = h.Match("x/y");
        var invalidated = h.Cache.Invalidated;

        var s = h.Add(_bob, "a/+");

        Assert.Equal(invalidated + 2, h.Cache.Invalidated);
        Assert.Same(xy, h.Match("x/y"));
        Assert.NotSame(ab, h.Match("a/b"));
        Assert.NotSame(ac, h.Match("a/c"));
        Assert.Equal(2, h.Match("a/c").SubscriberCount);

        // A filter without wildcards touches its one topic.
        h.Add(_bob, "x/y");
        Assert.Equal(invalidated + 3, h.Cache.Invalidated);
        var misses = h.Cache.Misses;
        Assert.Equal(2, h.Match("a/b").SubscriberCount);
        Assert.Equal(misses, h.Cache.Misses);
        Assert.Equal(1, h.Match("x/y").SubscriberCount);
        Assert.Equal(misses + 1, h.Cache.Misses);

        h.Remove(s);
        Assert.Equal(invalidated + 5, h.Cache.Invalidated);
        Assert.Equal(1, h.Match("a/c").SubscriberCount);
    }

    [Fact]
    public void FirstLevelWildcards_DoNotInvalidateDollarTopics()
    {
        var h = new TopicTrieHarness();
        h.Add(_alice, "$presence/+");
        var presence = h.Match("$presence/carol");
        h.Match("presence/carol");

        foreach (var filter in new[] { "#", "+/carol", "+/#" })
        {
            h.Remove(h.Add(_bob, filter));
        }

        var misses = h.Cache.Misses;
        Assert.Same(presence, h.Match("$presence/carol"));
        Assert.Equal(misses, h.Cache.Misses);
        Assert.True(h.Match("presence/carol").IsEmpty);
        Assert.Equal(misses + 1, h.Cache.Misses);
    }

    [Fact]
    public void SharedGroups_InvalidateWhenMadeOrEmptiedOnly()
    {
        var h = new TopicTrieHarness();
        var topic = h.Match("jobs/1");
        Assert.True(topic.IsEmpty);

        var first = h.Add(_alice, "$share/w/jobs/+");
        var withGroup = h.Match("jobs/1");
        Assert.NotSame(topic, withGroup);
        var group = Assert.Single(withGroup.Groups);

        var second = h.Add(_bob, "$share/w/jobs/+");
        Assert.Same(withGroup, h.Match("jobs/1"));
        Assert.Equal(2, group.Members.Length);

        h.Remove(first);
        Assert.Same(withGroup, h.Match("jobs/1"));
        Assert.Equal([second], group.Members);

        h.Remove(second);
        Assert.True(h.Match("jobs/1").IsEmpty);
    }

    [Fact]
    public void Replace_InvalidatesSoTheNewOptionsAreRouted()
    {
        var h = new TopicTrieHarness();
        var s = h.Add(_alice, "a/+");
        Assert.Same(s, h.Match("a/b").Subscriptions(0)[0]);
        var s2 = h.Replace(s, new SubscriptionOptions { MaxQos = QualityOfService.ExactlyOnce });
        Assert.Same(s2, h.Match("a/b").Subscriptions(0)[0]);

        var g = h.Add(_alice, "$share/g/a/+");
        h.Match("a/b");
        var g2 = h.Replace(g, new SubscriptionOptions { MaxQos = QualityOfService.AtLeastOnce });
        Assert.Equal([g2], Assert.Single(h.Match("a/b").Groups).Members);
    }

    [Fact]
    public void Cache_StaysWithinItsCapacity()
    {
        var h = new TopicTrieHarness(cacheSize: 16);
        h.Add(_alice, "t/+");
        for (var i = 0; i < 1000; i++)
        {
            Assert.Equal(1, h.Match($"t/{i}").SubscriberCount);
            Assert.InRange(h.Cache.Count, 0, 16);
        }

        Assert.Equal(1000, h.Cache.Misses);
        Assert.Equal(1, h.Match("t/999").SubscriberCount);
        Assert.Equal(1000, h.Cache.Misses);
    }

    [Fact]
    public void Cache_OfSizeZero_CachesNothingAndStillMatches()
    {
        var h = new TopicTrieHarness(cacheSize: 0);
        h.Add(_alice, "t/+");
        Assert.Equal(1, h.Match("t/1").SubscriberCount);
        Assert.Equal(1, h.Match("t/1").SubscriberCount);
        Assert.Equal(0, h.Cache.Count);
        Assert.Equal(2, h.Cache.Misses);
    }

    [Theory]
    [InlineData("a/+")]
    [InlineData("a/b")]
    [InlineData("$share/g/a/#")]
    public void Miss_RacingAChange_DoesNotCacheTheResultItWalked(string filter)
    {
        // A lookup that misses walks the trie without the lock; a change that lands after the walk, even after the
        // cache's first look at the generation, and before the insert (here, from the hook) has already run its
        // invalidation, so the walked result must not stay cached.
        var h = new TopicTrieHarness();
        Subscription? added = null;
        h.Cache.BeforeInsert = _ =>
        {
            h.Cache.BeforeInsert = null;
            added = h.Add(_bob, filter);
        };

        Assert.True(h.Match("a/b").IsEmpty);
        Assert.NotNull(added);
        Assert.False(h.Match("a/b").IsEmpty);
        Assert.Equal(1, h.Cache.Count);

        // The same for a removal.
        h.Add(_alice, "a/#");
        h.Cache.BeforeInsert = _ =>
        {
            h.Cache.BeforeInsert = null;
            h.Remove(added);
        };
        var walked = h.Match("a/b");
        Assert.Equal(2, walked.SubscriberCount + walked.Groups.Length);
        var now = h.Match("a/b");
        Assert.Equal(1, now.SubscriberCount + now.Groups.Length);
    }
}
