using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Daakia.Testing;
using Xunit.Abstractions;

namespace Daakia.Host.Tests;

/// <summary>
/// kill -9 of the host with tasks finished, running, queued and being submitted: every task whose submit was
/// acknowledged is there after the restart, a finished one with its result (and its letter), a running one back in the
/// queue, and they are handed out again in their order (the re-queued in front), each once.
/// </summary>
public sealed class TaskCrashTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, string> Environment = new()
    {
        ["DAAKIA_MaxRequestsPerSecond"] = "10000000",
        ["DAAKIA_RequestBurst"] = "10000000",
        ["DAAKIA_Core__MaxOpenTasksPerTenant"] = "100000",
    };

    [Theory]
    [InlineData("sqlite")]
    [InlineData("journal")]
    public async Task KillDashNine_WithTasksRunningQueuedAndInFlight_KeepsEveryAcknowledgedTask_InOrder(string storage)
    {
        var dataDir = Unique.TempDirectory();
        string[] args = ["--http-port", "0", "--data-dir", dataDir, "--storage", storage];
        var server = await DaakiaProcess.StartAsync(args, Environment);
        string[] done, running, queued;
        List<string> pipelined;
        await using (var worker = await WsTestClient.ConnectAsync(server.WebSocketUri("/v1/ws")))
        await using (var alice = await WsTestClient.ConnectAsync(server.WebSocketUri("/v1/ws")))
        {
            await worker.RequestAsync("hello", new { author = "w1" });
            await worker.RequestAsync("worker_register", new { services = new[] { "crunch" }, capacity = 3 });
            await alice.RequestAsync("hello", new { author = "alice" });
            var first = new List<string>();
            for (var i = 0; i < 10; i++)
            {
                first.Add((string)(await alice.RequestAsync("task_submit", new { service = "crunch", payload = new { n = i } }))["task_id"]!);
            }

            // Capacity 3: the first three are handed out; two end, so two more are; one is running.
            var handed = new List<string>();
            for (var i = 0; i < 3; i++)
            {
                handed.Add((string)(await worker.NextAsync("task_assigned"))["task_id"]!);
            }

            Assert.Equal(first[..3], handed);
            foreach (var id in first[..2])
            {
                Assert.Equal("succeeded", (string?)(await worker.RequestAsync("task_complete", new { task_id = id, result = new { id } }))["task"]!["state"]);
            }

            await worker.RequestAsync("task_started", new { task_id = first[2] });
            for (var i = 0; i < 2; i++)
            {
                handed.Add((string)(await worker.NextAsync("task_assigned"))["task_id"]!);
            }

            Assert.Equal(first[..5], handed);
            done = [.. first[..2]];
            running = [.. first[2..5]];
            queued = [.. first[5..]];

            pipelined = await SubmitUntilKilledAsync(server, alice);
        }

        await server.DisposeAsync();
        await using var restarted = await DaakiaProcess.StartAsync(args, Environment);
        using var http = new HttpClient { BaseAddress = restarted.BaseUri };
        foreach (var id in done)
        {
            var task = JsonNode.Parse(await http.GetStringAsync($"/v1/tasks/{id}"))!;
            Assert.Equal(("succeeded", id), ((string?)task["state"], (string?)task["result"]!["id"]));
        }

        var letters = JsonNode.Parse(await http.GetStringAsync("/v1/clients/alice/inbox?limit=100"))!["messages"]!.AsArray();
        Assert.Equal(done, letters.Select(l => (string)l!["headers"]!["task-id"]!).ToArray());
        foreach (var id in running.Concat(queued).Concat(pipelined))
        {
            var task = JsonNode.Parse(await http.GetStringAsync($"/v1/tasks/{id}"))!;
            Assert.Equal("queued", (string?)task["state"]);
        }

        // A new worker gets them all: the ones that were running first, then the queue in submit order, each once
        // (a submit in flight at the kill, never answered, may be there too, in its place).
        await using var w2 = await WsTestClient.ConnectAsync(restarted.WebSocketUri("/v1/ws"));
        await w2.RequestAsync("hello", new { author = "w2" });
        await w2.RequestAsync("worker_register", new { services = new[] { "crunch" }, capacity = 16 });
        var expected = running.Length + queued.Length + pipelined.Count;
        var assigned = new List<string>();
        var acked = running.Concat(queued).Concat(pipelined).ToHashSet();
        while (assigned.Count(acked.Contains) < expected)
        {
            var a = await w2.NextAsync("task_assigned");
            var id = (string)a["task_id"]!;
            assigned.Add(id);
            await w2.SendTextAsync(new JsonObject { ["id"] = id, ["type"] = "task_complete", ["task_id"] = id, ["result"] = 1 }.ToJsonString());
        }

        Assert.Equal(assigned.Count, assigned.Distinct().Count());
        var ours = assigned.Where(acked.Contains).ToList();
        Assert.Equal(running.Order(), ours[..running.Length].Order());
        Assert.Equal([.. queued, .. pipelined], ours[running.Length..]);
        Directory.Delete(dataDir, recursive: true);
    }

    /// <summary>Submits without waiting for the answers until a few hundred are acknowledged with more in flight, then
    /// kills the server; the ids acknowledged, in submit order.</summary>
    private async Task<List<string>> SubmitUntilKilledAsync(DaakiaProcess server, WsTestClient alice)
    {
        var acks = new ConcurrentDictionary<int, string>();
        var written = 0;
        var killed = 0;
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                JsonObject e;
                try
                {
                    e = await alice.NextEventAsync(TimeSpan.FromSeconds(60));
                }
                catch (Exception) when (stop.IsCancellationRequested || Volatile.Read(ref killed) == 1)
                {
                    return; // the socket broke under the kill
                }

                if ((string?)e["type"] == "ack" && (string?)e["id"] is { } key && key.StartsWith('p'))
                {
                    acks[int.Parse(key[1..], System.Globalization.CultureInfo.InvariantCulture)] = (string)e["task_id"]!;
                }
                else if ((string?)e["type"] == "error")
                {
                    throw new InvalidOperationException("A submit was refused: " + e.ToJsonString());
                }
            }
        });
        var pump = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested && i < 50_000; i++)
            {
                while (Volatile.Read(ref written) - acks.Count >= 500 && !stop.IsCancellationRequested)
                {
                    await Task.Yield(); // at most 500 unanswered: a few group commits' worth
                }

                try
                {
                    await alice.SendTextAsync(new JsonObject { ["id"] = $"p{i}", ["type"] = "task_submit", ["service"] = "crunch", ["payload"] = new JsonObject { ["n"] = i } }.ToJsonString());
                    Interlocked.Increment(ref written);
                }
                catch (Exception) when (stop.IsCancellationRequested || Volatile.Read(ref killed) == 1)
                {
                    return;
                }
            }
        });
        await Eventually.True(() => acks.Count >= 300 && Volatile.Read(ref written) - acks.Count >= 20 || reader.IsFaulted,
            "three hundred submits acknowledged and more in flight", TimeSpan.FromSeconds(60));
        Volatile.Write(ref killed, 1);
        await server.KillHardAsync();
        output.WriteLine($"killed with {acks.Count} submits acknowledged, {Volatile.Read(ref written) - acks.Count} in flight");
        stop.Cancel();
        await Task.WhenAny(Task.WhenAll(pump, reader), Task.Delay(TimeSpan.FromSeconds(30)));
        if (reader.IsFaulted)
        {
            await reader;
        }

        // The acknowledged ones, in submit order (answers of one group commit may come in any order).
        return [.. acks.OrderBy(a => a.Key).Select(a => a.Value)];
    }
}
