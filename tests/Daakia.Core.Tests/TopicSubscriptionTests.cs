namespace Daakia.Core.Tests;

/// <summary>Subscriptions with options and shared groups, through the engine.</summary>
public sealed class TopicSubscriptionTests
{
    private static int Publish(EngineFixture f, string topic, string? author = null) =>
        f.Engine.Topics.Publish(EngineFixture.Tenant, author is null ? null : EngineFixture.Id(author), topic, EngineFixture.Json("1"));

    [Fact]
    public async Task SharedSubscription_EachMessageGoesToOneMemberInTurn()
    {
        await using var f = await new EngineFixture().StartAsync();
        var members = new List<RecordingTarget>();
        for (var i = 0; i < 3; i++)
        {
            var (c, t) = await f.ConnectAsync("worker" + i);
            f.Engine.Topics.Subscribe(c, ["$share/workers/jobs/+"]);
            members.Add(t);
        }

        var (watcher, all) = await f.ConnectAsync("watcher");
        f.Engine.Topics.Subscribe(watcher, ["jobs/#"]);

        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(2, Publish(f, "jobs/" + i));
        }

        Assert.All(members, t => Assert.Equal(2, t.Publications.Count));
        Assert.Equal(6, all.Publications.Count);
    }

    [Fact]
    public async Task SharedSubscription_EachGroupAndEachFilterGetsItsOwnCopy()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (a, ta) = await f.ConnectAsync("a");
        var (b, tb) = await f.ConnectAsync("b");
        f.Engine.Topics.Subscribe(a, ["$share/one/t", "$share/two/t", "$share/one/+", "t"]);
        f.Engine.Topics.Subscribe(b, ["$share/one/t"]);

        // Group one on 't' (a or b), group two on 't' (a), group one on '+' (a), and a's own 't': four copies; a has
        // the non-shared copy however many shared ones it also gets [MQTT 5.0 §4.8.2].
        Assert.Equal(4, Publish(f, "t"));
        Assert.Equal(4, ta.Publications.Count + tb.Publications.Count);
        Assert.InRange(ta.Publications.Count, 3, 4);
    }

    [Fact]
    public async Task SharedSubscription_AMemberWithAFullOutboxIsPassedOver()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (full, tFull) = await f.ConnectAsync("full", target: new RecordingTarget(capacity: 0));
        var (ok, tOk) = await f.ConnectAsync("ok");
        f.Engine.Topics.Subscribe(full, ["$share/g/t"]);
        f.Engine.Topics.Subscribe(ok, ["$share/g/t"]);

        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(1, Publish(f, "t"));
        }

        Assert.Empty(tFull.Publications);
        Assert.Equal(4, tOk.Publications.Count);
    }

    [Fact]
    public async Task SharedSubscription_EndsWithItsLastMember()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (a, ta) = await f.ConnectAsync("a");
        var (b, tb) = await f.ConnectAsync("b");
        f.Engine.Topics.Subscribe(a, ["$share/g/t"]);
        f.Engine.Topics.Subscribe(b, ["$share/g/t"]);
        Assert.Equal(1, Publish(f, "t"));

        f.Engine.Disconnect(a);
        Assert.Equal(1, Publish(f, "t"));
        Assert.Equal(2, ta.Publications.Count + tb.Publications.Count);

        f.Engine.Topics.Unsubscribe(b, ["$share/g/t"]);
        Assert.Equal(0, Publish(f, "t"));
    }

    [Fact]
    public async Task NoLocal_KeepsAClientsOwnPublicationsFromIt()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (alice, ta) = await f.ConnectAsync("alice");
        var (bob, tb) = await f.ConnectAsync("bob");
        f.Engine.Topics.Subscribe(alice, [new SubscriptionRequest("chat/#", new SubscriptionOptions { NoLocal = true })]);
        f.Engine.Topics.Subscribe(bob, [new SubscriptionRequest("chat/#", new SubscriptionOptions { NoLocal = true })]);

        Assert.Equal(1, Publish(f, "chat/room", author: "alice"));
        Assert.Empty(ta.Publications);
        Assert.Single(tb.Publications);

        Assert.Equal(2, Publish(f, "chat/room"));

        // A subscription without no-local on the same topic still brings it one copy.
        f.Engine.Topics.Subscribe(alice, ["chat/room"]);
        Assert.Equal(2, Publish(f, "chat/room", author: "alice"));
        Assert.Equal(2, ta.Publications.Count);
        Assert.Equal(1, Publish(f, "chat/other", author: "alice"));
    }

    [Fact]
    public async Task Subscribe_AgainWithNewOptions_ReplacesTheSubscription()
    {
        await using var f = await new EngineFixture(o => o.MaxSubscriptionsPerConnection = 2).StartAsync();
        var (c, t) = await f.ConnectAsync("sub");
        Assert.Equal([true], f.Engine.Topics.Subscribe(c, [new SubscriptionRequest("a/+")]));
        Assert.Equal([false], f.Engine.Topics.Subscribe(c, [new SubscriptionRequest("a/+", new SubscriptionOptions { MaxQos = QualityOfService.AtLeastOnce })]));
        Assert.Equal([false], f.Engine.Topics.Subscribe(c, [new SubscriptionRequest("a/+", new SubscriptionOptions { MaxQos = QualityOfService.AtLeastOnce })]));
        Assert.Equal(QualityOfService.AtLeastOnce, c.Subscriptions["a/+"].Options.MaxQos);
        Assert.Equal(1, Publish(f, "a/b"));

        // A filter named twice counts once against the limit (the later options win).
        Assert.Equal([true, false], f.Engine.Topics.Subscribe(c, [new SubscriptionRequest("b"), new SubscriptionRequest("b", new SubscriptionOptions { SubscriptionIdentifier = 7 })]));
        Assert.Equal(7, c.Subscriptions["b"].Options.SubscriptionIdentifier);
        Assert.Single(t.Publications);
    }

    public static TheoryData<string, SubscriptionOptions> InvalidRequests => new()
    {
        { "$share/g/t", new SubscriptionOptions { NoLocal = true } },
        { "t", new SubscriptionOptions { MaxQos = (QualityOfService)3 } },
        { "t", new SubscriptionOptions { RetainHandling = (RetainHandling)3 } },
        { "t", new SubscriptionOptions { SubscriptionIdentifier = 0 } },
        { "t", new SubscriptionOptions { SubscriptionIdentifier = SubscriptionOptions.MaxSubscriptionIdentifier + 1 } },
        { "$share//t", default },
        { "$share/g", default },
        { "$share/g/", default },
        { "$share/g+/t", default },
        { "$share/g/a/#/b", default },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public async Task Subscribe_InvalidFilterOrOptions_IsInvalidAndAddsNothing(string filter, SubscriptionOptions options)
    {
        await using var f = await new EngineFixture().StartAsync();
        var (c, _) = await f.ConnectAsync("sub");
        var ex = Assert.Throws<DaakiaException>(() => f.Engine.Topics.Subscribe(c, [new SubscriptionRequest("ok"), new SubscriptionRequest(filter, options)]));
        Assert.Equal(DaakiaErrorCode.InvalidArgument, ex.Code);
        Assert.False(c.HasSubscriptions);
    }
}
