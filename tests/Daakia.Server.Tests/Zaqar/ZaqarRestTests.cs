using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Daakia.Server.Tests.Zaqar;

/// <summary>
/// Zaqar's v2 REST API over real HTTP on the real host (a fake clock for TTLs and claims): the headers Zaqar requires,
/// queues, messages, claims, deletes under claims, dead letters, pop, stats, errors as Zaqar answers them
/// (docs/zaqar-wire.md), and isolation between projects.
/// </summary>
public sealed class ZaqarRestTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private DaakiaTestHost _host = null!;
    private static readonly string Me = Guid.NewGuid().ToString();
    private static readonly string Worker = Guid.NewGuid().ToString();

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(customize: b => b.Services.AddSingleton<TimeProvider>(_time));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private sealed record Answer(HttpStatusCode Status, JsonNode? Body, HttpResponseMessage Response)
    {
        public string? Title => (string?)Body?["title"];

        public string? Description => (string?)Body?["description"];
    }

    private async Task<Answer> SendAsync(HttpMethod method, string path, string? json = null, string project = "p1", string? client = null, string contentType = "application/json", Action<HttpRequestMessage>? headers = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8);
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        }

        if (client != "")
        {
            request.Headers.Add("Client-ID", client ?? Me);
        }

        if (project != "-")
        {
            request.Headers.Add("X-Project-ID", project);
        }

        headers?.Invoke(request);
        var response = await _host.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return new Answer(response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text), response);
    }

    private Task<Answer> Get(string path, string project = "p1", string? client = null) => SendAsync(HttpMethod.Get, path, null, project, client);

    private async Task<List<string>> PostMessagesAsync(string queue, string messages, string project = "p1", string? client = null)
    {
        var a = await SendAsync(HttpMethod.Post, $"/v2/queues/{queue}/messages", $$"""{"messages": {{messages}}}""", project, client);
        Assert.True(a.Status == HttpStatusCode.Created, $"{(int)a.Status} {a.Body}");
        return [.. a.Body!["resources"]!.AsArray().Select(r => ((string)r!).Split('/')[^1])];
    }

    private static List<string> Bodies(Answer a) => [.. a.Body!["messages"]!.AsArray().Select(m => m!["body"]!.ToJsonString())];

    [Fact]
    public async Task EveryRequest_NeedsAUuidClientIdAndAProject_AndAnswersZaqarsErrorBodies()
    {
        var missing = await SendAsync(HttpMethod.Get, "/v2/queues", client: "");
        Assert.Equal((HttpStatusCode.BadRequest, "Missing header value", "The \"Client-ID\" header is required."), (missing.Status, missing.Title, missing.Description));
        var malformed = await SendAsync(HttpMethod.Get, "/v2/queues", client: "not-a-uuid");
        Assert.Equal((HttpStatusCode.BadRequest, "Wrong UUID value"), (malformed.Status, malformed.Title));
        var noProject = await SendAsync(HttpMethod.Get, "/v2/queues", project: "-");
        Assert.Equal((HttpStatusCode.BadRequest, "Project-Id Missing"), (noProject.Status, noProject.Title));
        var emptyProject = await SendAsync(HttpMethod.Get, "/v2/queues", project: "");
        Assert.Equal((HttpStatusCode.BadRequest, "Empty project header not allowed"), (emptyProject.Status, emptyProject.Title));
        var badName = await SendAsync(HttpMethod.Put, "/v2/queues/bad%20name");
        Assert.Equal((HttpStatusCode.BadRequest, "Invalid queue identification"), (badName.Status, badName.Title));
        var xml = await SendAsync(HttpMethod.Get, "/v2/queues", headers: r => r.Headers.Accept.ParseAdd("application/xml"));
        Assert.Equal(HttpStatusCode.NotAcceptable, xml.Status);

        Assert.Equal(HttpStatusCode.NoContent, (await Get("/v2/ping")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await Get("/v2/health")).Status); // admin only
        var health = await SendAsync(HttpMethod.Get, "/v2/health", headers: r => r.Headers.Add("X-Roles", "member, admin"));
        Assert.Equal(HttpStatusCode.OK, health.Status);
        Assert.True((bool)health.Body!["storage_reachable"]!);
        Assert.All(health.Body["operation_status"]!.AsObject(), op => Assert.True((bool)op.Value!["succeeded"]!, op.Key));
        Assert.Equal(8, health.Body["operation_status"]!.AsObject().Count);
        // Nothing left behind, in a tenant no project reaches (a project named zq-… maps to a hashed tenant).
        Assert.Empty(_host.Get<Daakia.Core.DaakiaEngine>().Queues.List(Daakia.Core.TenantId.Parse("zq-health"), null, 10));
        var home = await SendAsync(HttpMethod.Get, "/v2/");
        Assert.Equal(HttpStatusCode.OK, home.Status);
        Assert.Equal("application/json-home", home.Response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("/v2/queues/{queue_name}/claims{?limit}", (string?)home.Body!["resources"]!["rel/post_claim"]!["href-template"]);
    }

    [Fact]
    public async Task Queues_AreCreatedOnce_Listed_WithMetadataAndZaqarsDefaults_Patched_AndDeleted()
    {
        var created = await SendAsync(HttpMethod.Put, "/v2/queues/fizbit", """{"_max_claim_count": 3, "color": "blue"}""");
        Assert.Equal(HttpStatusCode.Created, created.Status);
        Assert.Equal("/v2/queues/fizbit", created.Response.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Put, "/v2/queues/fizbit", """{"color": "red"}""")).Status);
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Put, "/v2/queues/alpha")).Status);

        var meta = (await Get("/v2/queues/fizbit")).Body!;
        Assert.Equal(("blue", 3, 3600, 262144, 0), ((string?)meta["color"], (int)meta["_max_claim_count"]!, (int)meta["_default_message_ttl"]!, (int)meta["_max_messages_post_size"]!, (int)meta["_default_message_delay"]!));
        Assert.Equal(3600, (int)(await Get("/v2/queues/never-made")).Body!["_default_message_ttl"]!); // Zaqar: 200 with defaults

        var page = await Get("/v2/queues?limit=1&detailed=true");
        var queues = page.Body!["queues"]!.AsArray();
        Assert.Equal(("alpha", "/v2/queues/alpha"), ((string?)queues[0]!["name"], (string?)queues[0]!["href"]));
        Assert.NotNull(queues[0]!["metadata"]);
        var next = (string)page.Body["links"]![0]!["href"]!;
        Assert.Equal("fizbit", (string?)(await Get(next)).Body!["queues"]![0]!["name"]);
        Assert.Equal(HttpStatusCode.BadRequest, (await Get("/v2/queues?limit=21")).Status);

        var patched = await SendAsync(HttpMethod.Patch, "/v2/queues/fizbit",
            """[{"op": "replace", "path": "/metadata/color", "value": "green"}, {"op": "add", "path": "/metadata/_default_message_ttl", "value": 120}]""",
            contentType: "application/openstack-messaging-v2.0-json-patch");
        Assert.Equal(HttpStatusCode.OK, patched.Status);
        Assert.Equal(("green", 120), ((string?)patched.Body!["color"], (int)patched.Body["_default_message_ttl"]!));
        var wrongType = await SendAsync(HttpMethod.Patch, "/v2/queues/fizbit", "[]");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, wrongType.Status);
        var conflict = await SendAsync(HttpMethod.Patch, "/v2/queues/fizbit", """[{"op": "remove", "path": "/metadata/nothing"}]""",
            contentType: "application/openstack-messaging-v2.0-json-patch");
        Assert.Equal((HttpStatusCode.Conflict, "Resource conflict"), (conflict.Status, conflict.Title));
        var emptyKey = await SendAsync(HttpMethod.Patch, "/v2/queues/fizbit", """[{"op": "add", "path": "/metadata/", "value": 1}]""",
            contentType: "application/openstack-messaging-v2.0-json-patch");
        Assert.Equal((HttpStatusCode.BadRequest, "Invalid request body"), (emptyKey.Status, emptyKey.Title));
        var encrypt = await SendAsync(HttpMethod.Put, "/v2/queues/enc", """{"_enable_encrypt_messages": "yes"}""");
        Assert.Equal((HttpStatusCode.BadRequest, "_enable_encrypt_messages must be boolean."), (encrypt.Status, encrypt.Description));
        var badRange = await SendAsync(HttpMethod.Put, "/v2/queues/short", """{"_default_message_ttl": 10}""");
        Assert.Equal((HttpStatusCode.BadRequest, "Invalid API request"), (badRange.Status, badRange.Title));

        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/v2/queues/fizbit")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/v2/queues/fizbit")).Status);
        Assert.Equal(["alpha"], (await Get("/v2/queues")).Body!["queues"]!.AsArray().Select(q => (string)q!["name"]!));
    }

    [Fact]
    public async Task Messages_ArePosted_Listed_WithoutOwnUnlessEcho_ByMarker_GotByIds_AndExpire()
    {
        var ids = await PostMessagesAsync("jobs", """[{"body": {"n": 1}, "ttl": 60}, {"body": "two"}, {"body": [3]}]""");
        Assert.Equal(3, ids.Count);
        Assert.Empty((await Get("/v2/queues/jobs/messages")).Body!["messages"]!.AsArray()); // own messages, no echo
        var all = await Get("/v2/queues/jobs/messages?echo=true&limit=2");
        Assert.Equal(["""{"n":1}""", "\"two\""], Bodies(all));
        var first = all.Body!["messages"]![0]!;
        Assert.Equal(($"/v2/queues/jobs/messages/{ids[0]}", 60), ((string?)first["href"], (int)first["ttl"]!));
        var rest = await Get((string)all.Body["links"]![0]!["href"]!);
        Assert.Equal(["[3]"], Bodies(rest));
        Assert.Equal(3, (await Get("/v2/queues/jobs/messages", client: Worker)).Body!["messages"]!.AsArray().Count);

        var some = await Get($"/v2/queues/jobs/messages?ids={ids[2]},{ids[0]}");
        Assert.Equal(["""{"n":1}""", "[3]"], Bodies(some));
        Assert.Equal("\"two\"", (await Get($"/v2/queues/jobs/messages/{ids[1]}")).Body!["body"]!.ToJsonString());
        var unknown = await Get($"/v2/queues/jobs/messages?ids={Guid.NewGuid()}");
        Assert.Equal((HttpStatusCode.NotFound, "Not found"), (unknown.Status, unknown.Title));
        Assert.Equal(HttpStatusCode.NotFound, (await Get($"/v2/queues/jobs/messages/{Guid.NewGuid()}")).Status);

        _time.Advance(TimeSpan.FromSeconds(61)); // the first one's TTL passed
        Assert.Equal(["\"two\"", "[3]"], Bodies(await Get("/v2/queues/jobs/messages?echo=true")));

        var bad = await SendAsync(HttpMethod.Post, "/v2/queues/jobs/messages", """{"messages": [{"body": 1, "ttl": 30}]}""");
        Assert.Equal((HttpStatusCode.BadRequest, "Invalid API request"), (bad.Status, bad.Title));
        var empty = await SendAsync(HttpMethod.Post, "/v2/queues/jobs/messages", """{"messages": []}""");
        Assert.Equal(HttpStatusCode.BadRequest, empty.Status);
        var notJson = await SendAsync(HttpMethod.Post, "/v2/queues/jobs/messages", "{nope");
        Assert.Equal((HttpStatusCode.BadRequest, "Invalid request body"), (notJson.Status, notJson.Title));
        var noBody = await SendAsync(HttpMethod.Post, "/v2/queues/jobs/messages", """{"messages": [{"ttl": 60}]}""");
        Assert.Equal((HttpStatusCode.BadRequest, "Missing \"body\" field."), (noBody.Status, noBody.Description));
        var big = await SendAsync(HttpMethod.Post, "/v2/queues/jobs/messages", $$"""{"messages": [{"body": "{{new string('x', 262_200)}}"}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, big.Status);
    }

    [Fact]
    public async Task Claims_HideTheirMessages_AreRenewedAndReleased_AndAClaimedMessageIsDeletedOnlyWithItsClaim()
    {
        var ids = await PostMessagesAsync("work", """[{"body": 1}, {"body": 2}, {"body": 3}]""");
        var claim = await SendAsync(HttpMethod.Post, "/v2/queues/work/claims?limit=2", """{"ttl": 60, "grace": 60}""", client: Worker);
        Assert.Equal(HttpStatusCode.Created, claim.Status);
        var location = claim.Response.Headers.Location!.OriginalString;
        var claimId = location.Split('/')[^1];
        Assert.Equal(["1", "2"], Bodies(claim));
        Assert.EndsWith($"?claim_id={claimId}", (string)claim.Body!["messages"]![0]!["href"]!, StringComparison.Ordinal);

        Assert.Equal(["3"], Bodies(await Get("/v2/queues/work/messages", client: Worker)));
        Assert.Equal(["1", "2", "3"], Bodies(await Get("/v2/queues/work/messages?include_claimed=true", client: Worker)));
        var got = await Get(location);
        Assert.Equal(60, (int)got.Body!["ttl"]!);
        Assert.Equal(["1", "2"], Bodies(got));

        var noClaim = await SendAsync(HttpMethod.Delete, $"/v2/queues/work/messages/{ids[0]}");
        Assert.Equal((HttpStatusCode.Forbidden, "Unable to delete", "This message is claimed; it cannot be deleted without a valid claim ID."), (noClaim.Status, noClaim.Title, noClaim.Description));
        var notClaimed = await SendAsync(HttpMethod.Delete, $"/v2/queues/work/messages/{ids[2]}?claim_id={claimId}");
        Assert.Equal((HttpStatusCode.BadRequest, "A claim was specified, but the message is not currently claimed."), (notClaimed.Status, notClaimed.Description));
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/v2/queues/work/messages/{ids[0]}?claim_id={claimId}")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/v2/queues/work/messages/{ids[0]}?claim_id={claimId}")).Status); // gone: 204

        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Patch, location, """{"ttl": 120, "grace": 60}""")).Status);
        _time.Advance(TimeSpan.FromSeconds(90)); // past the first TTL, within the renewal
        Assert.Equal(HttpStatusCode.OK, (await Get(location)).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, location)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Get(location)).Status);
        Assert.Equal(["2", "3"], Bodies(await Get("/v2/queues/work/messages", client: Worker)));

        var again = await SendAsync(HttpMethod.Post, "/v2/queues/work/claims", null, client: Worker); // defaults: ttl 300, grace 60
        Assert.Equal(["2", "3"], Bodies(again));
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Post, "/v2/queues/work/claims", null, client: Worker)).Status);
        _time.Advance(TimeSpan.FromSeconds(301)); // the claim expired: claimable again
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Post, "/v2/queues/work/claims", null, client: Worker)).Status);

        var shortTtl = await SendAsync(HttpMethod.Post, "/v2/queues/work/claims", """{"ttl": 10}""");
        Assert.Equal((HttpStatusCode.BadRequest, "Invalid API request"), (shortTtl.Status, shortTtl.Title));
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Post, "/v2/queues/never/claims", null)).Status);
    }

    [Fact]
    public async Task AClaim_KeepsAShorterLivedMessageAlive_UntilItAndItsGraceHavePassed_ShowingTtlAsClaimTtlPlusGrace_AsZaqarDoes()
    {
        static List<int> Ttls(Answer a) => [.. a.Body!["messages"]!.AsArray().Select(m => (int)m!["ttl"]!)];
        var ids = await PostMessagesAsync("lives", """[{"body": 1, "ttl": 60}, {"body": 2, "ttl": 3600}]""");
        _time.Advance(TimeSpan.FromSeconds(30));

        // Zaqar: a claimed message that would expire before the claim + grace gets ttl = claim ttl + grace (its age
        // still from its post); one that lives longer keeps its own.
        var claim = await SendAsync(HttpMethod.Post, "/v2/queues/lives/claims", """{"ttl": 120, "grace": 60}""", client: Worker);
        Assert.Equal(HttpStatusCode.Created, claim.Status);
        Assert.Equal([180, 3600], Ttls(claim));
        Assert.Equal([30, 30], claim.Body!["messages"]!.AsArray().Select(m => (int)m!["age"]!));
        var location = claim.Response.Headers.Location!.OriginalString;
        Assert.Equal([180, 3600], Ttls(await Get(location)));
        Assert.Equal([180, 3600], Ttls(await Get("/v2/queues/lives/messages?include_claimed=true", client: Worker)));

        _time.Advance(TimeSpan.FromSeconds(90)); // 120 s: past the first message's own TTL, still claimed and alive
        Assert.Equal(180, (int)(await Get($"/v2/queues/lives/messages/{ids[0]}")).Body!["ttl"]!);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Patch, location, """{"ttl": 300, "grace": 60}""")).Status);
        Assert.Equal([360, 3600], Ttls(await Get(location))); // renewed: alive until 480 s

        _time.Advance(TimeSpan.FromSeconds(300)); // 420 s: the claim ended, both visible
        Assert.Equal(["1", "2"], Bodies(await Get("/v2/queues/lives/messages", client: Worker)));
        _time.Advance(TimeSpan.FromSeconds(60)); // 480 s
        Assert.Equal(["2"], Bodies(await Get("/v2/queues/lives/messages", client: Worker)));
        Assert.Equal(HttpStatusCode.NotFound, (await Get($"/v2/queues/lives/messages/{ids[0]}")).Status);
    }

    [Fact]
    public async Task AMessageMovedToTheDeadLetterQueue_LivesForTheSourceQueuesDeadLetterTtl()
    {
        await SendAsync(HttpMethod.Put, "/v2/queues/src", """{"_max_claim_count": 1, "_dead_letter_queue": "src-dead", "_dead_letter_queue_messages_ttl": 120}""");
        await PostMessagesAsync("src", """[{"body": "a", "ttl": 3600}]""");
        var first = await SendAsync(HttpMethod.Post, "/v2/queues/src/claims", null, client: Worker);
        await SendAsync(HttpMethod.Delete, first.Response.Headers.Location!.OriginalString);
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Post, "/v2/queues/src/claims", null, client: Worker)).Status); // moved

        _time.Advance(TimeSpan.FromSeconds(119)); // 149 s
        Assert.Equal(["\"a\""], Bodies(await Get("/v2/queues/src-dead/messages", client: Worker)));
        _time.Advance(TimeSpan.FromSeconds(1)); // 150 s: 120 s after the move, not the hour it was posted with
        Assert.Empty(Bodies(await Get("/v2/queues/src-dead/messages", client: Worker)));
    }

    [Fact]
    public async Task AListingPastALongHeadOfMessagesItDoesNotShow_StillLinksOn_UntilItFindsTheRest()
    {
        // 400 of the lister's own messages (not shown without echo), then one of another client.
        for (var i = 0; i < 4; i++)
        {
            await PostMessagesAsync("long", "[" + string.Join(",", Enumerable.Range(0, 100).Select(n => $$"""{"body": {{n}}}""")) + "]");
        }

        await PostMessagesAsync("long", """[{"body": "theirs"}]""", client: Worker);
        var found = new List<string>();
        var path = "/v2/queues/long/messages";
        for (var page = 0; page < 100 && found.Count == 0; page++)
        {
            var a = await Get(path);
            found.AddRange(Bodies(a));
            var links = a.Body!["links"]!.AsArray();
            if (links.Count == 0)
            {
                break;
            }

            path = (string)links[0]!["href"]!;
        }

        Assert.Equal(["\"theirs\""], found);
        var surrogate = await SendAsync(HttpMethod.Post, "/v2/queues/long/messages", """{"messages": [{"body": "\ud800"}]}""");
        Assert.Equal((HttpStatusCode.BadRequest, "Invalid request body"), (surrogate.Status, surrogate.Title));
        Assert.Equal(HttpStatusCode.NotFound, (await Get("/v2/queues/long/messages?ids=not-an-id")).Status);
    }

    [Fact]
    public async Task MessageAttributes_AreKeptWithTheMessage_AndReadBackWhereverItIsRead()
    {
        var ids = await PostMessagesAsync("attrs", """[{"body": 1, "attributes": {"trace": "abc", "kind": "resize"}}, {"body": 2}]""");
        var listed = (await Get("/v2/queues/attrs/messages?echo=true")).Body!["messages"]!.AsArray();
        Assert.Equal("""{"trace":"abc","kind":"resize"}""", listed[0]!["attributes"]!.ToJsonString());
        Assert.Null(listed[1]!["attributes"]); // none: Zaqar's shape as it is
        Assert.Equal("abc", (string?)(await Get($"/v2/queues/attrs/messages/{ids[0]}")).Body!["attributes"]!["trace"]);
        var claimed = await SendAsync(HttpMethod.Post, "/v2/queues/attrs/claims?limit=1", null, client: Worker);
        Assert.Equal("resize", (string?)claimed.Body!["messages"]![0]!["attributes"]!["kind"]);
        var bad = await SendAsync(HttpMethod.Post, "/v2/queues/attrs/messages", """{"messages": [{"body": 1, "attributes": {"n": 1}}]}""");
        Assert.Equal((HttpStatusCode.BadRequest, "Invalid request body"), (bad.Status, bad.Title));
        var many = string.Join(",", Enumerable.Range(0, 40).Select(i => $"\"k{i}\": \"v\""));
        var tooMany = await SendAsync(HttpMethod.Post, "/v2/queues/attrs/messages", "{\"messages\": [{\"body\": 1, \"attributes\": {" + many + "}}]}");
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.Status);
    }

    [Fact]
    public async Task APostRetriedWithItsIdempotencyKey_IsStoredOnce_AndAnsweredWithTheSameResources()
    {
        async Task<JsonNode> Post(string key)
        {
            var a = await SendAsync(HttpMethod.Post, "/v2/queues/idem/messages", """{"messages": [{"body": "once"}]}""", headers: r => r.Headers.Add("Idempotency-Key", key));
            Assert.Equal(HttpStatusCode.Created, a.Status);
            return a.Body!["resources"]!;
        }

        var first = await Post("k-1");
        Assert.Equal(first.ToJsonString(), (await Post("k-1")).ToJsonString());
        Assert.NotEqual(first.ToJsonString(), (await Post("k-2")).ToJsonString());
        Assert.Equal(2, (int)(await Get("/v2/queues/idem/stats")).Body!["messages"]!["total"]!);
    }

    [Fact]
    public async Task AClaimWithWait_WaitsForAPost_OrAnswers204WhenTheWaitIsOver()
    {
        // Long-poll, beyond Zaqar: the claim is answered by the post that comes while it waits (or before it looked).
        var waiting = SendAsync(HttpMethod.Post, "/v2/queues/lp/claims?wait=10", """{"ttl": 60, "grace": 60}""", client: Worker);
        await PostMessagesAsync("lp", """[{"body": "arrived"}]""");
        var claimed = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.Created, claimed.Status);
        Assert.Equal(["\"arrived\""], Bodies(claimed));

        // Nothing comes: answered once the wait is over on the server's clock (advanced here a second at a time).
        var empty = SendAsync(HttpMethod.Post, "/v2/queues/lp/claims?wait=5", null, client: Worker);
        await Eventually.True(() =>
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            return empty.IsCompleted;
        }, "the wait ends");
        Assert.Equal(HttpStatusCode.NoContent, (await empty).Status);
        var tooLong = await SendAsync(HttpMethod.Post, "/v2/queues/lp/claims?wait=21", null);
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.Status);
    }

    [Fact]
    public async Task DeadLetters_Pop_Stats_Purge_AndDeleteByIds()
    {
        await SendAsync(HttpMethod.Put, "/v2/queues/orders", """{"_max_claim_count": 1, "_dead_letter_queue": "orders-dead"}""");
        var ids = await PostMessagesAsync("orders", """[{"body": "a"}, {"body": "b"}, {"body": "c"}, {"body": "d"}]""");
        var first = await SendAsync(HttpMethod.Post, "/v2/queues/orders/claims?limit=1", null, client: Worker);
        Assert.Equal(["\"a\""], Bodies(first));
        await SendAsync(HttpMethod.Delete, first.Response.Headers.Location!.OriginalString);
        var second = await SendAsync(HttpMethod.Post, "/v2/queues/orders/claims?limit=1", null, client: Worker);
        Assert.Equal(["\"b\""], Bodies(second)); // a was claimed once: it moved to the dead-letter queue
        Assert.Equal(["\"a\""], Bodies(await Get("/v2/queues/orders-dead/messages", client: Worker)));

        var stats = (await Get("/v2/queues/orders/stats")).Body!["messages"]!;
        Assert.Equal((1, 2, 3), ((int)stats["claimed"]!, (int)stats["free"]!, (int)stats["total"]!));
        Assert.Equal($"/v2/queues/orders/messages/{ids[1]}", (string?)stats["oldest"]!["href"]);
        Assert.Equal("\"d\"", stats["newest"]!["body"]!.ToJsonString());

        var popped = await SendAsync(HttpMethod.Delete, "/v2/queues/orders/messages?pop=1");
        Assert.Equal(["\"c\""], Bodies(popped));
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/v2/queues/orders/messages?ids={ids[1]},{ids[3]}")).Status); // claimed b too
        Assert.Equal(0, (int)(await Get("/v2/queues/orders/stats")).Body!["messages"]!["total"]!);
        var both = await SendAsync(HttpMethod.Delete, $"/v2/queues/orders/messages?ids={ids[0]}&pop=1");
        Assert.Equal(HttpStatusCode.BadRequest, both.Status);

        await PostMessagesAsync("orders", """[{"body": "e"}]""");
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Post, "/v2/queues/orders/purge", """{"resource_types": ["messages"]}""")).Status);
        Assert.Empty((await Get("/v2/queues/orders/messages?echo=true")).Body!["messages"]!.AsArray());
        Assert.Equal(0, (int)(await Get("/v2/queues/missing/stats")).Body!["messages"]!["total"]!);
    }

    [Fact]
    public async Task NothingOfOneProject_IsVisibleToOrChangeableByAnother_NotEvenByGuessedIds()
    {
        var ids = await PostMessagesAsync("secret", """[{"body": "p1 only"}]""");
        var claim = await SendAsync(HttpMethod.Post, "/v2/queues/secret/claims", null, client: Worker);
        var location = claim.Response.Headers.Location!.OriginalString;

        Assert.Empty((await Get("/v2/queues", project: "p2")).Body!["queues"]!.AsArray());
        Assert.Equal(HttpStatusCode.NotFound, (await Get($"/v2/queues/secret/messages/{ids[0]}", project: "p2")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Get($"/v2/queues/secret/messages?ids={ids[0]}", project: "p2")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Get(location, project: "p2")).Status);
        await SendAsync(HttpMethod.Delete, $"/v2/queues/secret/messages?ids={ids[0]}", project: "p2");
        await SendAsync(HttpMethod.Delete, location, project: "p2");
        await SendAsync(HttpMethod.Delete, "/v2/queues/secret", project: "p2");
        await SendAsync(HttpMethod.Post, "/v2/queues/secret/purge", project: "p2");
        Assert.Equal(0, (int)(await Get("/v2/queues/secret/stats", project: "p2")).Body!["messages"]!["total"]!);

        // Still there for its own project, still claimed; a project id that is no tenant id keeps its own tenant too.
        Assert.Equal(HttpStatusCode.OK, (await Get($"/v2/queues/secret/messages/{ids[0]}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Get(location)).Status);
        var odd = "project with spaces/and slashes";
        await PostMessagesAsync("secret", """[{"body": "odd"}]""", project: odd);
        Assert.Equal(["\"odd\""], Bodies(await Get("/v2/queues/secret/messages?echo=true", project: odd)));
        Assert.Equal(1, (int)(await Get("/v2/queues/secret/stats")).Body!["messages"]!["total"]!);
    }
}
