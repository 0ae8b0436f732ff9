using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Server.Tests.Http;

/// <summary>The activity log end to end: sends, acks, connects and task transitions recorded; REST queries by kind,
/// client and time with paging; the live stream on the WebSocket API.</summary>
public sealed class ActivityTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c => c["Daakia:Core:RecordMessageActivity"] = "true");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<JsonObject> GetAsync(string path) => JsonNode.Parse(await _host.Http.GetStringAsync(path))!.AsObject();

    private async Task<string> SendAsync(string from, string to, int n)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent($$"""{"recipients":["{{to}}"],"payload":{{n}}}""", Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Daakia-Client", from);
        using var response = await _host.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["message_id"]!;
    }

    private async Task<List<JsonObject>> EntriesAsync(string query, int atLeast)
    {
        List<JsonObject> entries = [];
        await Eventually.True(async () =>
        {
            entries = [.. (await GetAsync("/v1/activity?" + query))["entries"]!.AsArray().Select(e => e!.AsObject())];
            return entries.Count >= atLeast;
        }, $"{atLeast} entries for ?{query}");
        return entries;
    }

    [Fact]
    public async Task SendsAcksAndConnects_AreRecorded_AndQueriedByKindClientTimeAndPage()
    {
        var sent = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            sent.Add(await SendAsync("alice", "bob", i));
        }

        await using (var bob = await WsTestClient.HelloAsync(_host, "bob"))
        {
            for (var i = 0; i < 5; i++)
            {
                var letter = await bob.NextAsync("letter");
                await bob.RequestAsync("ack", new { message_ids = new[] { (string)letter["message_id"]! } });
            }
        }

        var sends = await EntriesAsync("kind=sent", 5);
        Assert.Equal(sent, sends.Select(e => (string)e["subject"]!));
        Assert.All(sends, e => Assert.Equal(("alice", "bob"), ((string?)e["actor"], (string?)e["detail"])));
        var acks = await EntriesAsync("kind=acked&client=bob", 5);
        Assert.Equal(sent, acks.Select(e => (string)e["subject"]!));
        var bobs = await EntriesAsync("client=bob", 7);
        Assert.Equal(["connect", "acked", "acked", "acked", "acked", "acked", "disconnect"], bobs.Select(e => (string)e["kind"]!));
        Assert.Empty((await GetAsync("/v1/activity?client=carol"))["entries"]!.AsArray());

        // Paging: two at a time, resuming after `next`, every entry once and in order.
        var paged = new List<long>();
        long? after = 0;
        while (after is { } a)
        {
            var page = await GetAsync($"/v1/activity?kind=sent,acked&limit=2&after={a}");
            paged.AddRange(page["entries"]!.AsArray().Select(e => (long)e!["id"]!));
            after = (long?)page["next"];
        }

        Assert.Equal(sends.Concat(acks).Select(e => (long)e["id"]!).Order(), paged);

        // A time range: nothing before the first entry, everything from it on, nothing in the future.
        var first = (string)sends[0]["at"]!;
        Assert.Equal(5, (await GetAsync($"/v1/activity?kind=sent&since={Uri.EscapeDataString(first)}"))["entries"]!.AsArray().Count);
        Assert.Empty((await GetAsync($"/v1/activity?until={Uri.EscapeDataString(first)}&kind=sent"))["entries"]!.AsArray());
        Assert.Empty((await GetAsync($"/v1/activity?since={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddDays(1).ToString("O"))}"))["entries"]!.AsArray());
        foreach (var bad in new[] { "since=yesterday", "until=2026-13-45", "client=bad%20id", "after=-1", "limit=0" })
        {
            using var response = await _host.Http.GetAsync("/v1/activity?" + bad);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("invalid_argument", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["code"]);
        }
    }

    [Fact]
    public async Task ActivitySubscribe_StreamsNewEntriesLive_FilteredByKind_AndReplaysFromAnId()
    {
        await SendAsync("alice", "bob", 0); // before the stream: not streamed "from now"
        await using var dash = await WsTestClient.HelloAsync(_host, "dash");
        var ack = await dash.RequestAsync("activity_subscribe", new { kinds = new[] { "sent", "task_submitted" } });
        var from = (long)ack["after"]!;
        var id = await SendAsync("alice", "carol", 1);
        var live = (await dash.NextAsync("activity"))["entry"]!;
        Assert.Equal(("sent", "alice", id, "carol"), ((string?)live["kind"], (string?)live["actor"], (string?)live["subject"], (string?)live["detail"]));
        Assert.True((long)live["id"]! > from);

        // Another protocol's activity reaches it too: a task submitted over REST by a WebSocket worker's service.
        await using var worker = await WsTestClient.HelloAsync(_host, "w");
        await worker.RequestAsync("worker_register", new { services = new[] { "echo" } });
        using (var submit = new HttpRequestMessage(HttpMethod.Post, "/v1/services/echo/tasks") { Content = new StringContent("""{"payload":1}""", Encoding.UTF8, "application/json") })
        {
            submit.Headers.Add("X-Daakia-Client", "erin");
            using var response = await _host.Http.SendAsync(submit);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        var task = (await dash.NextAsync("activity"))["entry"]!;
        Assert.Equal(("task_submitted", "erin"), ((string?)task["kind"], (string?)task["actor"]));

        // A second subscription replaces the first and replays from an id: both sends, in order.
        var replay = await dash.RequestAsync("activity_subscribe", new { after = 0, kinds = new[] { "sent" }, client = "alice" });
        Assert.Equal(0, (long)replay["after"]!);
        var again = new List<string>();
        while (again.Count < 2)
        {
            var e = (await dash.NextAsync("activity"))["entry"]!;
            if ((long)e["id"]! <= (long)live["id"]! && (string?)e["kind"] == "sent")
            {
                again.Add((string)e["detail"]!);
            }
        }

        Assert.Equal(["bob", "carol"], again);
        Assert.Equal("ack", (string?)(await dash.RequestAsync("activity_unsubscribe"))["type"]);
        var bad = await dash.RequestAsync("activity_subscribe", new { after = -5 });
        Assert.Equal(("error", "invalid_argument"), ((string?)bad["type"], (string?)bad["code"]));
    }

    [Fact]
    public async Task AStreamTheOutboxCannotKeepUpWith_EndsWithOverflow_AtTheLastIdDelivered_AndResumesFromThere()
    {
        await using var host = await DaakiaTestHost.StartAsync(c =>
        {
            c["Daakia:Core:RecordMessageActivity"] = "true";
            c["Daakia:OutboxCapacity"] = "8"; // a burst of entries cannot fit
            c["Daakia:Core:MaxInflightPerConnection"] = "4";
        });
        var sent = new List<string>();
        for (var i = 0; i < 300; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent($$"""{"recipients":["bob"],"payload":{{i}}}""", Encoding.UTF8, "application/json") };
            request.Headers.Add("X-Daakia-Client", "alice");
            using var response = await host.Http.SendAsync(request);
            sent.Add((string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["message_id"]!);
        }

        await using var dash = await WsTestClient.HelloAsync(host, "dash");
        var seen = new List<(long Id, string Subject)>();
        var overflows = 0;
        long after = 0;
        while (seen.Count < sent.Count)
        {
            var ack = await dash.RequestAsync("activity_subscribe", new { after, kinds = new[] { "sent" } });
            Assert.Equal(after, (long)ack["after"]!);
            while (seen.Count < sent.Count)
            {
                var e = await dash.NextEventAsync();
                if ((string?)e["type"] == "activity_overflow")
                {
                    overflows++;
                    after = (long)e["after"]!;
                    Assert.Equal(seen.Count == 0 ? 0 : seen[^1].Id, after); // the last id it delivered
                    break;
                }

                if ((string?)e["type"] == "activity")
                {
                    seen.Add(((long)e["entry"]!["id"]!, (string)e["entry"]!["subject"]!));
                }
            }
        }

        Assert.True(overflows > 0, "an 8-frame outbox cannot take 300 entries at once");
        Assert.Equal(sent, seen.Select(s => s.Subject)); // every entry once, in order, across the resumes
        Assert.True(seen.Select(s => s.Id).SequenceEqual(seen.Select(s => s.Id).Order()));
    }
}
