
namespace Daakia.Core.Tests;

public sealed class PresenceTests
{
    [Fact]
    public async Task Presence_OnlineAwayOffline_ArePublishedOnPresenceTopic()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (watcherConn, watcher) = await f.ConnectAsync("watcher");
        f.Engine.Topics.Subscribe(watcherConn, ["$presence/bob"]);

        var (bobConn, _) = await f.ConnectAsync("bob");
        Assert.Equal(PresenceStatus.Online, watcher.Publications.Last().Presence!.Status);

        var away = f.Engine.Presence.Set(bobConn, new PresenceUpdate(Available: false, StatusText: "lunch"));
        Assert.Equal(PresenceStatus.Away, away.Status);
        Assert.Equal("lunch", watcher.Publications.Last().Presence!.StatusText);

        f.Engine.Presence.Set(bobConn, new PresenceUpdate(Available: true, Active: false));
        Assert.Equal(PresenceStatus.Away, watcher.Publications.Last().Presence!.Status);
        f.Engine.Presence.Set(bobConn, new PresenceUpdate(Active: true, ClearStatusText: true));
        Assert.Equal(PresenceStatus.Online, watcher.Publications.Last().Presence!.Status);
        Assert.Null(watcher.Publications.Last().Presence!.StatusText);

        f.Engine.Disconnect(bobConn);
        var last = watcher.Publications.Last();
        Assert.Equal("$presence/bob", last.Topic);
        Assert.Equal(PresenceStatus.Offline, last.Presence!.Status);
    }

    [Fact]
    public async Task Presence_WildcardSubscriptionOnHash_DoesNotSeePresence()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (c, t) = await f.ConnectAsync("watcher");
        f.Engine.Topics.Subscribe(c, ["#"]);
        await f.ConnectAsync("bob");
        Assert.Empty(t.Publications);
    }

    [Fact]
    public async Task GetPresence_NeverSeenIsOfflineWithoutLastSeen_DisconnectedHasLastSeen()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (c, _) = await f.ConnectAsync("bob");
        f.Time.Advance(TimeSpan.FromMinutes(1));
        f.Engine.Disconnect(c);
        var list = await f.Engine.Presence.GetAsync(EngineFixture.Tenant, [EngineFixture.Id("bob"), EngineFixture.Id("nobody")]);
        Assert.Equal(PresenceStatus.Offline, list[0].Status);
        Assert.Equal(f.Time.GetUtcNow(), list[0].LastSeen);
        Assert.Equal(PresenceStatus.Offline, list[1].Status);
        Assert.Null(list[1].LastSeen);
    }

    [Fact]
    public async Task Roster_OnlineListsConnectedOnly_AllListsEveryoneWithFirstAndLastSeen()
    {
        await using var f = await new EngineFixture().StartAsync();
        var start = f.Time.GetUtcNow();
        var (gone, _) = await f.ConnectAsync("gone");
        f.Time.Advance(TimeSpan.FromMinutes(5));
        f.Engine.Disconnect(gone);
        await f.ConnectAsync("here");
        await f.ConnectAsync("here");

        var online = f.Engine.Presence.GetOnline(EngineFixture.Tenant);
        Assert.Equal(["here"], online.Select(p => p.Client.Value));
        Assert.Equal(2, online[0].Connections);

        var all = await f.Engine.Presence.ListRosterAsync(EngineFixture.Tenant, null, 10);
        Assert.Equal(["gone", "here"], all.Select(e => e.Entry.Client.Value));
        Assert.Equal([false, true], all.Select(e => e.Online));
        Assert.Equal(start, all[0].Entry.FirstSeen);
        Assert.Equal(start.AddMinutes(5), all[0].Entry.LastSeen);
    }

    [Fact]
    public async Task Activity_RecordsConnectAndDisconnect()
    {
        await using var f = await new EngineFixture().StartAsync();
        var (c, _) = await f.ConnectAsync("bob");
        f.Engine.Disconnect(c);
        await f.Engine.Activity.FlushAsync();
        var log = await f.Engine.Activity.ReadAsync(EngineFixture.Tenant, 0, 10);
        Assert.Equal([ActivityKinds.Connect, ActivityKinds.Disconnect], log.Select(e => e.Kind));
        Assert.All(log, e => Assert.Equal(EngineFixture.Id("bob"), e.Actor));
    }
}
