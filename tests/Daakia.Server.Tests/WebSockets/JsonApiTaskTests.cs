using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>Services, workers and tasks over real WebSockets: two workers and a submitter (docs/tasks.md).</summary>
public sealed class JsonApiTaskTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static async Task<WsTestClient> WorkerAsync(DaakiaTestHost host, string name, int capacity)
    {
        var worker = await WsTestClient.HelloAsync(host, name);
        var reply = await worker.RequestAsync("worker_register", new { services = new object[] { new { name = "resize", description = "Resizes images", version = "1.0" } }, capacity });
        Assert.Equal("ack", (string?)reply["type"]);
        Assert.Equal("resize", (string?)reply["services"]![0]);
        return worker;
    }

    private static async Task<string> SubmitAsync(WsTestClient submitter, int n)
    {
        var reply = await submitter.RequestAsync("task_submit", new { service = "resize", payload = new { n } });
        Assert.Equal("ack", (string?)reply["type"]);
        Assert.Contains((string?)reply["state"], new[] { "queued", "assigned" });
        return (string)reply["task_id"]!;
    }

    [Fact]
    public async Task Tasks_SpreadAcrossTwoWorkers_ResultsReachSubmitterAsLetters_AndTaskGetShowsThem()
    {
        await using var w1 = await WorkerAsync(_host, "worker-1", 2);
        await using var w2 = await WorkerAsync(_host, "worker-2", 2);
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");

        var services = await alice.RequestAsync("services_list");
        var resize = services["services"]!.AsArray().Single(s => (string?)s!["name"] == "resize")!;
        Assert.Equal(2, (int)resize["workers"]!);
        Assert.Equal("Resizes images", (string?)resize["description"]);
        var peer = await alice.RequestAsync("peer_services", new { client = "worker-1" });
        Assert.Equal("resize", (string?)peer["services"]![0]!["name"]);
        var available = await alice.RequestAsync("workers_available", new { service = "resize" });
        Assert.Equal(2, available["workers"]!.AsArray().Count);

        var ids = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            ids.Add(await SubmitAsync(alice, i));
        }

        // Capacity 2 each and least loaded first: each worker gets two.
        var assigned = new List<(WsTestClient Worker, JsonObject Frame)>();
        foreach (var w in new[] { w1, w2 })
        {
            for (var i = 0; i < 2; i++)
            {
                assigned.Add((w, await w.NextAsync("task_assigned")));
            }
        }

        Assert.Equal(ids.Order(), assigned.Select(a => (string)a.Frame["task_id"]!).Order());
        Assert.All(assigned, a => Assert.Equal("alice", (string?)a.Frame["submitter"]));
        Assert.All(assigned, a => Assert.Equal(1, (int)a.Frame["attempt"]!));

        var running = await alice.RequestAsync("tasks_list");
        Assert.Equal(4, running["tasks"]!.AsArray().Count);

        foreach (var (worker, frame) in assigned)
        {
            var id = (string)frame["task_id"]!;
            Assert.Equal("ack", (string?)(await worker.RequestAsync("task_started", new { task_id = id }))["type"]);
            Assert.Equal("ack", (string?)(await worker.RequestAsync("task_progress", new { task_id = id, progress = 0.5, note = "half" }))["type"]);
            var n = (int)frame["payload"]!["n"]!;
            var done = await worker.RequestAsync("task_complete", new { task_id = id, result = new { doubled = n * 2 } });
            Assert.Equal("succeeded", (string?)done["task"]!["state"]);
        }

        var letters = new Dictionary<string, JsonObject>();
        for (var i = 0; i < 4; i++)
        {
            var letter = await alice.NextAsync("letter");
            letters[(string)letter["headers"]!["task-id"]!] = letter;
            Assert.Equal("succeeded", (string?)letter["headers"]!["task-state"]);
            Assert.Equal("resize", (string?)letter["headers"]!["task-service"]);
        }

        Assert.Equal(ids.Order(), letters.Keys.Order());
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(i * 2, (int)letters[ids[i]]["payload"]!["doubled"]!);
            var task = (await alice.RequestAsync("task_get", new { task_id = ids[i] }))["task"]!;
            Assert.Equal("succeeded", (string?)task["state"]);
            Assert.Equal(i * 2, (int)task["result"]!["doubled"]!);
            Assert.Equal("alice", (string?)task["submitter"]);
        }

        Assert.Empty((await alice.RequestAsync("tasks_list"))["tasks"]!.AsArray());
    }

    [Fact]
    public async Task Cancel_OfARunningTask_ReachesTheWorker_AndEndsCancelledWhenConfirmed()
    {
        await using var w1 = await WorkerAsync(_host, "worker-1", 1);
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        var id = await SubmitAsync(alice, 7);
        var assigned = await w1.NextAsync("task_assigned");
        Assert.Equal(id, (string?)assigned["task_id"]);
        await w1.RequestAsync("task_started", new { task_id = id });

        var cancel = await alice.RequestAsync("task_cancel", new { task_id = id });
        Assert.Equal("ack", (string?)cancel["type"]);
        Assert.True((bool)cancel["task"]!["cancel_requested"]!);
        Assert.Equal("running", (string?)cancel["task"]!["state"]);

        var told = await w1.NextAsync("task_cancel");
        Assert.Equal(id, (string?)told["task_id"]);
        Assert.Equal("cancelled", (string?)told["reason"]);

        var confirmed = await w1.RequestAsync("task_complete", new { task_id = id, cancelled = true });
        Assert.Equal("cancelled", (string?)confirmed["task"]!["state"]);
        var letter = await alice.NextAsync("letter");
        Assert.Equal("cancelled", (string?)letter["headers"]!["task-state"]);
        Assert.Equal("cancelled", (string?)(await alice.RequestAsync("task_get", new { task_id = id }))["task"]!["state"]);
    }

    [Fact]
    public async Task Worker_DisconnectingMidTask_HasItsTaskFinishedByTheOther()
    {
        var w1 = await WorkerAsync(_host, "worker-1", 1);
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        var id = await SubmitAsync(alice, 3);
        Assert.Equal(id, (string?)(await w1.NextAsync("task_assigned"))["task_id"]);
        await w1.RequestAsync("task_started", new { task_id = id });

        await using var w2 = await WorkerAsync(_host, "worker-2", 1);
        w1.Abort();
        await w1.DisposeAsync();

        var again = await w2.NextAsync("task_assigned");
        Assert.Equal(id, (string?)again["task_id"]);
        Assert.Equal(2, (int)again["attempt"]!);
        await w2.RequestAsync("task_complete", new { task_id = id, result = "done" });

        var letter = await alice.NextAsync("letter");
        Assert.Equal(id, (string?)letter["headers"]!["task-id"]);
        Assert.Equal("done", (string?)letter["payload"]);
        Assert.Equal("worker-2", (string?)letter["author"]);
        var task = (await alice.RequestAsync("task_get", new { task_id = id }))["task"]!;
        Assert.Equal("succeeded", (string?)task["state"]);
        Assert.Equal(2, (int)task["attempts"]!);
        Assert.Equal("worker-2", (string?)task["worker"]);
    }

    [Fact]
    public async Task Failure_FromTheWorker_IsFinal_AndReachesTheSubmitterWithItsError()
    {
        await using var w1 = await WorkerAsync(_host, "worker-1", 1);
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        var id = await SubmitAsync(alice, 1);
        await w1.NextAsync("task_assigned");
        var failed = await w1.RequestAsync("task_complete", new { task_id = id, error = "corrupt image" });
        Assert.Equal("failed", (string?)failed["task"]!["state"]);
        var letter = await alice.NextAsync("letter");
        Assert.Equal("failed", (string?)letter["headers"]!["task-state"]);
        Assert.Equal("corrupt image", (string?)letter["headers"]!["task-error"]);
    }

    [Fact]
    public async Task BadInput_GetsTheApisErrorFrames()
    {
        await using var early = await WsTestClient.ConnectAsync(_host.WebSocketUri("/v1/ws"));
        Assert.Equal("not_identified", (string?)(await early.RequestAsync("task_submit", new { service = "resize", payload = 1 }))["code"]);

        await using var w1 = await WorkerAsync(_host, "worker-1", 1);
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        await using var mallory = await WsTestClient.HelloAsync(_host, "mallory");

        async Task Expect(WsTestClient c, string code, string type, object fields)
        {
            var reply = await c.RequestAsync(type, fields);
            Assert.True((string?)reply["type"] == "error", $"{type} {System.Text.Json.JsonSerializer.Serialize(fields)} got {reply.ToJsonString()}");
            Assert.Equal(code, (string?)reply["code"]);
            Assert.False(string.IsNullOrEmpty((string?)reply["description"]));
        }

        await Expect(alice, "invalid_argument", "task_submit", new { payload = 1 });
        await Expect(alice, "invalid_argument", "task_submit", new { service = "resize" });
        await Expect(alice, "invalid_argument", "task_submit", new { service = "no/slash", payload = 1 });
        await Expect(alice, "not_found", "task_submit", new { service = "never-registered", payload = 1 });
        await Expect(alice, "invalid_argument", "task_submit", new { service = "resize", payload = 1, priority = 4 });
        await Expect(alice, "invalid_argument", "task_submit", new { service = "resize", payload = 1, requirements = new { cores = 64 } });
        await Expect(alice, "invalid_argument", "task_get", new { task_id = "not-an-id" });
        await Expect(alice, "not_found", "task_get", new { task_id = Guid.NewGuid().ToString("N") });
        await Expect(alice, "invalid_argument", "worker_register", new { services = new[] { "resize" }, capacity = 0 });
        await Expect(alice, "invalid_argument", "worker_register", new { services = Array.Empty<string>() });
        await Expect(alice, "invalid_argument", "tasks_list", new { states = new[] { "sleeping" } });
        await Expect(alice, "invalid_argument", "peer_services", new { client = "" });

        var id = await SubmitAsync(alice, 1);
        await w1.NextAsync("task_assigned");
        await Expect(mallory, "forbidden", "task_complete", new { task_id = id, result = 1 });
        await Expect(mallory, "forbidden", "task_started", new { task_id = id });
        await Expect(mallory, "forbidden", "task_cancel", new { task_id = id });
        await Expect(w1, "invalid_argument", "task_complete", new { task_id = id, result = 1, error = "both" });
        await Expect(w1, "invalid_argument", "task_progress", new { task_id = id, progress = 2 });

        // Nothing changed: the worker still finishes it.
        Assert.Equal("succeeded", (string?)(await w1.RequestAsync("task_complete", new { task_id = id, result = 1 }))["task"]!["state"]);
        await Expect(w1, "forbidden", "task_complete", new { task_id = id, result = 1 });
    }

    [Fact]
    public async Task Timeout_TellsTheWorker_AndAQueuedCancelEndsAtOnce()
    {
        await using var w1 = await WorkerAsync(_host, "worker-1", 1);
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        var slow = (string)(await alice.RequestAsync("task_submit", new { service = "resize", payload = 1, timeout = 0.5 }))["task_id"]!;
        var assigned = await w1.NextAsync("task_assigned");
        Assert.Equal(slow, (string?)assigned["task_id"]);
        Assert.NotNull((string?)assigned["deadline"]);

        // Capacity 1 is taken: the next one waits, and its cancel ends it at once.
        var waiting = await SubmitAsync(alice, 2);
        var cancelled = await alice.RequestAsync("task_cancel", new { task_id = waiting });
        Assert.Equal("cancelled", (string?)cancelled["task"]!["state"]);

        var told = await w1.NextAsync("task_cancel");
        Assert.Equal(slow, (string?)told["task_id"]);
        Assert.Equal("timed_out", (string?)told["reason"]);
        Assert.Equal("timed_out", (string?)(await w1.RequestAsync("task_complete", new { task_id = slow, cancelled = true }))["task"]!["state"]);

        var states = new HashSet<string>();
        for (var i = 0; i < 2; i++)
        {
            states.Add((string)(await alice.NextAsync("letter"))["headers"]!["task-state"]!);
        }

        Assert.Equal(["cancelled", "timed_out"], states.Order());
    }
}
