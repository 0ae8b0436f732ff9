using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

public sealed class JsonApiLetterTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static JsonObject Send(string to, object payload, int? ttl = null)
    {
        var f = new JsonObject { ["recipients"] = new JsonArray(to), ["payload"] = System.Text.Json.JsonSerializer.SerializeToNode(payload) };
        if (ttl is { } t)
        {
            f["ttl"] = t;
        }

        return f;
    }

    [Fact]
    public async Task Hello_WithAuthor_AcksWithClientIdAndLimits()
    {
        await using var alice = await WsTestClient.ConnectAsync(_host.WebSocketUri("/v1/ws"));
        var reply = await alice.RequestAsync("hello", new { author = "alice" });
        Assert.Equal("ack", (string?)reply["type"]);
        Assert.Equal("alice", (string?)reply["client_id"]);
        Assert.Equal("all", (string?)reply["delivery_mode"]);
        Assert.Equal(262144, (int)reply["limits"]!["max_payload_bytes"]!);
    }

    [Fact]
    public async Task Send_ToOnlineClient_DeliversLetterAndAcksSenderWithMessageId()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        await using var bob = await WsTestClient.HelloAsync(_host, "bob");

        var reply = await alice.RequestAsync("send", Send("bob", new { text = "hi bob" }));
        Assert.Equal("ack", (string?)reply["type"]);
        var letter = await bob.NextAsync("letter");

        Assert.Equal((string?)reply["message_id"], (string?)letter["message_id"]);
        Assert.Equal("alice", (string?)letter["author"]);
        Assert.Equal("hi bob", (string?)letter["payload"]!["text"]);
        Assert.Equal("bob", (string?)letter["recipients"]![0]);
        Assert.NotNull((string?)letter["timestamp"]);
    }

    [Fact]
    public async Task Letters_ToDisconnectedClient_ArriveOnceInOrderAfterReconnect()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        var bob = await WsTestClient.HelloAsync(_host, "bob");
        await alice.RequestAsync("send", Send("bob", new { n = 0 }));
        var first = await bob.NextAsync("letter");
        await bob.RequestAsync("ack", new { message_ids = new[] { (string)first["message_id"]! } });
        await bob.DisposeAsync();

        for (var i = 1; i <= 20; i++)
        {
            var r = await alice.RequestAsync("send", Send("bob", new { n = i }));
            Assert.Equal("ack", (string?)r["type"]);
        }

        await using var bobAgain = await WsTestClient.HelloAsync(_host, "bob");
        for (var i = 1; i <= 20; i++)
        {
            var letter = await bobAgain.NextAsync("letter");
            Assert.Equal(i, (int)letter["payload"]!["n"]!);
            await bobAgain.RequestAsync("ack", new { message_ids = new[] { (string)letter["message_id"]! } });
        }

        // Acked letters are gone: a third session gets nothing more.
        await bobAgain.DisposeAsync();
        await using var bobThird = await WsTestClient.HelloAsync(_host, "bob");
        var ping = await bobThird.RequestAsync("ping");
        Assert.Equal("ack", (string?)ping["type"]);
        Assert.False(bobThird.TryPeekEvent(out _));
        var count = await _host.Http.GetStringAsync("/v1/clients/bob/inbox/count");
        Assert.Contains("\"count\":0", count.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Letter_NotAcked_IsDeliveredAgainOnReconnect()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        var bob = await WsTestClient.HelloAsync(_host, "bob");
        var sent = await alice.RequestAsync("send", Send("bob", new { text = "important" }));
        await bob.NextAsync("letter");
        bob.Abort();
        await bob.DisposeAsync();

        await using var bobAgain = await WsTestClient.HelloAsync(_host, "bob");
        var again = await bobAgain.NextAsync("letter");
        Assert.Equal((string?)sent["message_id"], (string?)again["message_id"]);
    }

    [Fact]
    public async Task Send_ToSeveralRecipients_EachGetsTheSameMessageId()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        await using var bob = await WsTestClient.HelloAsync(_host, "bob");
        await using var carol = await WsTestClient.HelloAsync(_host, "carol");
        var reply = await alice.RequestAsync("send", new { recipients = new[] { "bob", "carol", "bob", "dave-never-seen" }, payload = "hello all" });
        Assert.Equal(3, (int)reply["recipients"]!);
        var b = await bob.NextAsync("letter");
        var c = await carol.NextAsync("letter");
        Assert.Equal((string?)reply["message_id"], (string?)b["message_id"]);
        Assert.Equal((string?)reply["message_id"], (string?)c["message_id"]);
        Assert.Equal("hello all", (string?)b["payload"]);
    }

    [Fact]
    public async Task DeliveryModeAll_TwoConnections_BothGetEveryLetter()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        await using var phone = await WsTestClient.HelloAsync(_host, "bob");
        await using var laptop = await WsTestClient.HelloAsync(_host, "bob");
        await alice.RequestAsync("send", Send("bob", new { n = 1 }));
        var a = await phone.NextAsync("letter");
        var b = await laptop.NextAsync("letter");
        Assert.Equal((string?)a["message_id"], (string?)b["message_id"]);
    }

    [Fact]
    public async Task DeliveryModeAny_TwoConnections_EachLetterGoesToExactlyOne()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        await using var w1 = await WsTestClient.HelloAsync(_host, "svc", new { delivery_mode = "any" });
        await using var w2 = await WsTestClient.HelloAsync(_host, "svc", new { delivery_mode = "any" });
        for (var i = 0; i < 20; i++)
        {
            await alice.RequestAsync("send", Send("svc", new { n = i }));
        }

        var seen = new List<int>();
        var perWorker = new int[2];
        await Eventually.True(() =>
        {
            foreach (var (w, k) in new[] { (w1, 0), (w2, 1) })
            {
                while (w.TryPeekEvent(out _))
                {
                    var e = w.NextEventAsync().GetAwaiter().GetResult();
                    if ((string?)e["type"] == "letter")
                    {
                        seen.Add((int)e["payload"]!["n"]!);
                        perWorker[k]++;
                    }
                }
            }

            return seen.Count >= 20;
        }, "all 20 letters delivered across the two workers");
        Assert.Equal(Enumerable.Range(0, 20), seen.Order());
        Assert.True(perWorker[0] > 0 && perWorker[1] > 0, $"both workers get a share ({perWorker[0]}/{perWorker[1]})");
    }

    [Fact]
    public async Task Ack_UnknownMessageId_CountsZero()
    {
        await using var bob = await WsTestClient.HelloAsync(_host, "bob");
        var reply = await bob.RequestAsync("ack", new { message_ids = new[] { Guid.NewGuid().ToString() } });
        Assert.Equal("ack", (string?)reply["type"]);
        Assert.Equal(0, (int)reply["acknowledged"]!);
    }
}
