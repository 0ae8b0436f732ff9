using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

public sealed class JsonApiPresenceTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task PresenceSubscription_SeesOnlineAwayAndOffline()
    {
        await using var watcher = await WsTestClient.HelloAsync(_host, "watcher");
        await watcher.RequestAsync("subscribe", new { topics = new[] { "$presence/+" } });

        var bob = await WsTestClient.HelloAsync(_host, "bob");
        var online = await watcher.NextAsync("publication");
        Assert.Equal("$presence/bob", (string?)online["topic"]);
        Assert.Equal("online", (string?)online["payload"]!["status"]);

        var set = await bob.RequestAsync("presence", new { available = false, status_text = "in a meeting" });
        Assert.Equal("away", (string?)set["presence"]!["status"]);
        var away = await watcher.NextAsync("publication");
        Assert.Equal("away", (string?)away["payload"]!["status"]);
        Assert.Equal("in a meeting", (string?)away["payload"]!["status_text"]);

        await bob.CloseAsync();
        await bob.DisposeAsync();
        var offline = await watcher.NextAsync("publication");
        Assert.Equal("offline", (string?)offline["payload"]!["status"]);
        Assert.NotNull((string?)offline["payload"]!["last_seen"]);
    }

    [Fact]
    public async Task Roster_OnlineAndAll_ListWhoIsConnectedAndWhoWasEverSeen()
    {
        var gone = await WsTestClient.HelloAsync(_host, "gone");
        await gone.DisposeAsync();
        await using var here = await WsTestClient.HelloAsync(_host, "here");

        await Eventually.True(async () =>
        {
            var online = await here.RequestAsync("roster", new { scope = "online" });
            var names = online["clients"]!.AsArray().Select(c => (string?)c!["client"]).ToList();
            return names.SequenceEqual(["here"]);
        }, "only 'here' is online");

        var all = await here.RequestAsync("roster", new { scope = "all" });
        var entries = all["clients"]!.AsArray();
        Assert.Equal(["gone", "here"], entries.Select(c => (string?)c!["client"]));
        Assert.False((bool)entries[0]!["online"]!);
        Assert.True((bool)entries[1]!["online"]!);
        Assert.NotNull((string?)entries[0]!["first_seen"]);
    }

    [Fact]
    public async Task PresenceQuery_UnknownClient_IsOfflineWithoutLastSeen()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        var reply = await alice.RequestAsync("presence_query", new { clients = new[] { "alice", "nobody" } });
        var list = reply["presence"]!.AsArray();
        Assert.Equal("online", (string?)list[0]!["status"]);
        Assert.Equal("offline", (string?)list[1]!["status"]);
        Assert.Null(list[1]!["last_seen"]);
    }

    [Fact]
    public async Task Heartbeat_SilentConnection_IsClosedWith4000AndGoesOffline()
    {
        await using var watcher = await WsTestClient.HelloAsync(_host, "watcher");
        await watcher.RequestAsync("subscribe", new { topics = new[] { "$presence/sleepy" } });
        await using var sleepy = await WsTestClient.HelloAsync(_host, "sleepy", new { heartbeat = 1 });
        Assert.Equal("online", (string?)(await watcher.NextAsync("publication"))["payload"]!["status"]);

        await sleepy.Closed.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(4000, (int?)sleepy.CloseStatus);
        Assert.Equal("offline", (string?)(await watcher.NextAsync("publication"))["payload"]!["status"]);
    }

    [Fact]
    public async Task Topics_PublishWithWildcardSubscription_ReachesSubscriberOnce()
    {
        await using var sub = await WsTestClient.HelloAsync(_host, "sub");
        await sub.RequestAsync("subscribe", new { topics = new[] { "chat/+/messages", "chat/#" } });
        await using var pub = await WsTestClient.HelloAsync(_host, "pub");
        var reply = await pub.RequestAsync("publish", new { topic = "chat/room1/messages", payload = new { text = "hello room" } });
        Assert.Equal("ack", (string?)reply["type"]);
        var p = await sub.NextAsync("publication");
        Assert.Equal("chat/room1/messages", (string?)p["topic"]);
        Assert.Equal("pub", (string?)p["author"]);
        Assert.Equal("hello room", (string?)p["payload"]!["text"]);

        await pub.RequestAsync("publish", new { topic = "other", payload = 1 });
        await pub.RequestAsync("publish", new { topic = "chat/x", payload = 2 });
        var next = await sub.NextAsync("publication");
        Assert.Equal(2, (int)next["payload"]!);
    }
}
