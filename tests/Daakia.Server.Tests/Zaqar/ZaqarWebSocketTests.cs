using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Server.Tests.Zaqar;

/// <summary>
/// Zaqar's v2 WebSocket API at <c>/v2/ws</c> over a real WebSocket: request/response framing with the request echoed,
/// per-frame headers, queues, messages and claims on the same queues as REST (posted over one, claimed over the other),
/// errors in Zaqar's shapes, and isolation between projects.
/// </summary>
public sealed class ZaqarWebSocketTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;
    private ClientWebSocket _ws = null!;
    private static readonly string Me = Guid.NewGuid().ToString();

    public async Task InitializeAsync()
    {
        _host = await DaakiaTestHost.StartAsync();
        _ws = new ClientWebSocket();
        await _ws.ConnectAsync(_host.WebSocketUri("/v2/ws"), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        _ws.Dispose();
        await _host.DisposeAsync();
    }

    private async Task<(int Status, JsonNode? Body, JsonNode Request)> ActAsync(string action, object? body = null, string project = "p1", string? client = null, string? raw = null)
    {
        var frame = raw ?? new JsonObject
        {
            ["action"] = action,
            ["headers"] = new JsonObject { ["Client-ID"] = client ?? Me, ["X-Project-ID"] = project },
            ["body"] = body is null ? new JsonObject() : JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(body)),
        }.ToJsonString();
        await _ws.SendAsync(Encoding.UTF8.GetBytes(frame), WebSocketMessageType.Text, true, CancellationToken.None);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[1 << 20];
        var count = 0;
        ValueWebSocketReceiveResult r;
        do
        {
            r = await _ws.ReceiveAsync(buffer.AsMemory(count), timeout.Token);
            count += r.Count;
        }
        while (!r.EndOfMessage);

        var reply = JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, count))!;
        return ((int)reply["headers"]!["status"]!, reply["body"], reply["request"]!);
    }

    [Fact]
    public async Task QueuesMessagesAndClaims_WorkOverTheWebSocket_WithTheRequestEchoed()
    {
        var (created, text, request) = await ActAsync("queue_create", new { queue_name = "wsq", metadata = new { purpose = "ws" } });
        Assert.Equal((201, "Queue wsq created."), (created, (string?)text));
        Assert.Equal(("queue_create", "v2"), ((string?)request["action"], (string?)request["api"]));
        Assert.Equal(204, (await ActAsync("queue_create", new { queue_name = "wsq" })).Status);
        Assert.Equal("ws", (string?)(await ActAsync("queue_get", new { queue_name = "wsq" })).Body!["purpose"]);
        Assert.Equal(["wsq"], (await ActAsync("queue_list")).Body!["queues"]!.AsArray().Select(q => (string)q!["name"]!));

        var (posted, ids, _) = await ActAsync("message_post", new { queue_name = "wsq", messages = new object[] { new { body = new { n = 1 }, ttl = 300 }, new { body = "two" } } });
        Assert.Equal(201, posted);
        var messageIds = ids!["message_ids"]!.AsArray().Select(i => (string)i!).ToList();
        Assert.Equal(2, messageIds.Count);
        Assert.Empty((await ActAsync("message_list", new { queue_name = "wsq" })).Body!["messages"]!.AsArray()); // own, no echo
        var listed = (await ActAsync("message_list", new { queue_name = "wsq", echo = true })).Body!["messages"]!.AsArray();
        Assert.Equal(["{\"n\":1}", "\"two\""], listed.Select(m => m!["body"]!.ToJsonString()));
        Assert.Equal(300, (int)listed[0]!["ttl"]!);
        Assert.Equal("\"two\"", (await ActAsync("message_get", new { queue_name = "wsq", message_id = messageIds[1] })).Body!["messages"]!["body"]!.ToJsonString());
        Assert.Equal(2, (await ActAsync("message_get_many", new { queue_name = "wsq", message_ids = messageIds })).Body!["messages"]!.AsArray().Count);

        var (claimed, claim, _) = await ActAsync("claim_create", new { queue_name = "wsq", limit = 1, ttl = 60, grace = 60 });
        Assert.Equal(201, claimed);
        var claimId = (string)claim!["claim_id"]!;
        Assert.Equal((messageIds[0], claimId), ((string?)claim["messages"]![0]!["id"], (string?)claim["messages"]![0]!["claim_id"]));
        Assert.Equal(60, (int)(await ActAsync("claim_get", new { queue_name = "wsq", claim_id = claimId })).Body!["ttl"]!);
        Assert.Equal(204, (await ActAsync("claim_update", new { queue_name = "wsq", claim_id = claimId, ttl = 120, grace = 60 })).Status);
        var forbidden = await ActAsync("message_delete", new { queue_name = "wsq", message_id = messageIds[0] });
        Assert.Equal((403, "This message is claimed; it cannot be deleted without a valid claim ID."), (forbidden.Status, (string?)forbidden.Body!["exception"]));
        Assert.Equal(204, (await ActAsync("message_delete", new { queue_name = "wsq", message_id = messageIds[0], claim_id = claimId })).Status);
        Assert.Equal(204, (await ActAsync("claim_delete", new { queue_name = "wsq", claim_id = claimId })).Status);
        Assert.Equal(404, (await ActAsync("claim_get", new { queue_name = "wsq", claim_id = claimId })).Status);

        var stats = (await ActAsync("queue_get_stats", new { queue_name = "wsq" })).Body!["messages"]!;
        Assert.Equal((0, 1, 1), ((int)stats["claimed"]!, (int)stats["free"]!, (int)stats["total"]!));
        var popped = await ActAsync("message_delete_many", new { queue_name = "wsq", pop = 5 });
        Assert.Equal(["\"two\""], popped.Body!["messages"]!.AsArray().Select(m => m!["body"]!.ToJsonString()));
        Assert.Equal(204, (await ActAsync("claim_create", new { queue_name = "wsq" })).Status);
        Assert.Equal(204, (await ActAsync("queue_delete", new { queue_name = "wsq" })).Status);
    }

    [Fact]
    public async Task MessageList_PagesWithTheLastIdAsItsMarker_AsZaqarsWebSocketClientsDo()
    {
        await ActAsync("message_post", new { queue_name = "paged", messages = Enumerable.Range(0, 5).Select(n => new { body = n }).ToArray() });
        var seen = new List<int>();
        string? marker = null;
        for (var page = 0; page < 10; page++)
        {
            var (_, body, _) = await ActAsync("message_list", marker is null ? new { queue_name = "paged", echo = true, limit = 2 } : (object)new { queue_name = "paged", echo = true, limit = 2, marker });
            var messages = body!["messages"]!.AsArray();
            if (messages.Count == 0)
            {
                break;
            }

            seen.AddRange(messages.Select(m => (int)m!["body"]!));
            marker = (string)messages[^1]!["id"]!;
        }

        Assert.Equal([0, 1, 2, 3, 4], seen);
        var bad = await ActAsync("", raw: """{"action": "message_post", "headers": {}, "body": {"queue_name": "q", "messages": [{"body": "\ud800"}]}}""");
        Assert.Equal(400, bad.Status);
        Assert.Equal(204, (await ActAsync("queue_purge", new { queue_name = "paged", resource_types = new[] { "subscriptions" } })).Status);
        Assert.Equal(5, (int)(await ActAsync("queue_get_stats", new { queue_name = "paged" })).Body!["messages"]!["total"]!); // messages kept
    }

    [Fact]
    public async Task AMessagePostedOverRest_IsClaimedOverTheWebSocket_AndDeletedOverRest()
    {
        using var post = new HttpRequestMessage(HttpMethod.Post, "/v2/queues/shared/messages")
        {
            Content = new StringContent("""{"messages": [{"body": {"from": "rest"}}]}""", Encoding.UTF8, "application/json"),
        };
        post.Headers.Add("Client-ID", Guid.NewGuid().ToString());
        post.Headers.Add("X-Project-ID", "p1");
        using (var posted = await _host.Http.SendAsync(post))
        {
            Assert.Equal(System.Net.HttpStatusCode.Created, posted.StatusCode);
        }

        var (status, claim, _) = await ActAsync("claim_create", new { queue_name = "shared", ttl = 60, grace = 60 });
        Assert.Equal(201, status);
        var message = claim!["messages"]![0]!;
        Assert.Equal("{\"from\":\"rest\"}", message["body"]!.ToJsonString());

        using var delete = new HttpRequestMessage(HttpMethod.Delete, $"/v2/queues/shared/messages/{message["id"]}?claim_id={claim["claim_id"]}");
        delete.Headers.Add("Client-ID", Me);
        delete.Headers.Add("X-Project-ID", "p1");
        using (var deleted = await _host.Http.SendAsync(delete))
        {
            Assert.Equal(System.Net.HttpStatusCode.NoContent, deleted.StatusCode);
        }

        Assert.Equal(0, (int)(await ActAsync("queue_get_stats", new { queue_name = "shared" })).Body!["messages"]!["total"]!);
    }

    [Fact]
    public async Task BadFrames_GetZaqarsErrors_AndTheConnectionGoesOn_AndProjectsStayApart()
    {
        var notJson = await ActAsync("", raw: "{nope");
        Assert.Equal(400, notJson.Status);
        Assert.StartsWith("Can't decode text (JSON) request.", (string?)notJson.Body!["error"], StringComparison.Ordinal);
        Assert.Equal("Unexpected body type. Expected dict or dict like.", (string?)(await ActAsync("", raw: "[1]")).Body!["error"]);
        Assert.Equal("Schema validation failed.", (string?)(await ActAsync("", raw: """{"action": "queue_list"}""")).Body!["error"]);
        var unknown = await ActAsync("fly_away");
        Assert.Equal((400, "fly_away is not a valid action"), (unknown.Status, (string?)unknown.Body!["error"]));
        var badLimit = await ActAsync("claim_create", new { queue_name = "q", limit = 50 });
        Assert.Equal((400, "Limit must be at least 1 and may not be greater than 20."), (badLimit.Status, (string?)badLimit.Body!["exception"]));
        Assert.Equal(400, (await ActAsync("message_post", new { queue_name = "q", messages = new[] { new { body = 1, ttl = -5 } } })).Status);
        Assert.Equal(400, (await ActAsync("message_delete_many", new { queue_name = "q", pop = 1, message_ids = new[] { Guid.NewGuid() } })).Status);
        var badUuid = await ActAsync("message_post", new { queue_name = "q", messages = new[] { new { body = 1 } } }, client: "not-a-uuid");
        Assert.Equal(400, badUuid.Status);

        await ActAsync("message_post", new { queue_name = "mine", messages = new[] { new { body = "secret" } } });
        Assert.Empty((await ActAsync("queue_list", project: "p2")).Body!["queues"]!.AsArray());
        Assert.Equal(404, (await ActAsync("message_list", new { queue_name = "mine", echo = true }, project: "p2")).Status);
        Assert.Equal(204, (await ActAsync("claim_create", new { queue_name = "mine" }, project: "p2")).Status);
        Assert.Equal(1, (int)(await ActAsync("queue_get_stats", new { queue_name = "mine" })).Body!["messages"]!["total"]!);
    }
}
