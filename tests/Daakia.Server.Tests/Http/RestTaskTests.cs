using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Server.Tests.Http;

/// <summary>Tasks over the REST API with a worker on a real WebSocket: submit, query, cancel, list (docs/tasks.md).</summary>
public sealed class RestTaskTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c =>
    {
        c["Daakia:OpenTenants:0"] = "default";
        c["Daakia:OpenTenants:1"] = "other";
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<(HttpStatusCode Status, JsonObject Body, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, string? json = null, string client = "alice", string? tenant = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        request.Headers.Add("X-Daakia-Client", client);
        if (tenant is not null)
        {
            request.Headers.Add("X-Daakia-Tenant", tenant);
        }

        var response = await _host.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonNode.Parse(text)!.AsObject(), response);
    }

    private async Task<WsTestClient> WorkerAsync(string name, int capacity = 1)
    {
        var worker = await WsTestClient.HelloAsync(_host, name);
        var reply = await worker.RequestAsync("worker_register", new { services = new object[] { new { name = "resize", description = "Resizes images" } }, capacity, resources = new { cores = 4, software = new[] { "imagemagick" } } });
        Assert.Equal("ack", (string?)reply["type"]);
        return worker;
    }

    private async Task<string> SubmitAsync(string json = """{"payload":{"w":640}}""")
    {
        var (status, body, response) = await SendAsync(HttpMethod.Post, "/v1/services/resize/tasks", json);
        Assert.Equal(HttpStatusCode.Created, status);
        var id = (string)body["task_id"]!;
        Assert.Equal($"/v1/tasks/{id}", response.Headers.Location?.OriginalString);
        Assert.Contains((string?)body["state"], new[] { "queued", "assigned" });
        return id;
    }

    [Fact]
    public async Task Submit_OverRest_RunsOnAWebSocketWorker_ResultIsQueryable_AndALetterInTheSubmittersInbox()
    {
        await using var worker = await WorkerAsync("worker-1", 2);
        var services = (await SendAsync(HttpMethod.Get, "/v1/services")).Body["services"]!.AsArray();
        var resize = services.Single(s => (string?)s!["name"] == "resize")!;
        Assert.Equal(1, (int)resize["workers"]!);
        Assert.Equal(1, (int)resize["available"]!);
        Assert.Equal("Resizes images", (string?)resize["description"]);
        var workers = (await SendAsync(HttpMethod.Get, "/v1/services/resize/workers")).Body;
        Assert.Equal("worker-1", (string?)workers["workers"]![0]!["client_id"]);
        Assert.Equal(2, (int)workers["workers"]![0]!["capacity"]!);
        Assert.Equal("imagemagick", (string?)workers["workers"]![0]!["resources"]!["software"]![0]);
        var peer = (await SendAsync(HttpMethod.Get, "/v1/clients/worker-1/services")).Body;
        Assert.Equal("resize", (string?)peer["services"]![0]!["name"]);

        var id = await SubmitAsync("""{"payload":{"w":640},"priority":1,"requirements":{"cores":2,"software":["imagemagick"]},"timeout":60}""");
        var assigned = await worker.NextAsync("task_assigned");
        Assert.Equal(id, (string?)assigned["task_id"]);
        Assert.Equal(640, (int)assigned["payload"]!["w"]!);
        Assert.Equal("alice", (string?)assigned["submitter"]);

        var running = (await SendAsync(HttpMethod.Get, "/v1/tasks")).Body["tasks"]!.AsArray();
        Assert.Equal(id, (string?)Assert.Single(running)!["task_id"]);
        await worker.RequestAsync("task_progress", new { task_id = id, progress = 0.25, note = "decoding" });
        var mid = (await SendAsync(HttpMethod.Get, $"/v1/tasks/{id}")).Body;
        Assert.Equal("running", (string?)mid["state"]);
        Assert.Equal(0.25, (double)mid["progress"]!);
        Assert.Equal("worker-1", (string?)mid["worker"]);

        Assert.Equal("succeeded", (string?)(await worker.RequestAsync("task_complete", new { task_id = id, result = new { url = "/out.png" } }))["task"]!["state"]);
        var done = (await SendAsync(HttpMethod.Get, $"/v1/tasks/{id}")).Body;
        Assert.Equal("succeeded", (string?)done["state"]);
        Assert.Equal("/out.png", (string?)done["result"]!["url"]);
        Assert.NotNull((string?)done["finished_at"]);
        var finished = (await SendAsync(HttpMethod.Get, "/v1/tasks?state=succeeded,failed&service=resize")).Body["tasks"]!.AsArray();
        Assert.Equal(id, (string?)Assert.Single(finished)!["task_id"]);
        Assert.Empty((await SendAsync(HttpMethod.Get, "/v1/tasks")).Body["tasks"]!.AsArray());

        var inbox = (await SendAsync(HttpMethod.Get, "/v1/clients/alice/inbox")).Body["messages"]!.AsArray();
        var letter = Assert.Single(inbox)!;
        Assert.Equal("/out.png", (string?)letter["payload"]!["url"]);
        Assert.Equal("worker-1", (string?)letter["author"]);
        Assert.Equal(id, (string?)letter["headers"]!["task-id"]);
        Assert.Equal("succeeded", (string?)letter["headers"]!["task-state"]);
    }

    [Fact]
    public async Task Cancel_OverRest_QueuedEndsAtOnce_RunningWaitsForTheWorker_OnlyTheSubmitterMayCancel()
    {
        await using var worker = await WorkerAsync("worker-2");
        var first = await SubmitAsync();
        Assert.Equal(first, (string?)(await worker.NextAsync("task_assigned"))["task_id"]);
        var second = await SubmitAsync(); // capacity 1: it waits
        Assert.Equal("queued", (string?)(await SendAsync(HttpMethod.Get, $"/v1/tasks/{second}")).Body["state"]);

        var (status, problem, _) = await SendAsync(HttpMethod.Delete, $"/v1/tasks/{second}", client: "mallory");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("forbidden", (string?)problem["code"]);
        var (queuedStatus, queued, _) = await SendAsync(HttpMethod.Delete, $"/v1/tasks/{second}");
        Assert.Equal(HttpStatusCode.OK, queuedStatus);
        Assert.Equal("cancelled", (string?)queued["state"]);

        var (runningStatus, running, _) = await SendAsync(HttpMethod.Delete, $"/v1/tasks/{first}");
        Assert.Equal(HttpStatusCode.Accepted, runningStatus);
        Assert.True((bool)running["cancel_requested"]!);
        var cancel = await worker.NextAsync("task_cancel");
        Assert.Equal(first, (string?)cancel["task_id"]);
        Assert.Equal("cancelled", (string?)cancel["reason"]);
        await worker.RequestAsync("task_complete", new { task_id = first, cancelled = true });
        Assert.Equal("cancelled", (string?)(await SendAsync(HttpMethod.Get, $"/v1/tasks/{first}")).Body["state"]);
        var (againStatus, again, _) = await SendAsync(HttpMethod.Delete, $"/v1/tasks/{first}");
        Assert.Equal(HttpStatusCode.OK, againStatus);
        Assert.Equal("cancelled", (string?)again["state"]);
    }

    [Theory]
    [InlineData("POST", "/v1/services/nobody-offers-this/tasks", """{"payload":1}""", 404, "not_found")]
    [InlineData("POST", "/v1/services/bad%20name/tasks", """{"payload":1}""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/services/resize/tasks", """{"payload":1,"priority":4}""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/services/resize/tasks", """{"payload":1,"level":-1}""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/services/resize/tasks", """{"payload":1,"timeout":0}""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/services/resize/tasks", """{"payload":1,"requirements":{"cores":64}}""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/services/resize/tasks", """{"payload":1,"requirements":"big"}""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/services/resize/tasks", """{"priority":1}""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/services/resize/tasks", """[1]""", 400, "invalid_json")]
    [InlineData("GET", "/v1/tasks/not-a-task", null, 400, "invalid_argument")]
    [InlineData("GET", "/v1/tasks/0123456789abcdef0123456789abcdef", null, 404, "not_found")]
    [InlineData("DELETE", "/v1/tasks/0123456789abcdef0123456789abcdef", null, 404, "not_found")]
    [InlineData("GET", "/v1/tasks?state=sleeping", null, 400, "invalid_argument")]
    [InlineData("GET", "/v1/tasks?limit=0", null, 400, "invalid_argument")]
    [InlineData("GET", "/v1/services/bad%20name/workers", null, 400, "invalid_argument")]
    public async Task BadInput_GetsAProblemWithItsCode(string method, string path, string? json, int status, string code)
    {
        await using var worker = await WorkerAsync("worker-3");
        var (actual, problem, _) = await SendAsync(new HttpMethod(method), path, json);
        Assert.Equal(status, (int)actual);
        Assert.Equal(code, (string?)problem["code"]);
        Assert.False(string.IsNullOrEmpty((string?)problem["detail"]));
    }

    [Fact]
    public async Task OversizedPayload_Is413_AndNothingIsQueued()
    {
        await using var worker = await WorkerAsync("worker-4");
        var big = new string('x', 300 * 1024);
        var (status, problem, _) = await SendAsync(HttpMethod.Post, "/v1/services/resize/tasks", $$"""{"payload":"{{big}}"}""");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("payload_too_large", (string?)problem["code"]);
        Assert.Empty((await SendAsync(HttpMethod.Get, "/v1/tasks?state=queued,assigned,running")).Body["tasks"]!.AsArray());
    }

    [Fact]
    public async Task AnotherTenant_NeitherSeesNorCancelsTheTask_NorItsServices()
    {
        await using var worker = await WorkerAsync("worker-5");
        var id = await SubmitAsync();
        await worker.NextAsync("task_assigned");
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, $"/v1/tasks/{id}", tenant: "other")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Delete, $"/v1/tasks/{id}", tenant: "other")).Status);
        Assert.Empty((await SendAsync(HttpMethod.Get, "/v1/tasks", tenant: "other")).Body["tasks"]!.AsArray());
        Assert.Empty((await SendAsync(HttpMethod.Get, "/v1/services", tenant: "other")).Body["services"]!.AsArray());
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Post, "/v1/services/resize/tasks", """{"payload":1}""", tenant: "other")).Status);
        Assert.Equal("assigned", (string?)(await SendAsync(HttpMethod.Get, $"/v1/tasks/{id}")).Body["state"]);
    }
}
