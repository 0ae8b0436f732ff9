namespace Daakia.Core.Tests;

/// <summary>
/// The trie and its cache against a brute-force matcher (<see cref="TopicNames.Matches"/> over every live
/// subscription), under random subscribe, re-subscribe and unsubscribe churn: single-threaded step by step, and with
/// readers matching concurrently while a writer churns.
/// </summary>
public sealed class TopicChurnTests
{
    private static readonly string[] Levels = ["a", "b", "c", ""];
    private static readonly string[] DollarLevels = ["$sys", "$presence"];

    [Theory]
    [InlineData(1, 4096)]
    [InlineData(2, 4096)]
    [InlineData(3, 16)]
    [InlineData(4, 1)]
    [InlineData(5, 0)]
    public void Match_UnderRandomChurn_AgreesWithBruteForce(int seed, int cacheSize)
    {
        var random = new Random(seed);
        var h = new TopicTrieHarness(cacheSize);
        var owners = Enumerable.Range(0, 6).Select(i => new TopicTestSubscriber("o" + i)).ToArray();
        var topics = Enumerable.Range(0, 80).Select(_ => RandomTopic(random)).Distinct().ToArray();
        var live = new Dictionary<(ISubscriber, string), Subscription>();
        var matches = 0;

        for (var step = 0; step < 3000; step++)
        {
            var roll = random.Next(10);
            if (roll < 5 || live.Count == 0)
            {
                var owner = owners[random.Next(owners.Length)];
                var filter = RandomFilter(random);
                var options = RandomOptions(random, filter);
                if (live.TryGetValue((owner, filter), out var old))
                {
                    live[(owner, filter)] = h.Replace(old, options);
                }
                else
                {
                    live[(owner, filter)] = h.Add(owner, filter, options);
                }
            }
            else if (roll < 8)
            {
                var victim = live.ElementAt(random.Next(live.Count));
                Assert.True(h.Remove(victim.Value));
                live.Remove(victim.Key);
            }

            for (var k = 0; k < 4; k++)
            {
                var topic = topics[random.Next(topics.Length)];
                AssertMatches(live.Values, topic, h.Match(topic), $"seed {seed}, step {step}");
                matches++;
            }
        }

        Assert.Equal(live.Count, h.Trie.Count);
        foreach (var topic in topics)
        {
            AssertMatches(live.Values, topic, h.Match(topic), $"seed {seed}, final");
        }

        if (cacheSize >= topics.Length)
        {
            // Otherwise this proves nothing about invalidation: most lookups must have been hits on entries that
            // survived earlier changes.
            Assert.InRange(h.Cache.Misses, 1, matches / 2);
        }
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public async Task Match_WhileAWriterChurns_NeverLosesStableSubscriptionsAndEndsExact(int seed)
    {
        var h = new TopicTrieHarness(cacheSize: 64);
        var setup = new Random(seed);
        var topics = Enumerable.Range(0, 60).Select(_ => RandomTopic(setup)).Distinct().ToArray();

        // Subscriptions that stay the whole time: every concurrent match must include them.
        var stableOwners = Enumerable.Range(0, 3).Select(i => new TopicTestSubscriber("stable" + i)).ToArray();
        var stable = new List<Subscription>();
        for (var i = 0; i < 12; i++)
        {
            var filter = RandomFilter(setup);
            if (!stable.Any(s => s.Filter == filter && ReferenceEquals(s.Owner, stableOwners[i % 3])))
            {
                stable.Add(h.Add(stableOwners[i % 3], filter, RandomOptions(setup, filter)));
            }
        }

        var churnOwners = Enumerable.Range(0, 4).Select(i => new TopicTestSubscriber("churn" + i)).ToArray();
        var live = new Dictionary<(ISubscriber, string), Subscription>();
        using var done = new CancellationTokenSource();
        var failures = new List<string>();

        async Task ReadAsync(int readerSeed)
        {
            await Task.Yield();
            var random = new Random(readerSeed);
            while (!done.IsCancellationRequested)
            {
                var topic = topics[random.Next(topics.Length)];
                var m = h.Match(topic);
                var seen = new HashSet<Subscription>();
                for (var i = 0; i < m.SubscriberCount; i++)
                {
                    seen.UnionWith(m.Subscriptions(i).ToArray());
                }

                foreach (var g in m.Groups)
                {
                    seen.UnionWith(g.Members);
                }

                foreach (var s in stable)
                {
                    if (TopicNames.Matches(s.TopicFilter, topic) && !seen.Contains(s))
                    {
                        lock (failures)
                        {
                            failures.Add($"'{topic}' lost stable '{s.Filter}' of {s.Owner}");
                        }
                    }
                }
            }
        }

        var readers = new[] { Task.Run(() => ReadAsync(seed * 100 + 1)), Task.Run(() => ReadAsync(seed * 100 + 2)) };
        var writer = Task.Run(() =>
        {
            var random = new Random(seed);
            for (var step = 0; step < 20_000; step++)
            {
                var owner = churnOwners[random.Next(churnOwners.Length)];
                var filter = RandomFilter(random);
                if (live.TryGetValue((owner, filter), out var s) && random.Next(3) == 0)
                {
                    live[(owner, filter)] = h.Replace(s, RandomOptions(random, filter));
                }
                else if (live.Remove((owner, filter), out s))
                {
                    h.Remove(s);
                }
                else
                {
                    live[(owner, filter)] = h.Add(owner, filter, RandomOptions(random, filter));
                }
            }
        });

        await writer;
        await done.CancelAsync();
        await Task.WhenAll(readers);

        Assert.Empty(failures);
        // Whatever readers cached while the writer ran must match the final state: no stale entry survived.
        var all = stable.Concat(live.Values).ToList();
        foreach (var topic in topics)
        {
            AssertMatches(all, topic, h.Match(topic), $"seed {seed}, after churn");
        }
    }

    private static void AssertMatches(IEnumerable<Subscription> live, string topic, TopicMatch actual, string context)
    {
        var matching = live.Where(s => TopicNames.Matches(s.TopicFilter, topic)).ToList();

        var expectedPlain = matching.Where(s => s.ShareGroup is null)
            .GroupBy(s => s.Owner)
            .ToDictionary(g => g.Key, g => g.ToHashSet());
        Assert.True(expectedPlain.Count == actual.SubscriberCount, $"{context}: '{topic}' has {actual.SubscriberCount} subscribers, expected {expectedPlain.Count}");
        for (var i = 0; i < actual.SubscriberCount; i++)
        {
            Assert.True(expectedPlain.TryGetValue(actual.Subscriber(i), out var subs), $"{context}: '{topic}' routed to {actual.Subscriber(i)}");
            Assert.True(subs.SetEquals(actual.Subscriptions(i).ToArray()), $"{context}: '{topic}' gave {actual.Subscriber(i)} [{string.Join(", ", actual.Subscriptions(i).ToArray().Select(s => s.Filter))}], expected [{string.Join(", ", subs.Select(s => s.Filter))}]");
        }

        Assert.Equal(expectedPlain.Values.Any(set => set.Any(s => s.Options.NoLocal)), actual.HasNoLocal);

        var expectedGroups = matching.Where(s => s.ShareGroup is not null)
            .GroupBy(s => (s.ShareGroup!, s.TopicFilter))
            .ToDictionary(g => g.Key, g => g.ToHashSet());
        Assert.True(expectedGroups.Count == actual.Groups.Length, $"{context}: '{topic}' has {actual.Groups.Length} groups, expected {expectedGroups.Count}");
        foreach (var g in actual.Groups)
        {
            Assert.True(expectedGroups.TryGetValue((g.Name, g.TopicFilter), out var members), $"{context}: '{topic}' routed to group {g.Name}/{g.TopicFilter}");
            Assert.True(members.SetEquals(g.Members), $"{context}: group {g.Name}/{g.TopicFilter} members differ");
        }
    }

    private static readonly DaakiaCoreOptions Options = new();

    private static string RandomTopic(Random random)
    {
        string topic;
        do
        {
            topic = RandomTopicOrEmpty(random);
        }
        while (!TopicNames.IsValidName(topic, Options, out _));

        return topic;
    }

    private static string RandomFilter(Random random)
    {
        string filter;
        do
        {
            filter = RandomFilterOrEmpty(random);
        }
        while (!TopicNames.IsValidFilter(filter, Options, out _));

        return filter;
    }

    private static string RandomTopicOrEmpty(Random random)
    {
        var levels = new string[random.Next(1, 5)];
        for (var i = 0; i < levels.Length; i++)
        {
            levels[i] = Levels[random.Next(Levels.Length)];
        }

        if (random.Next(5) == 0)
        {
            levels[0] = DollarLevels[random.Next(DollarLevels.Length)];
        }

        return string.Join('/', levels);
    }

    private static string RandomFilterOrEmpty(Random random)
    {
        var levels = new string[random.Next(1, 5)];
        for (var i = 0; i < levels.Length; i++)
        {
            levels[i] = random.Next(4) == 0 ? "+" : Levels[random.Next(Levels.Length)];
        }

        if (random.Next(4) == 0)
        {
            levels[^1] = "#";
        }

        if (random.Next(6) == 0)
        {
            levels[0] = DollarLevels[random.Next(DollarLevels.Length)];
        }

        var filter = string.Join('/', levels);
        return random.Next(5) == 0 ? $"$share/g{random.Next(2)}/{filter}" : filter;
    }

    private static SubscriptionOptions RandomOptions(Random random, string filter) => new()
    {
        MaxQos = (QualityOfService)random.Next(3),
        NoLocal = !filter.StartsWith(TopicNames.SharePrefix, StringComparison.Ordinal) && random.Next(3) == 0,
        SubscriptionIdentifier = random.Next(2) == 0 ? null : random.Next(1, 100),
    };
}
