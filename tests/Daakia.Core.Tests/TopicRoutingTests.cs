
namespace Daakia.Core.Tests;

public sealed class TopicRoutingTests
{
    [Fact]
    public async Task Publish_OverlappingFilters_DeliverOncePerConnection()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (c, t) = await f.ConnectAsync("sub");
        f.Engine.Topics.Subscribe(c, ["a/+", "a/#", "a/b"]);
        Assert.Equal(1, f.Engine.Topics.Publish(EngineFixture.Tenant, null, "a/b", EngineFixture.Json("1")));
        Assert.Single(t.Publications);
    }

    [Fact]
    public async Task Unsubscribe_AndDisconnect_StopDelivery()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (c1, t1) = await f.ConnectAsync("one");
        var (c2, t2) = await f.ConnectAsync("two");
        f.Engine.Topics.Subscribe(c1, ["x/#"]);
        f.Engine.Topics.Subscribe(c2, ["x/#"]);
        Assert.Equal(2, f.Engine.Topics.Publish(EngineFixture.Tenant, null, "x/y", EngineFixture.Json("1")));
        f.Engine.Topics.Unsubscribe(c1, ["x/#"]);
        f.Engine.Disconnect(c2);
        Assert.Equal(0, f.Engine.Topics.Publish(EngineFixture.Tenant, null, "x/y", EngineFixture.Json("2")));
        Assert.Single(t1.Publications);
        Assert.Single(t2.Publications);
    }

    [Fact]
    public async Task Subscribe_BeyondTheLimit_IsLimitExceededAndAddsNothing()
    {
        await using var f = await new EngineFixture(o => o.MaxSubscriptionsPerConnection = 2).StartAsync();
        var (c, t) = await f.ConnectAsync("sub");
        f.Engine.Topics.Subscribe(c, ["a"]);
        var ex = Assert.Throws<DaakiaException>(() => f.Engine.Topics.Subscribe(c, ["b", "c"]));
        Assert.Equal(DaakiaErrorCode.LimitExceeded, ex.Code);
        Assert.Equal(0, f.Engine.Topics.Publish(EngineFixture.Tenant, null, "b", EngineFixture.Json("1")));
    }

    [Fact]
    public async Task Publish_ReservedOrWildcardTopics_AreRefused()
    {
        await using var f = await new EngineFixture().StartAsync();
        Assert.Equal(DaakiaErrorCode.Forbidden, Assert.Throws<DaakiaException>(() => f.Engine.Topics.Publish(EngineFixture.Tenant, null, "$presence/x", EngineFixture.Json("1"))).Code);
        Assert.Equal(DaakiaErrorCode.InvalidArgument, Assert.Throws<DaakiaException>(() => f.Engine.Topics.Publish(EngineFixture.Tenant, null, "a/+", EngineFixture.Json("1"))).Code);
    }

    [Fact]
    public async Task Publish_ToAFullOutbox_IsDroppedWithoutClosingTheConnection()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (c, t) = await f.ConnectAsync("sub", target: new RecordingTarget(capacity: 1));
        f.Engine.Topics.Subscribe(c, ["t"]);
        f.Engine.Topics.Publish(EngineFixture.Tenant, null, "t", EngineFixture.Json("1"));
        Assert.Equal(0, f.Engine.Topics.Publish(EngineFixture.Tenant, null, "t", EngineFixture.Json("2")));
        Assert.Null(t.Closed);
        Assert.Single(t.Publications);
    }

    [Fact]
    public async Task Topics_DoNotCrossTenants()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (c, t) = await f.ConnectAsync("sub", tenant: TenantId.Parse("other"));
        f.Engine.Topics.Subscribe(c, ["t"]);
        Assert.Equal(0, f.Engine.Topics.Publish(EngineFixture.Tenant, null, "t", EngineFixture.Json("1")));
        Assert.Empty(t.Publications);
    }

    [Fact]
    public async Task RouteCache_IsInvalidatedBySubscriptionChanges()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (c, t) = await f.ConnectAsync("sub");
        Assert.Equal(0, f.Engine.Topics.Publish(EngineFixture.Tenant, null, "late/topic", EngineFixture.Json("1")));
        f.Engine.Topics.Subscribe(c, ["late/+"]);
        Assert.Equal(1, f.Engine.Topics.Publish(EngineFixture.Tenant, null, "late/topic", EngineFixture.Json("2")));
        Assert.Single(t.Publications);
    }
}
