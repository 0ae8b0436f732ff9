using System.Net.WebSockets;
using Daakia.Server.WebSockets;
using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>
/// Hostile frames against <c>/v1/ws</c>, one table: input → the reply's code (or the close status) → the connection
/// still answers → the server logged no Error (a client fault is never a server fault).
/// </summary>
public sealed class JsonApiHostileInputTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    public static TheoryData<string, string, string> Frames => new()
    {
        // name, frame (C# escapes: "\\ud800" is the six characters of a JSON escape), expected reply type or code
        { "empty frame", "", "invalid_json" },
        { "whitespace", "   ", "invalid_json" },
        { "not json", "not json", "invalid_json" },
        { "lone high surrogate in id", "{\"id\":\"\\ud800\",\"type\":\"ping\"}", "invalid_json" },
        { "lone low surrogate in id", "{\"id\":\"a\\udc00\",\"type\":\"ping\"}", "invalid_json" },
        { "lone surrogate in type", "{\"id\":1,\"type\":\"\\ud800\"}", "invalid_json" },
        { "lone surrogate in a key", "{\"\\ud800\":1,\"id\":1,\"type\":\"ping\"}", "invalid_json" },
        { "lone surrogate in the id key", "{\"i\\ud800d\":1,\"type\":\"ping\"}", "invalid_json" },
        { "reversed pair", "{\"id\":1,\"type\":\"ping\",\"x\":\"\\udc00\\ud800\"}", "invalid_json" },
        { "high surrogate then a letter", "{\"id\":1,\"type\":\"ping\",\"x\":\"\\ud800\\u0041\"}", "invalid_json" },
        { "lone surrogate in author", "{\"id\":1,\"type\":\"hello\",\"author\":\"\\ud800\"}", "invalid_json" },
        { "lone surrogate in tenant", "{\"id\":1,\"type\":\"hello\",\"tenant\":\"\\udfff\"}", "invalid_json" },
        { "lone surrogate in recipients", "{\"id\":1,\"type\":\"send\",\"recipients\":[\"\\ud800\"],\"payload\":1}", "invalid_json" },
        { "lone surrogate in payload", "{\"id\":1,\"type\":\"send\",\"recipients\":[\"bob\"],\"payload\":\"\\ud800\"}", "invalid_json" },
        { "lone surrogate deep in payload", "{\"id\":1,\"type\":\"publish\",\"topic\":\"t\",\"payload\":{\"a\":[{\"b\":\"x\\ud800\"}]}}", "invalid_json" },
        { "lone surrogate in topic", "{\"id\":1,\"type\":\"publish\",\"topic\":\"a/\\ud800\",\"payload\":1}", "invalid_json" },
        { "lone surrogate in topics", "{\"id\":1,\"type\":\"subscribe\",\"topics\":[\"\\ud800/#\"]}", "invalid_json" },
        { "lone surrogate in status_text", "{\"id\":1,\"type\":\"presence\",\"status_text\":\"\\ud800\"}", "invalid_json" },
        { "lone surrogate in message ids", "{\"id\":1,\"type\":\"ack\",\"message_ids\":[\"\\udbff\"]}", "invalid_json" },
        { "lone surrogate in clients", "{\"id\":1,\"type\":\"presence_query\",\"clients\":[\"\\ud800\"]}", "invalid_json" },
        { "lone surrogate in scope", "{\"id\":1,\"type\":\"roster\",\"scope\":\"\\ud800\"}", "invalid_json" },
        { "lone surrogate in mode", "{\"id\":1,\"type\":\"delivery_mode\",\"mode\":\"\\ud800\"}", "invalid_json" },
        { "a surrogate pair is fine", "{\"id\":1,\"type\":\"ping\",\"x\":\"\\ud83d\\ude00\"}", "ack" },
        { "an escaped backslash before u is fine", "{\"id\":1,\"type\":\"ping\",\"x\":\"\\\\ud800\"}", "ack" },
        { "non-ASCII is fine", "{\"id\":\"é✓😀\",\"type\":\"ping\"}", "ack" },
        { "numeric id", "{\"id\":7,\"type\":\"ping\"}", "ack" },
        { "id too long", "{\"id\":\"" + new string('x', 200) + "\",\"type\":\"ping\"}", "invalid_argument" },
        { "id is an object", "{\"id\":{},\"type\":\"ping\"}", "invalid_argument" },
        { "id is null", "{\"id\":null,\"type\":\"ping\"}", "invalid_argument" },
        { "duplicate keys", "{\"id\":1,\"id\":2,\"type\":\"ping\"}", "ack" },
        { "type is an array", "{\"id\":1,\"type\":[\"ping\"]}", "unknown_type" },
        { "deep nesting", "{\"id\":1,\"type\":\"ping\",\"x\":" + new string('[', 200) + new string(']', 200) + "}", "invalid_json" },
        { "trailing garbage", "{\"id\":1,\"type\":\"ping\"} x", "invalid_json" },
        { "two objects", "{\"id\":1,\"type\":\"ping\"}{\"id\":2,\"type\":\"ping\"}", "invalid_json" },
        { "truncated escape", "{\"id\":1,\"type\":\"ping\",\"x\":\"\\u12\"}", "invalid_json" },
        { "control character in a string", "{\"id\":1,\"type\":\"ping\",\"x\":\"a\u0001b\"}", "invalid_json" },
        { "NUL escape is fine", "{\"id\":1,\"type\":\"ping\",\"x\":\"\\u0000\"}", "ack" },
        { "huge number", "{\"id\":1e999999,\"type\":\"ping\"}", "ack" },
        { "recipients not strings", "{\"id\":1,\"type\":\"send\",\"recipients\":[1,2],\"payload\":1}", "invalid_argument" },
        { "heartbeat NaN-ish", "{\"id\":1,\"type\":\"presence\",\"available\":\"yes\"}", "invalid_argument" },
        { "ttl huge", "{\"id\":1,\"type\":\"send\",\"recipients\":[\"bob\"],\"payload\":1,\"ttl\":1e308}", "invalid_argument" },
        { "roster limit huge", "{\"id\":1,\"type\":\"roster\",\"scope\":\"all\",\"limit\":99999999999999999999}", "invalid_argument" },
        { "message id not a uuid", "{\"id\":1,\"type\":\"ack\",\"message_ids\":[\"nope\"]}", "invalid_argument" },
    };

    [Theory]
    [MemberData(nameof(Frames))]
    public async Task HostileFrame_GetsItsReply_ConnectionStaysUsable_NoErrorLogged(string name, string frame, string expected)
    {
        await using var client = await WsTestClient.HelloAsync(_host, Unique.Name("h"));
        await client.SendTextAsync(frame);
        var reply = await client.NextEventAsync();
        var actual = (string?)reply["type"] == "error" ? (string?)reply["code"] : (string?)reply["type"];
        Assert.True(expected == actual, $"{name}: expected {expected}, got {reply.ToJsonString()}");
        if (expected != "ack")
        {
            Assert.False(string.IsNullOrEmpty((string?)reply["description"]), name);
        }

        Assert.Equal("ack", (string?)(await client.RequestAsync("ping"))["type"]);
        Assert.Empty(_host.LoggedErrors);
    }

    [Fact]
    public async Task EmptyFrame_BeforeHello_IsInvalidJson_AndTheNextRequestIsReadOnItsOwn()
    {
        await using var client = await WsTestClient.ConnectAsync(_host.WebSocketUri("/v1/ws"));
        await client.SendTextAsync("");
        Assert.Equal("invalid_json", (string?)(await client.NextAsync("error"))["code"]);
        Assert.Equal("ack", (string?)(await client.RequestAsync("hello", new { author = Unique.Name("e") }))["type"]);
    }

    [Fact]
    public async Task TextFrameThatIsNotUtf8_FailsTheConnectionWith1007_AsRfc6455Requires_WithoutAnErrorLog()
    {
        await using var client = await WsTestClient.HelloAsync(_host, Unique.Name("u"));
        await client.SendTextBytesAsync([.. "{\"id\":1,\"type\":\"ping\",\"x\":\""u8, 0xff, 0xfe, .. "\"}"u8]);
        await client.Closed.Task.WaitAsync(Eventually.DefaultTimeout);
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, client.CloseStatus);
        var metrics = _host.Get<WebSocketSessionFactory>().Metrics;
        await Eventually.True(() => metrics.ClosedCount(texto: false, SessionEnd.ProtocolError) >= 1, "the close is counted");
        Assert.Empty(_host.LoggedErrors);
    }

    [Fact]
    public async Task PipelinedBurst_OfTenThousandPings_GetsEveryAck_AndStaysOpen()
    {
        await using var client = await WsTestClient.HelloAsync(_host, Unique.Name("burst"));
        const int Count = 10_000;
        for (var i = 0; i < Count; i++)
        {
            await client.SendTextAsync($"{{\"id\":{i},\"type\":\"ping\"}}");
        }

        await Eventually.True(() => client.AllFrames.Count >= Count + 1, $"all {Count} acks arrive (so far {client.AllFrames.Count - 1})", TimeSpan.FromSeconds(60));
        Assert.All(client.AllFrames.Skip(1), f => Assert.Equal("ack", (string?)f["type"]));
        Assert.Equal(WebSocketState.Open, client.State);
        Assert.Equal("ack", (string?)(await client.RequestAsync("ping"))["type"]);
    }

    [Fact]
    public async Task NormalCloses_AreCounted()
    {
        var metrics = _host.Get<WebSocketSessionFactory>().Metrics;
        var before = metrics.ClosedCount(texto: false, SessionEnd.Normal);
        for (var i = 0; i < 20; i++)
        {
            var c = await WsTestClient.HelloAsync(_host, Unique.Name("n"));
            await c.CloseAsync();
            await c.DisposeAsync();
        }

        await Eventually.True(() => metrics.ClosedCount(texto: false, SessionEnd.Normal) >= before + 20, "every normal close is counted");
    }

    [Fact]
    public async Task Metrics_ExportTheSessionCloseCounter()
    {
        var c = await WsTestClient.HelloAsync(_host, Unique.Name("m"));
        await c.CloseAsync();
        await c.DisposeAsync();
        var text = await _host.Http.GetStringAsync("/metrics");
        Assert.Contains("daakia_websockets_sessions_closed", text, StringComparison.Ordinal);
    }
}

/// <summary>A small outbox, so that replies to a pipelining client that reads meet the push-back path many times over.</summary>
public sealed class JsonApiPushBackTests
{
    [Fact]
    public async Task PipelinedBurst_AgainstATinyOutbox_IsSlowedNotCut()
    {
        await using var host = await DaakiaTestHost.StartAsync(c =>
        {
            c["Daakia:OutboxCapacity"] = "8";
            c["Daakia:Core:MaxInflightPerConnection"] = "4";
        });
        await using var client = await WsTestClient.HelloAsync(host, Unique.Name("tiny"));
        const int Count = 3_000;
        for (var i = 0; i < Count; i++)
        {
            await client.SendTextAsync($"{{\"id\":{i},\"type\":\"ping\"}}");
        }

        await Eventually.True(() => client.AllFrames.Count >= Count + 1, "every ping is acked", TimeSpan.FromSeconds(60));
        Assert.Equal(WebSocketState.Open, client.State);
        var metrics = host.Get<WebSocketSessionFactory>().Metrics;
        Assert.Equal(0, metrics.ClosedCount(texto: false, SessionEnd.SlowConsumer));
    }
}
