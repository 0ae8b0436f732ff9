
namespace Daakia.Core.Tests;

/// <summary>Runs on every store variant (see <see cref="DeliveryModeTestsOnMemoryStore"/> and <see cref="DeliveryModeTestsOnChaosStore"/>).</summary>
public abstract class DeliveryModeTests
{
    /// <summary>True: the chaos store (late, out-of-order completions); false: the synchronous in-memory store.</summary>
    protected abstract bool OnChaosStore { get; }

    private EngineFixture New(Action<DaakiaCoreOptions>? configure = null) => new(configure, OnChaosStore);

    [Fact]
    public async Task All_EveryConnectionGetsEveryLetter_AckFromOneRemovesIt()
    {
        await using var f = await New().StartAsync();
        var (_, phone) = await f.ConnectAsync("bob");
        var (_, laptop) = await f.ConnectAsync("bob");
        await f.SendAsync("alice", "bob", "1");
        Assert.Single(phone.Letters);
        Assert.Single(laptop.Letters);
        await f.AckAsync("bob", phone.Letters.Single());
        var (_, tablet) = await f.ConnectAsync("bob");
        Assert.Empty(tablet.Letters);
    }

    [Fact]
    public async Task All_NewConnection_GetsLettersStillUnacked()
    {
        await using var f = await New().StartAsync();
        var (_, phone) = await f.ConnectAsync("bob");
        await f.SendAsync("alice", "bob", "1");
        var (_, laptop) = await f.ConnectAsync("bob");
        Assert.Equal(phone.Letters.Single().Id, laptop.Letters.Single().Id);
    }

    [Fact]
    public async Task Any_SpreadsLettersAcrossConnections_EachExactlyOnce()
    {
        await using var f = await New().StartAsync();
        var (_, w1) = await f.ConnectAsync("svc", DeliveryMode.Any);
        var (_, w2) = await f.ConnectAsync("svc", DeliveryMode.Any);
        for (var i = 0; i < 20; i++)
        {
            await f.SendAsync("alice", "svc", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal(Enumerable.Range(0, 20), w1.Numbers().Concat(w2.Numbers()).Order());
        Assert.InRange(w1.Letters.Count, 5, 15);
    }

    [Fact]
    public async Task Any_ConnectionClosingWithUnackedLetters_HandsThemToAnother()
    {
        await using var f = await New().StartAsync();
        var (c1, w1) = await f.ConnectAsync("svc", DeliveryMode.Any);
        var (_, w2) = await f.ConnectAsync("svc", DeliveryMode.Any);
        for (var i = 0; i < 10; i++)
        {
            await f.SendAsync("alice", "svc", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var lost = w1.Numbers();
        Assert.NotEmpty(lost);
        f.Engine.Disconnect(c1);
        await f.SettleAsync();
        Assert.Equal(Enumerable.Range(0, 10), w2.Numbers().Order());
    }

    [Fact]
    public async Task Any_RespectsTheInflightWindowPerConnection()
    {
        await using var f = await New(o => o.MaxInflightPerConnection = 2).StartAsync();
        var (_, w1) = await f.ConnectAsync("svc", DeliveryMode.Any);
        var (_, w2) = await f.ConnectAsync("svc", DeliveryMode.Any);
        for (var i = 0; i < 10; i++)
        {
            await f.SendAsync("alice", "svc", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal(2, w1.Letters.Count);
        Assert.Equal(2, w2.Letters.Count);
        await f.AckAsync("svc", w1.Letters.ToArray());
        Assert.Equal(4, w1.Letters.Count);
    }

    [Fact]
    public async Task SwitchingMode_RedeliversInFlightUnderTheNewMode()
    {
        await using var f = await New().StartAsync();
        var (c1, w1) = await f.ConnectAsync("svc");
        var (_, w2) = await f.ConnectAsync("svc");
        await f.SendAsync("alice", "svc", "1");
        Assert.Single(w1.Letters);
        Assert.Single(w2.Letters);
        f.Engine.SetDeliveryMode(c1, DeliveryMode.Any);
        await f.SettleAsync();
        await f.SendAsync("alice", "svc", "2");
        // Under `any`, the new letter goes to exactly one of the two connections.
        Assert.Equal(1, w1.Numbers().Count(n => n == 2) + w2.Numbers().Count(n => n == 2));
    }

    [Fact]
    public async Task SlowConsumer_FullOutbox_IsClosedAndRemoved()
    {
        await using var f = await New().StartAsync();
        var (_, slow) = await f.ConnectAsync("bob", target: new RecordingTarget(capacity: 1));
        await f.SendAsync("alice", "bob", "1");
        await f.SendAsync("alice", "bob", "2");
        Assert.Equal(CloseReason.SlowConsumer, slow.Closed);
        Assert.False(f.Engine.Presence.IsOnline(EngineFixture.Tenant, EngineFixture.Id("bob")));
        Assert.Equal(2, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));
    }

    [Fact]
    public async Task MaxConnectionsPerClient_IsEnforced()
    {
        await using var f = await New(o => o.MaxConnectionsPerClient = 2).StartAsync();
        await f.ConnectAsync("bob");
        await f.ConnectAsync("bob");
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => f.ConnectAsync("bob"));
        Assert.Equal(DaakiaErrorCode.LimitExceeded, ex.Code);
    }
}
