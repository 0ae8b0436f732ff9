using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Server.Tests.Mqtt;
using Daakia.Testing;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Daakia.Server.Tests.Zaqar;

/// <summary>
/// Named queues bound to topic filters, across protocols on the real host: bound over REST (<c>/v1</c>) or the
/// WebSocket API, published to over MQTT (MQTTnet), the WebSocket API or REST, and claimed over Zaqar's REST
/// (<c>/v2</c>) as soon as the publisher was acknowledged; another tenant's publications never land.
/// </summary>
public sealed class QueueBindingServerTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;
    private static readonly string Consumer = Guid.NewGuid().ToString();

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c =>
    {
        c["Daakia:OpenTenants:0"] = "default";
        c["Daakia:OpenTenants:1"] = "acme";
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<(HttpStatusCode Status, JsonNode? Body, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, string? json = null,
        Action<HttpRequestMessage>? headers = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        headers?.Invoke(request);
        var response = await _host.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text), response);
    }

    private Task<(HttpStatusCode Status, JsonNode? Body, HttpResponseMessage Response)> BindAsync(string queue, string filter, string? tenant = null) =>
        SendAsync(HttpMethod.Put, $"/v1/queues/{queue}/bindings", new JsonObject { ["filter"] = filter }.ToJsonString(),
            r => { if (tenant is not null) r.Headers.Add("X-Daakia-Tenant", tenant); });

    /// <summary>Zaqar's claim (<c>POST /v2/queues/{q}/claims</c>) in a project: the messages it took (none: 204).</summary>
    private async Task<JsonArray> ClaimAsync(string queue, string project = "default")
    {
        var (status, body, _) = await SendAsync(HttpMethod.Post, $"/v2/queues/{queue}/claims?limit=20", """{"ttl": 60, "grace": 60}""", r =>
        {
            r.Headers.Add("Client-ID", Consumer);
            r.Headers.Add("X-Project-ID", project);
        });
        return status switch
        {
            HttpStatusCode.Created => body!["messages"]!.AsArray(),
            HttpStatusCode.NoContent => [],
            _ => throw new InvalidOperationException($"claim: {(int)status} {body}"),
        };
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task AnMqttQos1Publish_ToABoundTopic_IsInTheQueueWhenItsPubackComes_AndAZaqarClaimGetsIt(MqttProtocolVersion version)
    {
        var queue = Unique.Name("readings");
        var prefix = Unique.Name("fleet");
        var bound = await BindAsync(queue, prefix + "/+/temp");
        Assert.Equal(HttpStatusCode.Created, bound.Status);

        await using var device = await MqttTestClient.ConnectAsync(_host, Unique.Name("dev"), version);
        var json = await device.PublishAsync(prefix + "/kitchen/temp", """{"c":21.5}""");
        Assert.True(json.IsSuccess, $"PUBACK {json.ReasonCode}");
        var binary = await device.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(prefix + "/hall/temp")
            .WithPayload(new byte[] { 0x00, 0xFF, 0x07 }).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(binary.IsSuccess, $"PUBACK {binary.ReasonCode}");
        Assert.True((await device.PublishAsync(prefix + "/kitchen/humidity", "40")).IsSuccess); // bound to nothing

        // Claimed right after the PUBACKs, without polling: the acknowledgement came after the append was durable.
        var messages = await ClaimAsync(queue);
        Assert.Equal(2, messages.Count);
        Assert.Equal("""{"c":21.5}""", messages[0]!["body"]!.ToJsonString());
        Assert.Equal(prefix + "/kitchen/temp", (string?)messages[0]!["attributes"]!["topic"]);
        Assert.Equal("application/octet-stream", (string?)messages[0]!["attributes"]!["content_type"]);
        Assert.Null(messages[0]!["attributes"]!["payload_encoding"]);
        // Bytes that are not JSON come as base64, marked so.
        Assert.Equal(Convert.ToBase64String([0x00, 0xFF, 0x07]), (string?)messages[1]!["body"]!["payload_base64"]);
        Assert.Equal("base64", (string?)messages[1]!["attributes"]!["payload_encoding"]);
        Assert.Equal(prefix + "/hall/temp", (string?)messages[1]!["attributes"]!["topic"]);
        Assert.Equal(3600, (long?)messages[0]!["ttl"]); // the queue's default message TTL
    }

    [Fact]
    public async Task AWebSocketApiPublish_ToATopicBoundOverTheWebSocket_IsInTheQueueWhenItsAckComes()
    {
        var queue = Unique.Name("chat-log");
        var room = Unique.Name("room");
        await using var ws = await WsTestClient.HelloAsync(_host, Unique.Name("alice"));
        var bind = await ws.RequestAsync("queue_bind", new { queue, filter = room + "/#" });
        Assert.Equal(("ack", true, room + "/#"), ((string?)bind["type"], (bool?)bind["created"], (string?)bind["filter"]));
        Assert.False((bool?)(await ws.RequestAsync("queue_bind", new { queue, filter = room + "/#" }))["created"]);
        var listed = await ws.RequestAsync("queue_bindings", new { queue });
        Assert.Equal([room + "/#"], listed["bindings"]!.AsArray().Select(b => (string?)b!["filter"]));

        var ack = await ws.RequestAsync("publish", new JsonObject { ["topic"] = room + "/messages", ["payload"] = new JsonObject { ["text"] = "hello" } });
        Assert.Equal("ack", (string?)ack["type"]);
        var messages = await ClaimAsync(queue);
        Assert.Equal("""{"text":"hello"}""", Assert.Single(messages)!["body"]!.ToJsonString());
        Assert.Equal("application/json", (string?)messages[0]!["attributes"]!["content_type"]);

        // A REST publish lands too, once its 202 came.
        var rest = await SendAsync(HttpMethod.Post, "/v1/topics/publish", new JsonObject { ["topic"] = room + "/x", ["payload"] = 7 }.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, rest.Status);
        Assert.Equal("7", Assert.Single(await ClaimAsync(queue))!["body"]!.ToJsonString());

        Assert.Equal("ack", (string?)(await ws.RequestAsync("queue_unbind", new { queue, filter = room + "/#" }))["type"]);
        var again = await ws.RequestAsync("queue_unbind", new { queue, filter = room + "/#" });
        Assert.Equal(("error", "not_found"), ((string?)again["type"], (string?)again["code"]));
        await ws.RequestAsync("publish", new JsonObject { ["topic"] = room + "/messages", ["payload"] = 1 });
        Assert.Empty(await ClaimAsync(queue));
        var refused = await ws.RequestAsync("queue_bind", new { queue, filter = "$share/g/" + room });
        Assert.Equal(("error", "invalid_argument"), ((string?)refused["type"], (string?)refused["code"]));
    }

    [Fact]
    public async Task AnotherTenantsPublish_OnTheSameTopic_NeverLands()
    {
        var queue = Unique.Name("jobs");
        var topic = Unique.Name("work") + "/1";
        Assert.Equal(HttpStatusCode.Created, (await BindAsync(queue, "#")).Status); // the default tenant's

        await using var other = await WsTestClient.HelloAsync(_host, Unique.Name("mallory"), new { tenant = "acme" });
        Assert.Equal("ack", (string?)(await other.RequestAsync("publish", new JsonObject { ["topic"] = topic, ["payload"] = "theirs" }))["type"]);
        var rest = await SendAsync(HttpMethod.Post, "/v1/topics/publish", new JsonObject { ["topic"] = topic, ["payload"] = "theirs too" }.ToJsonString(),
            r => r.Headers.Add("X-Daakia-Tenant", "acme"));
        Assert.Equal(HttpStatusCode.Accepted, rest.Status);
        await using var device = await MqttTestClient.ConnectAsync(_host, Unique.Name("dev"));
        Assert.True((await device.PublishAsync(topic, "\"ours\"")).IsSuccess); // MQTT clients are the default tenant's

        Assert.Equal(["\"ours\""], (await ClaimAsync(queue)).Select(m => m!["body"]!.ToJsonString()));
        Assert.Empty(await ClaimAsync(queue, project: "acme"));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("journal")]
    public async Task ABinding_SurvivesARestartOfTheServer_OnEitherStore(string storage)
    {
        var dir = Unique.TempDirectory();
        var queue = Unique.Name("kept");
        try
        {
            await using (var first = await DaakiaTestHost.StartAsync(c => c["Daakia:Storage"] = storage, dir))
            {
                using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/queues/{queue}/bindings")
                {
                    Content = new StringContent("""{"filter": "kept/#"}""", Encoding.UTF8, "application/json"),
                };
                Assert.Equal(HttpStatusCode.Created, (await first.Http.SendAsync(request)).StatusCode);
            }

            await using var second = await DaakiaTestHost.StartAsync(c => c["Daakia:Storage"] = storage, dir);
            await using (var device = await MqttTestClient.ConnectAsync(second, Unique.Name("dev")))
            {
                Assert.True((await device.PublishAsync("kept/1", "[1]")).IsSuccess);
            }

            using var claim = new HttpRequestMessage(HttpMethod.Post, $"/v2/queues/{queue}/claims")
            {
                Content = new StringContent("""{"ttl": 60}""", Encoding.UTF8, "application/json"),
            };
            claim.Headers.Add("Client-ID", Consumer);
            claim.Headers.Add("X-Project-ID", "default");
            using var claimed = await second.Http.SendAsync(claim);
            Assert.Equal(HttpStatusCode.Created, claimed.StatusCode);
            var body = JsonNode.Parse(await claimed.Content.ReadAsStringAsync())!;
            Assert.Equal("[1]", Assert.Single(body["messages"]!.AsArray())!["body"]!.ToJsonString());
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    [Fact]
    public async Task Bindings_OverRest_AreMadeListedAndRemoved_AndGoWithTheQueue_WithProblemErrors()
    {
        var queue = Unique.Name("q");
        var made = await BindAsync(queue, "a/+/b");
        Assert.Equal(HttpStatusCode.Created, made.Status);
        Assert.Equal((queue, "a/+/b"), ((string?)made.Body!["queue"], (string?)made.Body["filter"]));
        Assert.Equal($"/v1/queues/{queue}/bindings?filter=a%2F%2B%2Fb", made.Response.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.OK, (await BindAsync(queue, "a/+/b")).Status); // bound already
        Assert.Equal(HttpStatusCode.Created, (await BindAsync(queue, "c/#")).Status);

        var list = await SendAsync(HttpMethod.Get, $"/v1/queues/{queue}/bindings");
        Assert.Equal(HttpStatusCode.OK, list.Status);
        Assert.Equal(["a/+/b", "c/#"], list.Body!["bindings"]!.AsArray().Select(b => (string?)b!["filter"]));
        Assert.NotNull((string?)list.Body["bindings"]![0]!["created_at"]);

        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/v1/queues/{queue}/bindings?filter=a%2F%2B%2Fb")).Status);
        var gone = await SendAsync(HttpMethod.Delete, $"/v1/queues/{queue}/bindings?filter=a%2F%2B%2Fb");
        Assert.Equal((HttpStatusCode.NotFound, "not_found"), (gone.Status, (string?)gone.Body!["code"]));
        Assert.Equal(["c/#"], (await SendAsync(HttpMethod.Get, $"/v1/queues/{queue}/bindings")).Body!["bindings"]!.AsArray().Select(b => (string?)b!["filter"]));

        foreach (var bad in new[] { "$share/g/a", "$SYS/#", "a/#/b", "" })
        {
            var refused = await BindAsync(queue, bad);
            Assert.Equal((HttpStatusCode.BadRequest, "invalid_argument"), (refused.Status, (string?)refused.Body!["code"]));
        }

        var noFilter = await SendAsync(HttpMethod.Put, $"/v1/queues/{queue}/bindings", "{}");
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_argument"), (noFilter.Status, (string?)noFilter.Body!["code"]));
        Assert.Equal(HttpStatusCode.BadRequest, (await BindAsync("bad%20name", "a")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Delete, $"/v1/queues/{queue}/bindings")).Status);
        var unknown = await SendAsync(HttpMethod.Get, $"/v1/queues/{Unique.Name("none")}/bindings");
        Assert.Equal((HttpStatusCode.NotFound, "not_found"), (unknown.Status, (string?)unknown.Body!["code"]));

        var openApi = await _host.Http.GetStringAsync("/openapi/v1.json");
        Assert.Contains("\"/v1/queues/{queue}/bindings\"", openApi, StringComparison.Ordinal);

        // Deleting the queue (Zaqar's DELETE) takes its bindings with it.
        var deleted = await SendAsync(HttpMethod.Delete, $"/v2/queues/{queue}", headers: r =>
        {
            r.Headers.Add("Client-ID", Consumer);
            r.Headers.Add("X-Project-ID", "default");
        });
        Assert.Equal(HttpStatusCode.NoContent, deleted.Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, $"/v1/queues/{queue}/bindings")).Status);
    }
}
