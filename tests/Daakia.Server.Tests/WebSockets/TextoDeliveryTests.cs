using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>
/// Daakia's additions to texto, end to end: release (a negative ack) and redelivery with <c>data.deliveries</c>, send
/// with a delay, headers both ways — while a texto client that uses none of them sees texto's frames unchanged.
/// </summary>
public sealed class TextoDeliveryTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c =>
    {
        c["Daakia:Core:MaxDeliveries"] = "2";
        c["Daakia:Core:MaxDelay"] = "00:01:00";
        c["Daakia:Core:MaxHeadersPerLetter"] = "2";
        c["Daakia:Core:MaxHeaderBytes"] = "32";
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<long> CountAsync(string path) => (long)JsonNode.Parse(await _host.Http.GetStringAsync(path))!["count"]!;

    [Fact]
    public async Task Release_RedeliversWithItsCount_AndPastMaxDeliveriesItIsADeadLetter()
    {
        await using var a = await TextoTestClient.ConnectAsync(_host);
        await using var b = await TextoTestClient.ConnectAsync(_host);
        await a.SendAsync(b.Id, "poison");
        await a.NextAsync("ack");
        var first = await b.NextAsync("receive");
        var id = (string)first["id"]!;
        // The first delivery is texto's frame exactly: {sender_id, text} and nothing else.
        Assert.Equal(["sender_id", "text"], first["data"]!.AsObject().Select(p => p.Key));

        await b.SendFrameAsync("release", null, id);
        var again = await b.NextAsync("receive");
        Assert.Equal(id, (string?)again["id"]);
        Assert.Equal("poison", (string?)again["data"]!["text"]);
        Assert.Equal(2, (int)again["data"]!["deliveries"]!);

        // Released once more, it has been delivered MaxDeliveries (2) times: a dead letter, visible over REST.
        await b.SendFrameAsync("release", new JsonObject { ["delay"] = 0 }, id);
        await Eventually.True(async () => await CountAsync($"/v1/clients/{b.Id}/dead-letters/count") == 1, "the message is a dead letter");
        var dead = JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{b.Id}/dead-letters"))!["messages"]![0]!;
        Assert.Equal(id, (string?)dead["message_id"]);
        Assert.Equal(2, (int)dead["deliveries"]!);
        Assert.Equal(0, await CountAsync($"/v1/clients/{b.Id}/inbox/count"));

        // The connection goes on: the next message arrives as a first delivery.
        await a.SendAsync(b.Id, "fine");
        var next = await b.NextAsync("receive");
        Assert.Equal("fine", (string?)next["data"]!["text"]);
        Assert.Null(next["data"]!["deliveries"]);
        Assert.DoesNotContain(b.Socket.AllFrames, f => (string?)f["kind"] == "error");
    }

    [Fact]
    public async Task Release_BadInput_IsAnErrorWithTheReleasesId_AndTheConnectionIsKept()
    {
        await using var a = await TextoTestClient.ConnectAsync(_host);
        await using var b = await TextoTestClient.ConnectAsync(_host);
        await a.SendAsync(b.Id, "m");
        var id = (string)(await b.NextAsync("receive"))["id"]!;

        (string Id, JsonNode? Data, string Code)[] cases =
        [
            ("not-a-uuid", null, "EINVAL"),
            (id, new JsonObject { ["delay"] = -1 }, "EINVAL"),
            (id, new JsonObject { ["delay"] = 61 }, "EINVAL"),
            (id, new JsonObject { ["delay"] = "5" }, "EINVAL"),
            (id, new JsonArray(1), "EINVAL"),
            (id, "x", "EINVAL"),
            (Guid.NewGuid().ToString(), null, "ENOENT"), // not out to this identity
        ];
        foreach (var (requestId, data, code) in cases)
        {
            await b.SendFrameAsync("release", data, requestId);
            var error = await b.Socket.NextEventAsync();
            Assert.Equal("error", (string?)error["kind"]);
            Assert.Equal(requestId, (string?)error["id"]);
            Assert.Equal(code, (string?)error["data"]!["code"]);
        }

        // A number as the id is refused as texto refuses it anywhere.
        await b.Socket.SendTextAsync($$"""{"client_id":"{{b.Id}}","id":7,"kind":"release","data":null}""");
        Assert.Equal("EINVAL", (string?)(await b.Socket.NextEventAsync())["data"]!["code"]);

        // Still out to b and still working: an ack takes it out of the inbox.
        await b.AckAsync(id);
        await Eventually.True(async () => await CountAsync($"/v1/clients/{b.Id}/inbox/count") == 0, "the ack empties the inbox");
        await b.SendFrameAsync("release", null, id);
        Assert.Equal("ENOENT", (string?)(await b.NextAsync("error"))["data"]!["code"]);
    }

    [Fact]
    public async Task SendWithDelay_IsHeldBack_AndABadDelaySendsNothing()
    {
        await using var a = await TextoTestClient.ConnectAsync(_host);
        await using var b = await TextoTestClient.ConnectAsync(_host);
        var clock = Stopwatch.StartNew();
        var sendId = await a.SendFrameAsync("send", new JsonObject { ["receiver_id"] = b.Id, ["text"] = "later", ["delay"] = 1 });
        Assert.Equal(sendId, (string?)(await a.NextAsync("ack"))["id"]);
        var receive = await b.NextAsync("receive");
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(900), $"a message sent with a 1 s delay arrived after {clock.Elapsed}");
        Assert.Equal("later", (string?)receive["data"]!["text"]);

        foreach (var delay in new JsonNode[] { -1, 61, "1", new JsonObject() })
        {
            var bad = await a.SendFrameAsync("send", new JsonObject { ["receiver_id"] = b.Id, ["text"] = "no", ["delay"] = delay });
            var error = await a.Socket.NextEventAsync();
            Assert.Equal(bad, (string?)error["id"]);
            Assert.Equal("EINVAL", (string?)error["data"]!["code"]);
        }

        await b.AckAsync((string)receive["id"]!);
        await Eventually.True(async () => await CountAsync($"/v1/clients/{b.Id}/inbox/count") == 0, "nothing of the bad sends was stored");
    }

    [Fact]
    public async Task Headers_RoundTrip_TextoToJsonApiAndRest_AndBack()
    {
        await using var t = await TextoTestClient.ConnectAsync(_host);
        var wsId = Unique.Name("ws");
        await using var ws = await WsTestClient.HelloAsync(_host, wsId);

        // JSON API → texto: headers in data.
        var sent = await ws.RequestAsync("send", new JsonObject
        {
            ["recipients"] = new JsonArray(t.Id),
            ["payload"] = "to texto",
            ["headers"] = new JsonObject { ["trace"] = "w1" },
        });
        var receive = await t.NextAsync("receive");
        Assert.Equal((string?)sent["message_id"], (string?)receive["id"]);
        Assert.Equal("""{"trace":"w1"}""", receive["data"]!["headers"]!.ToJsonString());

        // REST → texto.
        using var post = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
        {
            Content = new StringContent($$$"""{"recipients":["{{{t.Id}}}"],"payload":"from rest","headers":{"k":"v"}}""", Encoding.UTF8, "application/json"),
        };
        post.Headers.Add("X-Daakia-Client", "rest");
        using var posted = await _host.Http.SendAsync(post);
        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);
        Assert.Equal("""{"k":"v"}""", (await t.NextAsync("receive"))["data"]!["headers"]!.ToJsonString());

        // texto → JSON API (a JSON API client whose id is a UUID, as texto's receiver_id must be).
        var uuidClient = Guid.NewGuid().ToString();
        await using (var ws2 = await WsTestClient.HelloAsync(_host, uuidClient))
        {
            await t.SendFrameAsync("send", new JsonObject { ["receiver_id"] = uuidClient, ["text"] = "to ws", ["headers"] = new JsonObject { ["x"] = "y" } });
            await t.NextAsync("ack");
            var letter = await ws2.NextAsync("letter");
            Assert.Equal("to ws", (string?)letter["payload"]);
            Assert.Equal("""{"x":"y"}""", letter["headers"]!.ToJsonString());
        }

        // texto → texto and REST.
        var receiver = await TextoTestClient.ConnectAsync(_host);
        await using (receiver)
        {
            await t.SendFrameAsync("send", new JsonObject { ["receiver_id"] = receiver.Id, ["text"] = "hi", ["headers"] = new JsonObject { ["a"] = "1", ["b"] = "2" } });
            await t.NextAsync("ack");
            var got = await receiver.NextAsync("receive");
            Assert.Equal("""{"a":"1","b":"2"}""", got["data"]!["headers"]!.ToJsonString());
            var page = JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{receiver.Id}/inbox"))!;
            Assert.Equal("""{"a":"1","b":"2"}""", page["messages"]![0]!["headers"]!.ToJsonString());
        }

        // Bad headers: EINVAL, nothing sent, the connection kept.
        foreach (var headers in new JsonNode[] { new JsonObject { ["a"] = 1 }, new JsonArray("a"), "a=b", new JsonObject { ["a"] = "1", ["b"] = "2", ["c"] = "3" }, new JsonObject { ["k"] = new string('x', 40) } })
        {
            var bad = await t.SendFrameAsync("send", new JsonObject { ["receiver_id"] = Guid.NewGuid().ToString(), ["text"] = "no", ["headers"] = headers });
            var error = await t.Socket.NextEventAsync();
            Assert.Equal(bad, (string?)error["id"]);
            Assert.Equal("EINVAL", (string?)error["data"]!["code"]);
        }

        var ok = await t.SendAsync(Guid.NewGuid().ToString(), "still works");
        Assert.Equal(ok, (string?)(await t.NextAsync("ack"))["id"]);
    }
}
