using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Server.Zaqar;
using Daakia.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Daakia.Server.Tests.Zaqar;

/// <summary>
/// Pre-signed URLs over real HTTP and a real WebSocket (docs/zaqar-wire.md §7, §9.2), on a host with a signing key and a
/// fake clock: <c>/share</c>'s answers and refusals, signed requests that are served, and every wrong one refused as
/// Zaqar refuses it (REST 404 <c>{"title": "404 Not Found"}</c>, WebSocket 403 <c>{"error": "Not authorized."}</c>).
/// </summary>
public sealed class ZaqarSignedUrlTests : IAsyncLifetime
{
    private const string Key = "reference-secret";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2029, 6, 1, 12, 0, 0, TimeSpan.Zero));
    private DaakiaTestHost _host = null!;
    private static readonly string Me = Guid.NewGuid().ToString();
    private static readonly string Other = Guid.NewGuid().ToString();

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(
        configure: s => s["Daakia:Zaqar:SignedUrlKey"] = Key,
        customize: b => b.Services.AddSingleton<TimeProvider>(_time));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private sealed record Answer(HttpStatusCode Status, JsonNode? Body, string Text)
    {
        public string? Title => (string?)Body?["title"];

        public string? Description => (string?)Body?["description"];
    }

    private static async Task<Answer> SendAsync(DaakiaTestHost host, HttpMethod method, string path, string? json = null, string project = "p1", string? client = null, JsonNode? grant = null, Action<HttpRequestMessage>? headers = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        request.Headers.Add("Client-ID", client ?? Me);
        request.Headers.Add("X-Project-ID", project);
        if (grant is not null)
        {
            request.Headers.Add("URL-Signature", (string)grant["signature"]!);
            request.Headers.Add("URL-Expires", (string)grant["expires"]!);
            request.Headers.Add("URL-Methods", string.Join(',', grant["methods"]!.AsArray().Select(m => (string)m!)));
            request.Headers.Add("URL-Paths", string.Join(',', grant["paths"]!.AsArray().Select(p => (string)p!)));
        }

        headers?.Invoke(request);
        using var response = await host.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return new Answer(response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text), text);
    }

    private Task<Answer> SendAsync(HttpMethod method, string path, string? json = null, string project = "p1", string? client = null, JsonNode? grant = null, Action<HttpRequestMessage>? headers = null) =>
        SendAsync(_host, method, path, json, project, client, grant, headers);

    private async Task<JsonNode> ShareAsync(string queue, string body)
    {
        var a = await SendAsync(HttpMethod.Post, $"/v2/queues/{queue}/share", body);
        Assert.True(a.Status == HttpStatusCode.OK, $"{(int)a.Status} {a.Text}");
        return a.Body!;
    }

    [Fact]
    public async Task Share_AnswersASignedGrant_WithZaqarsDefaults_SortedAndNormalised()
    {
        var defaults = await ShareAsync("demo", "{}");
        Assert.Equal(["/v2/queues/demo/messages"], defaults["paths"]!.AsArray().Select(p => (string)p!));
        Assert.Equal(["GET"], defaults["methods"]!.AsArray().Select(m => (string)m!));
        Assert.Equal(("p1", "2029-06-02T12:00:00"), ((string?)defaults["project"], (string?)defaults["expires"])); // a day on the server's clock
        Assert.Equal(ZaqarSigner.Sign(Key, ["/v2/queues/demo/messages"], ["GET"], "p1", "2029-06-02T12:00:00"), (string?)defaults["signature"]);
        Assert.Equal(["paths", "methods", "project", "expires", "signature"], defaults.AsObject().Select(p => p.Key));

        // docs/zaqar-wire.md §7.2's vector, through the endpoint: the expiry given with a zone, paths and methods unsorted.
        var grant = await ShareAsync("demo", """{"paths": ["messages", "claims"], "methods": ["POST", "GET"], "expires": "2030-01-01T02:00:00+02:00"}""");
        Assert.Equal(["/v2/queues/demo/claims", "/v2/queues/demo/messages"], grant["paths"]!.AsArray().Select(p => (string)p!));
        Assert.Equal(["GET", "POST"], grant["methods"]!.AsArray().Select(m => (string)m!));
        Assert.Equal("2030-01-01T00:00:00", (string?)grant["expires"]);
        Assert.Equal("a8d274d2317f7a117d7060ef876b9e020279dd00d503171dce07c4e1ecc7c201", (string?)grant["signature"]);

        var empty = await ShareAsync("demo", """{"paths": [], "methods": [], "expires": null}""");
        Assert.Equal(["/v2/queues/demo/messages"], empty["paths"]!.AsArray().Select(p => (string)p!)); // Python: falsy means default
        Assert.Equal(["GET"], empty["methods"]!.AsArray().Select(m => (string)m!));
        Assert.Empty((await SendAsync(HttpMethod.Get, "/v2/queues")).Body!["queues"]!.AsArray()); // no queue was made
    }

    [Theory]
    [InlineData("", "Invalid request body", "Request body can not be empty")]
    [InlineData("""{"x": 1}""", "Invalid API request", "Unknown keys: {'x'}")]
    [InlineData("""{"y": 1, "paths": ["messages"], "x": 2}""", "Invalid API request", "Unknown keys: {'x', 'y'}")]
    [InlineData("""{"paths": ["messages", "queues"]}""", "Invalid API request", "Invalid paths: {'queues'}")]
    [InlineData("""{"methods": "GET"}""", "Invalid API request", "`methods` should be a list")]
    [InlineData("""{"expires": "2029-06-01T11:59:59"}""", "Invalid API request", "`expires` is lower than the current time")]
    [InlineData("""{"expires": "2029-06-01T12:00:00"}""", "Invalid API request", "`expires` is lower than the current time")]
    [InlineData("""{"expires": "1893456000"}""", "Invalid API request", "`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: 1893456000")]
    [InlineData("""{"expires": 1893456000}""", "Invalid API request", "`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: 1893456000")]
    [InlineData("""{"expires": "soon"}""", "Invalid API request", "Unable to parse date string 'soon'")]
    [InlineData("[]", "Invalid request body", "Document type not supported.")]
    public async Task Share_RefusesWhatZaqarRefuses_WithItsWords(string body, string title, string description)
    {
        var a = await SendAsync(HttpMethod.Post, "/v2/queues/demo/share", body.Length == 0 ? null : body);
        Assert.Equal((HttpStatusCode.BadRequest, title, description), (a.Status, a.Title, a.Description));
    }

    [Fact]
    public async Task WithoutAKey_ShareIsRefused_AndNoSignedRequestIsServed()
    {
        await using var plain = await DaakiaTestHost.StartAsync();
        var a = await SendAsync(plain, HttpMethod.Post, "/v2/queues/demo/share", "{}");
        Assert.Equal((HttpStatusCode.BadRequest, "Invalid API request", "The `key` can't be None"), (a.Status, a.Title, a.Description));
        var badName = await SendAsync(plain, HttpMethod.Post, "/v2/queues/bad%20name/share", "{}");
        Assert.Equal((HttpStatusCode.BadRequest, "Invalid queue identification"), (badName.Status, badName.Title));

        // A grant this host's key would never have made: refused, not let in for want of a key.
        var forged = new JsonObject
        {
            ["signature"] = ZaqarSigner.Sign(Key, ["/v2/queues/demo/messages"], ["GET"], "p1", DateTime.UtcNow.AddDays(1)),
            ["expires"] = ZaqarSigner.FormatExpires(DateTime.UtcNow.AddDays(1)),
            ["methods"] = new JsonArray("GET"),
            ["paths"] = new JsonArray("/v2/queues/demo/messages"),
        };
        var signed = await SendAsync(plain, HttpMethod.Get, "/v2/queues/demo/messages", grant: forged);
        Assert.Equal((HttpStatusCode.NotFound, "404 Not Found", null), (signed.Status, signed.Title, signed.Description));
    }

    [Fact]
    public async Task ASignedRequest_IsServed_ForWhatItsGrantNames_AndNothingElse()
    {
        var grant = await ShareAsync("demo", """{"paths": ["messages"], "methods": ["GET", "POST"]}""");
        var posted = await SendAsync(HttpMethod.Post, "/v2/queues/demo/messages", """{"messages": [{"body": "signed"}]}""", grant: grant);
        Assert.Equal(HttpStatusCode.Created, posted.Status);
        var id = ((string)posted.Body!["resources"]![0]!).Split('/')[^1];
        var listed = await SendAsync(HttpMethod.Get, "/v2/queues/demo/messages", client: Other, grant: grant);
        Assert.Equal((HttpStatusCode.OK, "\"signed\""), (listed.Status, listed.Body!["messages"]![0]!["body"]!.ToJsonString()));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, $"/v2/queues/demo/messages/{id}", grant: grant)).Status); // a path under the grant's
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, $"/v2/queues/demo/messages?ids={id}", grant: grant)).Status);

        async Task Refused(string because, HttpMethod method, string path, JsonNode g, string project = "p1", Action<HttpRequestMessage>? headers = null)
        {
            var a = await SendAsync(method, path, method == HttpMethod.Post ? """{"messages": [{"body": 1}]}""" : null, project, grant: g, headers: headers);
            Assert.True(a.Status == HttpStatusCode.NotFound && a.Text == """{"title":"404 Not Found"}""", $"{because}: {(int)a.Status} {a.Text}");
        }

        JsonNode With(string field, JsonNode value)
        {
            var g = grant.DeepClone();
            g[field] = value;
            return g;
        }

        var sig = (string)grant["signature"]!;
        await Refused("a tampered signature", HttpMethod.Get, "/v2/queues/demo/messages", With("signature", sig[..^1] + (sig[^1] == '0' ? "1" : "0")));
        await Refused("a signature in capitals", HttpMethod.Get, "/v2/queues/demo/messages", With("signature", sig.ToUpperInvariant()));
        await Refused("a method the grant does not name", HttpMethod.Delete, $"/v2/queues/demo/messages/{id}", grant);
        await Refused("a path the grant does not name", HttpMethod.Post, "/v2/queues/demo/claims", grant);
        await Refused("another queue", HttpMethod.Get, "/v2/queues/other/messages", grant);
        await Refused("another project", HttpMethod.Get, "/v2/queues/demo/messages", grant, project: "p2");
        await Refused("a method added to the grant", HttpMethod.Delete, $"/v2/queues/demo/messages/{id}", With("methods", new JsonArray("DELETE", "GET", "POST")));
        await Refused("a path added to the grant", HttpMethod.Get, "/v2/queues/other/messages", With("paths", new JsonArray("/v2/queues/demo/messages", "/v2/queues/other/messages")));
        await Refused("a later expiry", HttpMethod.Get, "/v2/queues/demo/messages", With("expires", "2029-06-03T12:00:00"));
        await Refused("an expiry that is no date", HttpMethod.Get, "/v2/queues/demo/messages", With("expires", "soon"));
        await Refused("methods split with spaces (Zaqar does not trim)", HttpMethod.Post, "/v2/queues/demo/messages", grant,
            headers: r => { r.Headers.Remove("URL-Methods"); r.Headers.Add("URL-Methods", "GET, POST"); });
        await Refused("no URL-Expires", HttpMethod.Get, "/v2/queues/demo/messages", grant, headers: r => r.Headers.Remove("URL-Expires"));

        Assert.Equal(1, (int)(await SendAsync(HttpMethod.Get, "/v2/queues/demo/stats")).Body!["messages"]!["total"]!); // nothing refused was done

        // Unsigned requests are as before (noauth); once the grant's day has passed, it opens nothing.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/v2/queues/demo/messages")).Status);
        _time.Advance(TimeSpan.FromDays(1));
        await Refused("an expired grant", HttpMethod.Get, "/v2/queues/demo/messages", grant);
    }

    [Fact]
    public async Task SignedWebSocketFrames_AreServedForTheMessagesActions_AndEveryWrongOneIs403()
    {
        var grant = await ShareAsync("wsdemo", """{"methods": ["GET", "POST", "DELETE"]}""");
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(_host.WebSocketUri("/v2/ws"), CancellationToken.None);

        async Task<(int Status, JsonNode? Body)> Act(string action, object body, Action<JsonObject>? change = null, string project = "p1")
        {
            var headers = new JsonObject
            {
                ["Client-ID"] = Me,
                ["X-Project-ID"] = project,
                ["URL-Signature"] = (string)grant["signature"]!,
                ["URL-Expires"] = (string)grant["expires"]!,
                ["URL-Methods"] = grant["methods"]!.DeepClone(),
                ["URL-Paths"] = grant["paths"]!.DeepClone(),
            };
            change?.Invoke(headers);
            var frame = new JsonObject { ["action"] = action, ["headers"] = headers, ["body"] = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(body)) };
            await ws.SendAsync(Encoding.UTF8.GetBytes(frame.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
            var reply = await ZaqarLongPollTests.ReceiveAsync(ws);
            return ((int)reply["headers"]!["status"]!, reply["body"]);
        }

        var (posted, ids) = await Act("message_post", new { queue_name = "wsdemo", messages = new[] { new { body = "over ws" } } });
        Assert.Equal(201, posted);
        var id = (string)ids!["message_ids"]![0]!;
        var listed = await Act("message_list", new { queue_name = "wsdemo", echo = true });
        Assert.Equal((200, "\"over ws\""), (listed.Status, listed.Body!["messages"]![0]!["body"]!.ToJsonString()));
        Assert.Equal(200, (await Act("message_get", new { queue_name = "wsdemo", message_id = id })).Status);
        Assert.Equal(200, (await Act("message_get_many", new { queue_name = "wsdemo", message_ids = new[] { id } })).Status);

        async Task Refused(string because, string action, object body, Action<JsonObject>? change = null, string project = "p1")
        {
            var (status, reply) = await Act(action, body, change, project);
            Assert.True(status == 403 && reply?.ToJsonString() == """{"error":"Not authorized."}""", $"{because}: {status} {reply?.ToJsonString()}");
        }

        var list = new { queue_name = "wsdemo", echo = true };
        await Refused("a tampered signature", "message_list", list, h => h["URL-Signature"] = new string('0', 64));
        await Refused("another project", "message_list", list, project: "p2");
        await Refused("an action that is not a message one", "queue_delete", new { queue_name = "wsdemo" });
        await Refused("another queue (beyond Zaqar 15)", "message_list", new { queue_name = "elsewhere", echo = true });
        await Refused("a method not granted", "message_post", new { queue_name = "wsdemo", messages = new[] { new { body = 1 } } },
            h => h["URL-Methods"] = new JsonArray("GET", "DELETE"));
        await Refused("comma strings instead of arrays", "message_list", list, h =>
        {
            h["URL-Methods"] = string.Join(',', grant["methods"]!.AsArray().Select(m => (string)m!));
            h["URL-Paths"] = (string)grant["paths"]![0]!;
        });
        await Refused("no URL-Expires", "message_list", list, h => h.Remove("URL-Expires"));

        Assert.Equal(204, (await Act("message_delete", new { queue_name = "wsdemo", message_id = id })).Status);
        _time.Advance(TimeSpan.FromDays(1));
        await Refused("an expired grant", "message_list", list);
    }
}
