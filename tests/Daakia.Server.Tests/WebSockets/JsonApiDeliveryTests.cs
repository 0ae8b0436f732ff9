using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>
/// The delivery engine on the JSON API, end to end through real sockets: release (negative ack) and redelivery with the
/// delivery count, dead letters read, counted and acknowledged over the same wire, send with a delay, and headers
/// round trips between the JSON API and REST — bad input answered with its error and the connection kept.
/// </summary>
public sealed class JsonApiDeliveryTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c =>
    {
        c["Daakia:Core:MaxDeliveries"] = "2";
        c["Daakia:Core:MaxDelay"] = "00:01:00";
        c["Daakia:Core:MaxHeadersPerLetter"] = "3";
        c["Daakia:Core:MaxHeaderBytes"] = "64";
        c["Daakia:Core:InboxPageSize"] = "8";
        c["Daakia:Core:MaxInflightPerConnection"] = "8";
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static JsonObject Letter(string to, JsonNode? extra = null)
    {
        var f = new JsonObject { ["recipients"] = new JsonArray(to), ["payload"] = "hi" };
        foreach (var (k, v) in extra?.AsObject() ?? [])
        {
            f[k] = v?.DeepClone();
        }

        return f;
    }

    private static JsonObject Ids(params string[] ids) => new() { ["message_ids"] = new JsonArray(ids.Select(i => (JsonNode)i).ToArray()) };

    private static async Task AssertStillUsableAsync(WsTestClient client) =>
        Assert.Equal("ack", (string?)(await client.RequestAsync("ping"))["type"]);

    private async Task<HttpResponseMessage> PostAsync(string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Daakia-Client", "rest-author");
        return await _host.Http.SendAsync(request);
    }

    [Fact]
    public async Task Release_RedeliversTheLetter_WithItsDeliveryCountRaised()
    {
        var bobId = Unique.Name("bob");
        await using var alice = await WsTestClient.HelloAsync(_host, Unique.Name("alice"));
        await using var bob = await WsTestClient.HelloAsync(_host, bobId);
        var sent = await alice.RequestAsync("send", Letter(bobId));
        var first = await bob.NextAsync("letter");
        Assert.Equal((string?)sent["message_id"], (string?)first["message_id"]);
        Assert.Equal(1, (int)first["deliveries"]!);
        Assert.Null(first["headers"]); // a letter without headers has no headers field

        var reply = await bob.RequestAsync("release", Ids((string)first["message_id"]!));
        Assert.Equal("ack", (string?)reply["type"]);
        Assert.Equal(1, (int)reply["released"]!);
        var again = await bob.NextAsync("letter");
        Assert.Equal((string?)first["message_id"], (string?)again["message_id"]);
        Assert.Equal(2, (int)again["deliveries"]!);
        Assert.Equal((string?)first["payload"], (string?)again["payload"]);

        // The redelivered frame is the first one's bytes with its own count: the same fields otherwise.
        var raw = bob.RawFrames.Where(f => f.Contains("\"letter\"", StringComparison.Ordinal)).ToList();
        Assert.Equal(raw[0].Replace("\"deliveries\":1}", "\"deliveries\":2}", StringComparison.Ordinal), raw[1]);

        // Released again it has reached MaxDeliveries (2): a dead letter, not a third delivery.
        Assert.Equal(1, (int)(await bob.RequestAsync("release", Ids((string)first["message_id"]!)))["released"]!);
        await Eventually.True(async () => (long)(await bob.RequestAsync("dead_letters_count"))["count"]! == 1, "the letter is a dead letter");
        Assert.Equal(1, bob.AllFrames.Count(f => (string?)f["type"] == "letter" && (int?)f["deliveries"] == 2));
        Assert.DoesNotContain(bob.AllFrames, f => (string?)f["type"] == "letter" && (int?)f["deliveries"] > 2);
    }

    [Fact]
    public async Task DeadLetters_AreReadCountedAndAcknowledged_OverTheSameWire()
    {
        var bobId = Unique.Name("bob");
        await using var bob = await WsTestClient.HelloAsync(_host, bobId);
        var headers = new JsonObject { ["trace"] = "t-1" };
        var sent = await bob.RequestAsync("send", Letter(bobId, new JsonObject { ["headers"] = headers }));
        var id = (string)sent["message_id"]!;
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            var letter = await bob.NextAsync("letter");
            Assert.Equal(attempt, (int)letter["deliveries"]!);
            Assert.Equal(1, (int)(await bob.RequestAsync("release", Ids(id)))["released"]!);
        }

        await Eventually.True(async () => (long)(await bob.RequestAsync("dead_letters_count"))["count"]! == 1, "the letter is a dead letter");
        var page = await bob.RequestAsync("dead_letters", new JsonObject { ["limit"] = 5 });
        var dead = Assert.Single(page["messages"]!.AsArray())!;
        Assert.Equal(id, (string?)dead["message_id"]);
        Assert.Equal(2, (int)dead["deliveries"]!);
        Assert.Equal("t-1", (string?)dead["headers"]!["trace"]);
        Assert.True((long)dead["sequence"]! > 0);
        Assert.Null(page["next"]);
        var after = await bob.RequestAsync("dead_letters", new JsonObject { ["after"] = (long)dead["sequence"]! });
        Assert.Empty(after["messages"]!.AsArray());

        // REST sees the same dead letter.
        var rest = JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{bobId}/dead-letters"))!;
        Assert.Equal(id, (string?)rest["messages"]![0]!["message_id"]);

        Assert.Equal(0, (int)(await bob.RequestAsync("dead_letters_ack", Ids(Guid.NewGuid().ToString())))["acknowledged"]!);
        Assert.Equal(1, (int)(await bob.RequestAsync("dead_letters_ack", Ids(id)))["acknowledged"]!);
        Assert.Equal(0, (long)(await bob.RequestAsync("dead_letters_count"))["count"]!);
        Assert.Equal(0, (long)JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{bobId}/dead-letters/count"))!["count"]!);
    }

    public static TheoryData<string, string, string> BadRequests => new()
    {
        { "release", """{"message_ids":"x"}""", "invalid_argument" },
        { "release", """{}""", "invalid_argument" },
        { "release", """{"message_ids":[]}""", "invalid_argument" },
        { "release", """{"message_ids":[1]}""", "invalid_argument" },
        { "release", """{"message_ids":["not-a-uuid"]}""", "invalid_argument" },
        { "release", """{"message_ids":["0193a1b2-0000-7000-8000-000000000001","0193a1b2-0000-7000-8000-000000000002","0193a1b2-0000-7000-8000-000000000003","0193a1b2-0000-7000-8000-000000000004","0193a1b2-0000-7000-8000-000000000005","0193a1b2-0000-7000-8000-000000000006","0193a1b2-0000-7000-8000-000000000007","0193a1b2-0000-7000-8000-000000000008","0193a1b2-0000-7000-8000-000000000009"]}""", "limit_exceeded" },
        { "release", """{"message_ids":["0193a1b2-0000-7000-8000-000000000001"],"delay":-1}""", "invalid_argument" },
        { "release", """{"message_ids":["0193a1b2-0000-7000-8000-000000000001"],"delay":61}""", "invalid_argument" },
        { "release", """{"message_ids":["0193a1b2-0000-7000-8000-000000000001"],"delay":"5"}""", "invalid_argument" },
        { "dead_letters", """{"limit":0}""", "invalid_argument" },
        { "dead_letters", """{"limit":9}""", "invalid_argument" },
        { "dead_letters", """{"limit":"5"}""", "invalid_argument" },
        { "dead_letters", """{"after":-1}""", "invalid_argument" },
        { "dead_letters", """{"after":"x"}""", "invalid_argument" },
        { "dead_letters_ack", """{"message_ids":[true]}""", "invalid_argument" },
        { "dead_letters_ack", """{}""", "invalid_argument" },
        { "send", """{"recipients":["bob"],"payload":1,"delay":-1}""", "invalid_argument" },
        { "send", """{"recipients":["bob"],"payload":1,"delay":61}""", "invalid_argument" },
        { "send", """{"recipients":["bob"],"payload":1,"delay":"1"}""", "invalid_argument" },
        { "send", """{"recipients":["bob"],"payload":1,"headers":["a"]}""", "invalid_argument" },
        { "send", """{"recipients":["bob"],"payload":1,"headers":"a=b"}""", "invalid_argument" },
        { "send", """{"recipients":["bob"],"payload":1,"headers":{"a":1}}""", "invalid_argument" },
        { "send", """{"recipients":["bob"],"payload":1,"headers":{"a":null}}""", "invalid_argument" },
        { "send", """{"recipients":["bob"],"payload":1,"headers":{"a":{"b":"c"}}}""", "invalid_argument" },
        { "send", """{"recipients":["bob"],"payload":1,"headers":{"a":"1","b":"2","c":"3","d":"4"}}""", "invalid_argument" },
        { "send", """{"recipients":["bob"],"payload":1,"headers":{"a":"1","a":"2"}}""", "invalid_argument" },
        { "send", """{"recipients":["bob"],"payload":1,"headers":{"k":"0123456789012345678901234567890123456789012345678901234567890123"}}""", "invalid_argument" },
        { "send", """{"recipients":["bob"],"payload":1,"headers":{"k":"\ud800"}}""", "invalid_json" },
        { "send", """{"recipients":["bob"],"payload":1,"headers":{"\udc00":"v"}}""", "invalid_json" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadInput_IsAnsweredWithItsError_AndTheConnectionIsKept(string type, string fields, string code)
    {
        var me = Unique.Name("c");
        await using var client = await WsTestClient.HelloAsync(_host, me);
        if (code == "invalid_json")
        {
            // Refused at the edge, before the frame is parsed: the reply has no id.
            await client.SendTextAsync("{\"id\":\"x\",\"type\":\"" + type + "\"," + fields[1..]);
            var error = await client.NextEventAsync();
            Assert.Equal("error", (string?)error["type"]);
            Assert.Equal(code, (string?)error["code"]);
        }
        else
        {
            // Sent as raw text, so duplicate keys reach the server as written.
            var reply = await RawRequestAsync(client, type, fields);
            Assert.Equal("error", (string?)reply["type"]);
            Assert.Equal(code, (string?)reply["code"]);
            Assert.False(string.IsNullOrEmpty((string?)reply["description"]));
        }

        await AssertStillUsableAsync(client);
        Assert.Equal(0, (long)JsonNode.Parse(await _host.Http.GetStringAsync("/v1/clients/bob/inbox/count"))!["count"]!);
    }

    private static async Task<JsonObject> RawRequestAsync(WsTestClient client, string type, string fields)
    {
        var id = "raw-" + Guid.NewGuid().ToString("N");
        await client.SendTextAsync("{\"id\":\"" + id + "\",\"type\":\"" + type + "\"," + (fields.Length > 2 ? fields[1..] : "\"_\":0}"));
        while (true)
        {
            var e = await client.NextEventAsync();
            if ((string?)e["id"] == id)
            {
                return e;
            }
        }
    }

    [Fact]
    public async Task Release_OfIdsNotOut_ReleasesNothing_AndBeforeHelloIsNotIdentified()
    {
        await using var client = await WsTestClient.HelloAsync(_host, Unique.Name("c"));
        Assert.Equal(0, (int)(await client.RequestAsync("release", Ids(Guid.NewGuid().ToString())))["released"]!);

        await using var anonymous = await WsTestClient.ConnectAsync(_host.WebSocketUri("/v1/ws"));
        foreach (var type in new[] { "release", "dead_letters", "dead_letters_count", "dead_letters_ack" })
        {
            Assert.Equal("not_identified", (string?)(await anonymous.RequestAsync(type, Ids(Guid.NewGuid().ToString())))["code"]);
        }
    }

    [Fact]
    public async Task ReleaseWithDelay_AndSendWithDelay_AreHeldBack()
    {
        var bobId = Unique.Name("bob");
        await using var bob = await WsTestClient.HelloAsync(_host, bobId);
        var clock = Stopwatch.StartNew();
        var sent = await bob.RequestAsync("send", Letter(bobId, new JsonObject { ["delay"] = 1 }));
        Assert.Equal("ack", (string?)sent["type"]);
        var letter = await bob.NextAsync("letter");
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(900), $"a letter sent with a 1 s delay arrived after {clock.Elapsed}");
        Assert.Equal((string?)sent["message_id"], (string?)letter["message_id"]);

        clock.Restart();
        Assert.Equal(1, (int)(await bob.RequestAsync("release", new JsonObject { ["message_ids"] = new JsonArray((string)letter["message_id"]!), ["delay"] = 1 }))["released"]!);
        var again = await bob.NextAsync("letter");
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(900), $"a letter released with a 1 s delay came back after {clock.Elapsed}");
        Assert.Equal(2, (int)again["deliveries"]!);
    }

    [Fact]
    public async Task Headers_RoundTrip_JsonApiToRest_AndRestToJsonApi()
    {
        var bobId = Unique.Name("bob");
        await using var alice = await WsTestClient.HelloAsync(_host, Unique.Name("alice"));
        await using var bob = await WsTestClient.HelloAsync(_host, bobId);

        var headers = new JsonObject { ["trace"] = "abc", ["é"] = "😀 <b>", ["empty"] = "" };
        var sent = await alice.RequestAsync("send", Letter(bobId, new JsonObject { ["headers"] = headers }));
        var letter = await bob.NextAsync("letter");
        Assert.Equal(headers.ToJsonString(), letter["headers"]!.ToJsonString());
        Assert.Equal(["trace", "é", "empty"], letter["headers"]!.AsObject().Select(p => p.Key)); // the sender's order

        var page = JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{bobId}/inbox"))!;
        var entry = page["messages"]!.AsArray().Single(m => (string?)m!["message_id"] == (string?)sent["message_id"])!;
        Assert.Equal(headers.ToJsonString(), entry["headers"]!.ToJsonString());

        using var posted = await PostAsync("/v1/messages", $$$"""{"recipients":["{{{bobId}}}"],"payload":2,"headers":{"from":"rest","n":"2"}}""");
        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);
        var fromRest = await bob.NextAsync("letter");
        Assert.Equal("""{"from":"rest","n":"2"}""", fromRest["headers"]!.ToJsonString());

        // An empty object is no headers.
        await alice.RequestAsync("send", Letter(bobId, new JsonObject { ["headers"] = new JsonObject() }));
        Assert.Null((await bob.NextAsync("letter"))["headers"]);
    }

    [Theory]
    [InlineData("""{"recipients":["bob"],"payload":1,"headers":{"a":1}}""", "invalid_argument")]
    [InlineData("""{"recipients":["bob"],"payload":1,"headers":["a","b"]}""", "invalid_argument")]
    [InlineData("""{"recipients":["bob"],"payload":1,"headers":{"a":"1","b":"2","c":"3","d":"4"}}""", "invalid_argument")]
    [InlineData("""{"recipients":["bob"],"payload":1,"headers":{"k":"0123456789012345678901234567890123456789012345678901234567890123"}}""", "invalid_argument")]
    [InlineData("""{"recipients":["bob"],"payload":1,"headers":{"a":"1","a":"1"}}""", "invalid_argument")]
    [InlineData("""{"recipients":["bob"],"payload":1,"headers":{"k":"\ud800"}}""", "invalid_json")]
    [InlineData("""{"recipients":["bob"],"payload":1,"delay":61}""", "invalid_argument")]
    public async Task Rest_BadHeadersOrDelay_Are400_AndNothingIsStored(string body, string code)
    {
        using var response = await PostAsync("/v1/messages", body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(code, (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["code"]);
        Assert.Equal(0, (long)JsonNode.Parse(await _host.Http.GetStringAsync("/v1/clients/bob/inbox/count"))!["count"]!);
    }
}
