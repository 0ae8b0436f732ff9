using System.Net.WebSockets;
using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

public sealed class JsonApiBadInputTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c =>
    {
        c["Daakia:Core:MaxRecipients"] = "3";
        c["Daakia:Core:MaxPayloadBytes"] = "1000";
        c["Daakia:MaxFrameBytes"] = "8192";
        c["Daakia:MaxRequestIdLength"] = "64";
        c["Daakia:MaxRequestsPerSecond"] = "5";
        c["Daakia:RequestBurst"] = "20";
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Theory]
    [InlineData("not json", "invalid_json")]
    [InlineData("[1,2]", "invalid_json")]
    [InlineData("{\"id\":1}", "unknown_type")]
    [InlineData("{\"id\":1,\"type\":\"teleport\"}", "unknown_type")]
    [InlineData("{\"id\":1,\"type\":42}", "unknown_type")]
    [InlineData("{\"type\":\"ping\"}", "invalid_argument")]
    [InlineData("{\"id\":{\"x\":1},\"type\":\"ping\"}", "invalid_argument")]
    [InlineData("{\"id\":1,\"type\":\"send\",\"recipients\":[\"bob\"],\"payload\":1}", "not_identified")]
    public async Task MalformedFrame_GetsErrorAndConnectionStaysUsable(string frame, string code)
    {
        await using var client = await WsTestClient.ConnectAsync(_host.WebSocketUri("/v1/ws"));
        await client.SendTextAsync(frame);
        var error = await client.NextAsync("error");
        Assert.Equal(code, (string?)error["code"]);
        Assert.False(string.IsNullOrEmpty((string?)error["description"]));

        var hello = await client.RequestAsync("hello", new { author = "still-fine" });
        Assert.Equal("ack", (string?)hello["type"]);
    }

    [Fact]
    public async Task Send_MistypedOrMissingFields_AreInvalidArgumentWithTheRequestId()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        foreach (var fields in new object[]
        {
            new { recipients = "bob", payload = 1 },
            new { recipients = new[] { "bob" } },
            new { recipients = Array.Empty<string>(), payload = 1 },
            new { recipients = new[] { "bad/id" }, payload = 1 },
            new { recipients = new[] { "bob" }, payload = 1, ttl = -5 },
            new { recipients = new[] { "bob" }, payload = 1, ttl = "soon" },
        })
        {
            var reply = await alice.RequestAsync("send", fields);
            Assert.Equal("error", (string?)reply["type"]);
            Assert.Equal("invalid_argument", (string?)reply["code"]);
        }
    }

    [Fact]
    public async Task Send_TooManyRecipientsOrTooLargePayload_GetsItsOwnCode()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        var many = await alice.RequestAsync("send", new { recipients = new[] { "a", "b", "c", "d" }, payload = 1 });
        Assert.Equal("too_many_recipients", (string?)many["code"]);
        var big = await alice.RequestAsync("send", new { recipients = new[] { "a" }, payload = new string('x', 2000) });
        Assert.Equal("payload_too_large", (string?)big["code"]);
    }

    [Fact]
    public async Task RequestFields_AreReadByTheirJsonValue_EscapedOrNot()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        await using var bob = await WsTestClient.HelloAsync(_host, "bob");

        // An id is limited in characters, however it is escaped: 64 escaped characters fit, 65 do not.
        var escaped = string.Concat(Enumerable.Repeat("\\u0061", 64));
        await alice.SendTextAsync("{\"id\":\"" + escaped + "\",\"type\":\"ping\"}");
        Assert.Equal(new string('a', 64), (string?)(await alice.NextAsync("ack"))["id"]);
        await alice.SendTextAsync("{\"id\":\"" + escaped + "b\",\"type\":\"ping\"}");
        Assert.Equal("invalid_argument", (string?)(await alice.NextAsync("error"))["code"]);

        // An escaped type and recipient are the plain ones; a recipient sent twice in a row is the same client.
        await alice.SendTextAsync("{\"id\":\"s1\",\"type\":\"\\u0073end\",\"recipients\":[\"b\\u006fb\"],\"payload\":1}");
        Assert.Equal(1, (int?)(await alice.NextAsync("ack"))["recipients"]);
        var first = await bob.NextAsync("letter");
        var second = await alice.RequestAsync("send", new { recipients = new[] { "bob", "bob" }, payload = 2 });
        Assert.Equal(1, (int?)second["recipients"]);
        var again = await bob.NextAsync("letter");
        var bad = await alice.RequestAsync("send", new { recipients = new[] { "bob", "bad/id" }, payload = 3 });
        Assert.Equal("invalid_argument", (string?)bad["code"]);
        Assert.Contains("recipients[1]", (string?)bad["description"]);

        // Message ids in any form a GUID is written in; a bad one is named by its index.
        var braced = "{" + (string?)first["message_id"] + "}";
        var acked = await bob.RequestAsync("ack", new { message_ids = new[] { braced, ((string?)again["message_id"])!.Replace("-", "", StringComparison.Ordinal) } });
        Assert.Equal(2, (int?)acked["acknowledged"]);
        var wrong = await bob.RequestAsync("ack", new { message_ids = new[] { (string?)first["message_id"], "nope" } });
        Assert.Equal("invalid_argument", (string?)wrong["code"]);
        Assert.Contains("message_ids[1]", (string?)wrong["description"]);
    }

    [Fact]
    public async Task BinaryFrame_IsRejectedAndConnectionStaysUsable()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        await alice.SendBinaryAsync([1, 2, 3]);
        Assert.Equal("invalid_frame", (string?)(await alice.NextAsync("error"))["code"]);
        Assert.Equal("ack", (string?)(await alice.RequestAsync("ping"))["type"]);
    }

    [Fact]
    public async Task OversizedFrame_ClosesWith1009()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        await alice.SendTextAsync("{\"id\":1,\"type\":\"ping\",\"pad\":\"" + new string('x', 20_000) + "\"}");
        Assert.Equal("frame_too_large", (string?)(await alice.NextAsync("error"))["code"]);
        await alice.Closed.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, alice.CloseStatus);
    }

    [Fact]
    public async Task Payload_NestedBeyondTheDepthLimit_IsInvalidJson()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        var deep = new string('[', 100) + new string(']', 100);
        await alice.SendTextAsync("{\"id\":\"d\",\"type\":\"send\",\"recipients\":[\"bob\"],\"payload\":" + deep + "}");
        Assert.Equal("invalid_json", (string?)(await alice.NextAsync("error"))["code"]);
        Assert.Equal("ack", (string?)(await alice.RequestAsync("ping"))["type"]);
    }

    [Fact]
    public async Task Request_SplitAcrossFrames_IsReassembled()
    {
        await using var alice = await WsTestClient.ConnectAsync(_host.WebSocketUri("/v1/ws"));
        await alice.SendFragmentedAsync("{\"id\":\"f1\",\"type\":\"hel", "lo\",\"author\":\"ali", "ce\"}");
        var reply = await alice.NextEventAsync();
        Assert.Equal("ack", (string?)reply["type"]);
        Assert.Equal("alice", (string?)reply["client_id"]);
    }

    [Fact]
    public async Task SecondHello_IsAlreadyIdentified()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        var again = await alice.RequestAsync("hello", new { author = "mallory" });
        Assert.Equal("already_identified", (string?)again["code"]);
    }

    [Fact]
    public async Task Hello_UnknownTenantOrBadAuthor_IsRefused()
    {
        await using var c = await WsTestClient.ConnectAsync(_host.WebSocketUri("/v1/ws"));
        Assert.Equal("forbidden", (string?)(await c.RequestAsync("hello", new { author = "x", tenant = "other" }))["code"]);
        Assert.Equal("invalid_argument", (string?)(await c.RequestAsync("hello", new { author = "has space" }))["code"]);
    }

    [Fact]
    public async Task Flood_BeyondTheRequestBudget_IsRateLimitedNotExecuted()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        var replies = await Task.WhenAll(Enumerable.Range(0, 60).Select(_ => alice.RequestAsync("ping")));
        var limited = replies.Count(r => (string?)r["code"] == "rate_limited");
        Assert.True(limited > 0, "some requests were rate limited");
        Assert.True(replies.Count(r => (string?)r["type"] == "ack") >= 15, "the burst was served");
    }

    [Fact]
    public async Task Subscribe_InvalidFilterOrReservedPublish_AreRefused()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        Assert.Equal("invalid_argument", (string?)(await alice.RequestAsync("subscribe", new { topics = new[] { "a/#/b" } }))["code"]);
        Assert.Equal("invalid_argument", (string?)(await alice.RequestAsync("publish", new { topic = "a/+", payload = 1 }))["code"]);
        Assert.Equal("forbidden", (string?)(await alice.RequestAsync("publish", new { topic = "$presence/bob", payload = 1 }))["code"]);
    }
}

public sealed class JsonApiHelloTimeoutTests
{
    [Fact]
    public async Task Connection_WithoutHello_IsClosedAfterTheTimeout()
    {
        await using var host = await DaakiaTestHost.StartAsync(c => c["Daakia:HelloTimeoutSeconds"] = "1");
        await using var silent = await WsTestClient.ConnectAsync(host.WebSocketUri("/v1/ws"));
        await silent.Closed.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, silent.CloseStatus);
    }
}
