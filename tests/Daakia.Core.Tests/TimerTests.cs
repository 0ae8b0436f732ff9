using Daakia.Testing;

namespace Daakia.Core.Tests;

/// <summary>Runs on every store variant (see <see cref="TimerTestsOnMemoryStore"/> and <see cref="TimerTestsOnChaosStore"/>).</summary>
public abstract class TimerTests
{
    /// <summary>True: the chaos store (late, out-of-order completions); false: the synchronous in-memory store.</summary>
    protected abstract bool OnChaosStore { get; }

    private EngineFixture New(Action<DaakiaCoreOptions>? configure = null) => new(configure, OnChaosStore);

    [Fact]
    public async Task Heartbeat_SilentPastTwoIntervals_IsClosedAndGoesOffline()
    {
        await using var f = await New().StartAsync();
        var (conn, target) = await f.ConnectAsync("bob", heartbeat: TimeSpan.FromSeconds(10));
        f.Time.Advance(TimeSpan.FromSeconds(15));
        Assert.Null(target.Closed);
        f.Time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(CloseReason.HeartbeatTimeout, target.Closed);
        Assert.False(f.Engine.Presence.IsOnline(EngineFixture.Tenant, conn.Client));
    }

    [Fact]
    public async Task Heartbeat_TouchKeepsTheConnectionAlive()
    {
        await using var f = await New().StartAsync();
        var (conn, target) = await f.ConnectAsync("bob", heartbeat: TimeSpan.FromSeconds(10));
        for (var i = 0; i < 10; i++)
        {
            f.Time.Advance(TimeSpan.FromSeconds(15));
            conn.Touch(f.Time);
        }

        Assert.Null(target.Closed);
        Assert.True(f.Engine.Presence.IsOnline(EngineFixture.Tenant, conn.Client));
    }

    [Fact]
    public async Task Heartbeat_RequestedIntervalIsClampedToTheConfiguredRange()
    {
        await using var f = await New(o => o.MinHeartbeat = TimeSpan.FromSeconds(5)).StartAsync();
        var (conn, _) = await f.ConnectAsync("bob", heartbeat: TimeSpan.FromMilliseconds(10));
        Assert.Equal(TimeSpan.FromSeconds(5), conn.Heartbeat);
    }

    [Fact]
    public async Task Ttl_ExpiredLetterToOfflineClient_IsRemovedAndRecordedInTheActivityLog()
    {
        await using var f = await New().StartAsync();
        var receipt = await f.SendAsync("alice", "bob", "1", TimeSpan.FromSeconds(30));
        await f.SendAsync("alice", "bob", "2");
        f.Time.Advance(TimeSpan.FromSeconds(31));
        await f.Engine.SweepExpiredAsync();

        await f.SettleAsync();
        Assert.Equal(1, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));
        var expired = (await f.Engine.Activity.ReadAsync(EngineFixture.Tenant, 0, 10)).Single(e => e.Kind == ActivityKinds.Expired);
        Assert.Equal("bob", expired.Subject);
        Assert.Equal(receipt.MessageId.ToString(), expired.Detail);
        Assert.Equal(EngineFixture.Id("alice"), expired.Actor);
        var (_, bob) = await f.ConnectAsync("bob");
        Assert.Equal([2], bob.Numbers());
    }

    [Fact]
    public async Task Ttl_ExpiredLetterInAnOnlineWindow_IsNotDeliveredAndLeavesTheWindow()
    {
        await using var f = await New(o => o.MaxInflightPerConnection = 1).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        await f.SendAsync("alice", "bob", "1");
        await f.SendAsync("alice", "bob", "2", TimeSpan.FromSeconds(5));
        await f.SendAsync("alice", "bob", "3");
        Assert.Equal([1], bob.Numbers());
        f.Time.Advance(TimeSpan.FromSeconds(6));
        await f.AckAsync("bob", bob.Letters.ToArray());
        await f.Engine.SweepExpiredAsync();
        await f.SettleAsync();
        Assert.Equal([1, 3], bob.Numbers());
    }

    [Fact]
    public async Task Drain_RefusesNewWorkAndStopClosesConnectionsWithShutdown()
    {
        await using var f = await New().StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        f.Engine.BeginDrain();
        var send = await Assert.ThrowsAsync<DaakiaException>(() => f.SendAsync("alice", "bob").AsTask());
        Assert.Equal(DaakiaErrorCode.Unavailable, send.Code);
        await Assert.ThrowsAsync<DaakiaException>(() => f.ConnectAsync("carol"));
        await f.Engine.StopAsync();
        Assert.Equal(CloseReason.ServerShutdown, bob.Closed);
    }

    [Fact]
    public async Task ActivityRetention_OldEntriesArePrunedByTheSweep()
    {
        await using var f = await New(o => o.ActivityRetention = TimeSpan.FromHours(1)).StartAsync();
        var (c, _) = await f.ConnectAsync("bob");
        f.Engine.Disconnect(c);
        await f.SettleAsync();
        Assert.NotEmpty(await f.Engine.Activity.ReadAsync(EngineFixture.Tenant, 0, 10));
        f.Time.Advance(TimeSpan.FromHours(2));
        await f.Engine.SweepExpiredAsync();
        await f.SettleAsync();
        await Eventually.True(async () => (await f.Engine.Activity.ReadAsync(EngineFixture.Tenant, 0, 10)).Count == 0, "entries older than the retention are pruned");
    }
}
