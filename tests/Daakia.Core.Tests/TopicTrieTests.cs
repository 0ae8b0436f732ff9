namespace Daakia.Core.Tests;

public sealed class TopicTrieTests
{
    private readonly TopicTrieHarness _h = new();
    private readonly TopicTestSubscriber _alice = new("alice");
    private readonly TopicTestSubscriber _bob = new("bob");

    [Fact]
    public void Match_OverlappingFilters_GiveOneEntryPerSubscriberWithEveryMatchingSubscription()
    {
        var plus = _h.Add(_alice, "a/+", new SubscriptionOptions { MaxQos = QualityOfService.AtLeastOnce, SubscriptionIdentifier = 1 });
        var hash = _h.Add(_alice, "a/#", new SubscriptionOptions { MaxQos = QualityOfService.ExactlyOnce, SubscriptionIdentifier = 2 });
        var exact = _h.Add(_alice, "a/b");
        var bobs = _h.Add(_bob, "a/b");
        _h.Add(_bob, "a/c");

        var m = _h.Match("a/b");

        Assert.Equal(2, m.SubscriberCount);
        var byOwner = Enumerable.Range(0, m.SubscriberCount).ToDictionary(i => m.Subscriber(i), i => m.Subscriptions(i).ToArray());
        Assert.Equal(new HashSet<Subscription> { plus, hash, exact }, byOwner[_alice].ToHashSet());
        Assert.Equal([bobs], byOwner[_bob]);
        Assert.Empty(m.Groups);
    }

    [Fact]
    public void Match_OneSubscriptionPerSubscriber_IsTheCommonShape()
    {
        _h.Add(_alice, "a/+");
        _h.Add(_bob, "#");
        var m = _h.Match("a/b");
        Assert.Equal(2, m.SubscriberCount);
        Assert.Equal(1, m.Subscriptions(0).Length);
        Assert.Equal(1, m.Subscriptions(1).Length);
    }

    [Theory]
    [InlineData("#")]
    [InlineData("+/bob")]
    [InlineData("+/#")]
    [InlineData("$share/g/#")]
    public void Match_DollarTopics_AreNotMatchedByFirstLevelWildcards(string filter)
    {
        _h.Add(_alice, filter);
        Assert.True(_h.Match("$presence/bob").IsEmpty);
        Assert.False(_h.Match("presence/bob").IsEmpty);
    }

    [Fact]
    public void Match_DollarTopics_AreMatchedByFiltersThatSpellTheDollarLevel()
    {
        _h.Add(_alice, "$presence/+");
        _h.Add(_bob, "$presence/#");
        Assert.Equal(2, _h.Match("$presence/bob").SubscriberCount);
    }

    [Theory]
    [InlineData("a/#", "a", true)]
    [InlineData("a/+", "a", false)]
    [InlineData("a/+", "a/", true)]
    [InlineData("+/#", "a", true)]
    [InlineData("a//c", "a//c", true)]
    [InlineData("/a", "/a", true)]
    [InlineData("+/a", "/a", true)]
    [InlineData("#", "/", true)]
    public void Match_EdgeLevels_AgreeWithTheMatcher(string filter, string topic, bool matches)
    {
        Assert.Equal(matches, TopicNames.Matches(filter, topic));
        _h.Add(_alice, filter);
        Assert.Equal(matches ? 1 : 0, _h.Match(topic).SubscriberCount);
    }

    [Fact]
    public void Match_SharedSubscriptions_AreOneGroupPerShareNameAndFilter()
    {
        var a1 = _h.Add(_alice, "$share/g/jobs/+");
        var b1 = _h.Add(_bob, "$share/g/jobs/+");
        _h.Add(_bob, "$share/h/jobs/+");
        _h.Add(_alice, "$share/g/jobs/#");
        _h.Add(_alice, "jobs/+");

        var m = _h.Match("jobs/1");

        Assert.Equal(1, m.SubscriberCount);
        Assert.Equal(3, m.Groups.Length);
        var g = Assert.Single(m.Groups, x => x.Name == "g" && x.TopicFilter == "jobs/+");
        Assert.Equal([a1, b1], g.Members);
        Assert.All(g.Members, s => Assert.Equal("g", s.ShareGroup));
    }

    [Fact]
    public void SharedGroup_NextStart_GoesRoundRobin()
    {
        _h.Add(_alice, "$share/g/t");
        _h.Add(_bob, "$share/g/t");
        _h.Add(new TopicTestSubscriber("carol"), "$share/g/t");
        var group = Assert.Single(_h.Match("t").Groups);
        var picks = Enumerable.Range(0, 9).Select(_ => group.NextStart(group.Members.Length)).ToList();
        Assert.Equal([3, 3, 3], picks.GroupBy(p => p).Select(x => x.Count()));
    }

    [Fact]
    public void Replace_ChangesTheOptionsMatchedWithoutAddingASubscription()
    {
        var s = _h.Add(_alice, "a/+");
        var s2 = _h.Replace(s, new SubscriptionOptions { MaxQos = QualityOfService.AtLeastOnce });
        Assert.Equal(1, _h.Trie.Count);
        Assert.Same(s2, _h.Match("a/b").Subscriptions(0)[0]);
    }

    [Fact]
    public void Remove_PrunesTheTrieAndReportsUnknownSubscriptions()
    {
        var s = _h.Add(_alice, "a/b/c");
        var shared = _h.Add(_bob, "$share/g/a/b/c");
        Assert.True(_h.Remove(s));
        Assert.False(_h.Remove(s));
        Assert.False(_h.Remove(new Subscription(_alice, "$share/g/a/b/c", default)));
        Assert.True(_h.Remove(shared));
        Assert.Equal(0, _h.Trie.Count);
        Assert.True(_h.Match("a/b/c").IsEmpty);
    }

    [Fact]
    public void LargeNodes_SwitchToDictionariesAndBackWithoutLosingAnything()
    {
        // Past the small-array limits both for subscriptions on one filter and for children of one level.
        var owners = Enumerable.Range(0, 100).Select(i => new TopicTestSubscriber("c" + i)).ToArray();
        var onOne = owners.Select(o => _h.Add(o, "hot/topic")).ToList();
        var onMany = owners.Select((o, i) => _h.Add(o, $"dev/{i}/cmd")).ToList();
        Assert.Equal(100, _h.Match("hot/topic").SubscriberCount);
        Assert.Same(owners[42], _h.Match("dev/42/cmd").Subscriber(0));

        for (var i = 0; i < 95; i++)
        {
            Assert.True(_h.Remove(onOne[i]));
            Assert.True(_h.Remove(onMany[i]));
        }

        Assert.Equal(5, _h.Match("hot/topic").SubscriberCount);
        Assert.True(_h.Match("dev/42/cmd").IsEmpty);
        Assert.Same(owners[97], _h.Match("dev/97/cmd").Subscriber(0));
        Assert.Equal(10, _h.Trie.Count);
    }
}
