using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Server.Tests.Http;

public sealed class RestApiTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c =>
    {
        c["Daakia:Core:MaxRecipients"] = "3";
        c["Daakia:Core:MaxPayloadBytes"] = "2000";
        c["Daakia:OpenTenants:0"] = "default";
        c["Daakia:OpenTenants:1"] = "acme";
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static HttpRequestMessage Post(string path, string json, string? client = "alice", string? tenant = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (client is not null)
        {
            request.Headers.Add("X-Daakia-Client", client);
        }

        if (tenant is not null)
        {
            request.Headers.Add("X-Daakia-Tenant", tenant);
        }

        return request;
    }

    private async Task<(HttpStatusCode Status, JsonObject Body, string? ContentType)> SendAsync(HttpRequestMessage request)
    {
        using var response = await _host.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? [] : JsonNode.Parse(text)!.AsObject(), response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task PostMessage_Returns201AfterStoring_AndInboxShowsPayloadByteForByte()
    {
        const string payload = """{"text":"hi bob","n":[1,2.50,{"x":null}]}""";
        var (status, body, _) = await SendAsync(Post("/v1/messages", $$"""{"recipients":["bob"],"payload":{{payload}}}"""));
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal(1, (int)body["recipients"]!);

        var raw = await _host.Http.GetStringAsync("/v1/clients/bob/inbox");
        Assert.Contains($"\"payload\":{payload}", raw, StringComparison.Ordinal);
        var inbox = JsonNode.Parse(raw)!;
        Assert.Equal((string?)body["message_id"], (string?)inbox["messages"]![0]!["message_id"]);
        Assert.Equal("alice", (string?)inbox["messages"]![0]!["author"]);
    }

    [Fact]
    public async Task AckAndDelete_RemoveLettersAndDeleteOfUnknownIs404()
    {
        var first = (await SendAsync(Post("/v1/messages", """{"recipients":["carol"],"payload":1}"""))).Body;
        var second = (await SendAsync(Post("/v1/messages", """{"recipients":["carol"],"payload":2}"""))).Body;
        Assert.Equal("{\"count\":2}", await _host.Http.GetStringAsync("/v1/clients/carol/inbox/count"));

        var (ackStatus, ack, _) = await SendAsync(Post("/v1/clients/carol/inbox/ack", $$"""{"message_ids":["{{first["message_id"]}}","{{Guid.NewGuid()}}"]}"""));
        Assert.Equal(HttpStatusCode.OK, ackStatus);
        Assert.Equal(1, (int)ack["acknowledged"]!);

        using var deleted = await _host.Http.DeleteAsync($"/v1/clients/carol/inbox/{second["message_id"]}");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        using var again = await _host.Http.DeleteAsync($"/v1/clients/carol/inbox/{second["message_id"]}");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal("not_found", (string?)JsonNode.Parse(await again.Content.ReadAsStringAsync())!["code"]);
        Assert.Equal("{\"count\":0}", await _host.Http.GetStringAsync("/v1/clients/carol/inbox/count"));
    }

    [Fact]
    public async Task PostMessage_FromRest_ReachesAnOnlineWebSocketClientAtOnce()
    {
        await using var bob = await WsTestClient.HelloAsync(_host, "bob");
        var (status, body, _) = await SendAsync(Post("/v1/messages", """{"recipients":["bob"],"payload":"over rest","ttl":60}"""));
        Assert.Equal(HttpStatusCode.Created, status);
        var letter = await bob.NextAsync("letter");
        Assert.Equal((string?)body["message_id"], (string?)letter["message_id"]);
        Assert.NotNull((string?)letter["expires_at"]);
    }

    [Theory]
    [InlineData("not json", "invalid_json", 400)]
    [InlineData("[1]", "invalid_json", 400)]
    [InlineData("""{"payload":1}""", "invalid_argument", 400)]
    [InlineData("""{"recipients":"bob","payload":1}""", "invalid_argument", 400)]
    [InlineData("""{"recipients":["bob"]}""", "invalid_argument", 400)]
    [InlineData("""{"recipients":["b o b"],"payload":1}""", "invalid_argument", 400)]
    [InlineData("""{"recipients":["bob"],"payload":1,"ttl":-1}""", "invalid_argument", 400)]
    [InlineData("""{"recipients":["a","b","c","d"],"payload":1}""", "too_many_recipients", 400)]
    public async Task PostMessage_BadBody_IsProblemDetailsWithCode(string json, string code, int status)
    {
        var (actual, body, contentType) = await SendAsync(Post("/v1/messages", json));
        Assert.Equal(status, (int)actual);
        Assert.Equal("application/problem+json", contentType);
        Assert.Equal(code, (string?)body["code"]);
        Assert.False(string.IsNullOrEmpty((string?)body["detail"]));
    }

    [Fact]
    public async Task PostMessage_TooLargePayload_Is413()
    {
        var (status, body, _) = await SendAsync(Post("/v1/messages", $$"""{"recipients":["bob"],"payload":"{{new string('x', 3000)}}"}"""));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("payload_too_large", (string?)body["code"]);
    }

    [Fact]
    public async Task PostMessage_BodyAboveTheRequestLimit_Is413ProblemDetails()
    {
        await using var host = await DaakiaTestHost.StartAsync(c => c["Daakia:MaxRequestBodyBytes"] = "1000");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
        {
            Content = new StringContent($$"""{"recipients":["bob"],"payload":"{{new string('x', 5000)}}"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Daakia-Client", "alice");
        using var response = await host.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("payload_too_large", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["code"]);
    }

    [Fact]
    public async Task PostMessage_WithoutCallerOrToUnknownTenant_IsRefused()
    {
        var (s1, b1, _) = await SendAsync(Post("/v1/messages", """{"recipients":["bob"],"payload":1}""", client: null));
        Assert.Equal(HttpStatusCode.BadRequest, s1);
        Assert.Contains("X-Daakia-Client", (string?)b1["detail"], StringComparison.Ordinal);
        var (s2, b2, _) = await SendAsync(Post("/v1/messages", """{"recipients":["bob"],"payload":1}""", tenant: "nobody"));
        Assert.Equal(HttpStatusCode.Forbidden, s2);
        Assert.Equal("forbidden", (string?)b2["code"]);
    }

    [Fact]
    public async Task Tenants_AreIsolated_SameClientIdInTwoTenants()
    {
        await SendAsync(Post("/v1/messages", """{"recipients":["dora"],"payload":"for default"}"""));
        await SendAsync(Post("/v1/messages", """{"recipients":["dora"],"payload":"for acme"}""", tenant: "acme"));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/clients/dora/inbox");
        request.Headers.Add("X-Daakia-Tenant", "acme");
        using var response = await _host.Http.SendAsync(request);
        var acme = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["messages"]!.AsArray();
        Assert.Single(acme);
        Assert.Equal("for acme", (string?)acme[0]!["payload"]);
        var mine = JsonNode.Parse(await _host.Http.GetStringAsync("/v1/clients/dora/inbox"))!["messages"]!.AsArray();
        Assert.Single(mine);
        Assert.Equal("for default", (string?)mine[0]!["payload"]);
    }

    [Fact]
    public async Task Inbox_Paging_FollowsNext()
    {
        for (var i = 0; i < 5; i++)
        {
            await SendAsync(Post("/v1/messages", $$"""{"recipients":["erin"],"payload":{{i}}}"""));
        }

        var seen = new List<int>();
        string? next = null;
        do
        {
            var page = JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/erin/inbox?limit=2{(next is null ? "" : "&after=" + next)}"))!;
            seen.AddRange(page["messages"]!.AsArray().Select(m => (int)m!["payload"]!));
            next = page["next"]?.ToJsonString();
        }
        while (next is not null);
        Assert.Equal([0, 1, 2, 3, 4], seen);
    }

    [Fact]
    public async Task PresenceRosterAndActivity_ReflectWebSocketSessions()
    {
        var ghost = await WsTestClient.HelloAsync(_host, "ghost");
        await ghost.CloseAsync();
        await ghost.DisposeAsync();
        await using var live = await WsTestClient.HelloAsync(_host, "live");

        var presence = JsonNode.Parse(await _host.Http.GetStringAsync("/v1/clients/live/presence"))!;
        Assert.Equal("online", (string?)presence["status"]);
        await Eventually.True(async () =>
            (string?)JsonNode.Parse(await _host.Http.GetStringAsync("/v1/clients/ghost/presence"))!["status"] == "offline", "ghost goes offline");
        var never = JsonNode.Parse(await _host.Http.GetStringAsync("/v1/presence?clients=live,never-seen"))!["presence"]!.AsArray();
        Assert.Equal("offline", (string?)never[1]!["status"]);

        var online = JsonNode.Parse(await _host.Http.GetStringAsync("/v1/roster?scope=online"))!["clients"]!.AsArray();
        Assert.Equal(["live"], online.Select(c => (string?)c!["client"]));
        await Eventually.True(async () =>
        {
            var all = JsonNode.Parse(await _host.Http.GetStringAsync("/v1/roster?scope=all"))!["clients"]!.AsArray();
            return all.Select(c => (string?)c!["client"]).SequenceEqual(["ghost", "live"]);
        }, "the roster remembers everyone ever seen");

        await Eventually.True(async () =>
        {
            var entries = JsonNode.Parse(await _host.Http.GetStringAsync("/v1/activity"))!["entries"]!.AsArray();
            return entries.Any(e => (string?)e!["kind"] == "disconnect" && (string?)e["actor"] == "ghost");
        }, "the activity log records the disconnect");
    }

    [Fact]
    public async Task Publish_ReachesWebSocketSubscriberAndReportsDelivered()
    {
        await using var sub = await WsTestClient.HelloAsync(_host, "sub");
        await sub.RequestAsync("subscribe", new { topics = new[] { "news/#" } });
        var (status, body, _) = await SendAsync(Post("/v1/topics/publish", """{"topic":"news/today","payload":{"headline":"x"}}"""));
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal(1, (int)body["delivered"]!);
        Assert.Equal("x", (string?)(await sub.NextAsync("publication"))["payload"]!["headline"]);
    }

    [Fact]
    public async Task OpenApi_DocumentsTheRestEndpoints()
    {
        var doc = JsonNode.Parse(await _host.Http.GetStringAsync("/openapi/v1.json"))!;
        var paths = doc["paths"]!.AsObject().Select(p => p.Key).ToList();
        Assert.Contains("/v1/messages", paths);
        Assert.Contains("/v1/clients/{client}/inbox", paths);
        Assert.Contains("/v1/roster", paths);
    }

    [Fact]
    public async Task Healthz_Is200WhileRunning()
    {
        using var response = await _host.Http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok", (await response.Content.ReadAsStringAsync()).Trim());
    }
}
