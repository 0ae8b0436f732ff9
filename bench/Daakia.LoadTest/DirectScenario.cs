using System.Diagnostics;

namespace Daakia.LoadTest;

/// <summary>
/// P sender/receiver pairs of durable direct messages over one of Daakia's WebSocket protocols (<see cref="IDirectWire"/>):
/// each sender keeps up to W sends unacknowledged (pipelined), each receiver acknowledges every message. The same
/// workload runs on the JSON API (<c>ws-direct</c>) and on texto (<c>texto-direct</c>). With <c>--tenants T</c> (JSON API
/// only) pair i lives in tenant <c>{--tenant-prefix}{i mod T}</c>, each of which must be open on the server.
/// </summary>
internal static class DirectScenario
{
    public static async Task<int> RunAsync(Args args, IDirectWire wire)
    {
        var url = new Uri(args.String("url", "ws://127.0.0.1:8398" + wire.DefaultPath));
        var pairs = args.Int("pairs", 16);
        var messages = args.Int("messages", 5000);
        var payload = args.Int("payload", 256);
        var window = args.Int("window", 64);
        var pid = args.OptionalInt("pid");
        var tenants = args.Int("tenants", 0);
        var tenantPrefix = args.String("tenant-prefix", "t");
        var run = Guid.NewGuid().ToString("N")[..8];
        var receiveLatency = new Latencies();
        var ackLatency = new Latencies();
        var name = args.String("label", wire.Scenario);
        var spread = tenants > 0 ? $", {Math.Min(tenants, pairs)} tenant(s)" : "";

        Console.WriteLine($"{name}: {pairs} pairs × {messages} messages of ~{payload} B, window {window}{spread}, {url}");
        var receivers = new WsReceiver[pairs];
        var senders = new WsSender[pairs];
        for (var i = 0; i < pairs; i++)
        {
            var tenant = tenants > 0 ? tenantPrefix + (i % tenants).ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
            receivers[i] = await WsReceiver.ConnectAsync(wire, url, $"lt-r-{run}-{i}", messages, receiveLatency, tenant);
            senders[i] = await WsSender.ConnectAsync(wire, url, $"lt-s-{run}-{i}", receivers[i].Id, messages, payload, window, ackLatency, tenant);
        }

        // With --metrics (the server's /metrics URL): lock contentions during the run (the runtime's monitor and Lock count).
        var metrics = args.String("metrics", "");
        var contentionsBefore = await ServerMetrics.ReadAsync(metrics, "system_runtime_dotnet_monitor_lock_contentions");
        var cpuBefore = ProcStats.CpuSeconds(pid);
        var clock = Stopwatch.StartNew();
        var done = Task.WhenAll(senders.Select(s => s.RunAsync()).Concat(receivers.Select(r => r.Completed)));
        if (await Task.WhenAny(done, Task.Delay(TimeSpan.FromMinutes(5))) != done)
        {
            Console.WriteLine($"{name}: timed out after 5 minutes");
        }

        clock.Stop();
        var cpu = ProcStats.CpuSeconds(pid) - cpuBefore;
        var contentionsAfter = await ServerMetrics.ReadAsync(metrics, "system_runtime_dotnet_monitor_lock_contentions");
        var received = receivers.Sum(r => (long)r.Distinct);
        var extra = new Dictionary<string, object>();
        if (contentionsBefore is { } c0 && contentionsAfter is { } c1)
        {
            extra["lock_contentions"] = c1 - c0;
            extra["lock_contentions_per_1k_msgs"] = Math.Round((c1 - c0) * 1000 / Math.Max(1, received), 1);
            Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{name}: server lock contentions {c1 - c0} = {(c1 - c0) * 1000 / Math.Max(1, received):0.0} per 1,000 messages"));
        }

        var exit = Report.Throughput(name, received, clock.Elapsed, receiveLatency, ackLatency, cpu, extra: extra,
            duplicates: receivers.Sum(r => (long)r.Duplicates),
            missing: (long)pairs * messages - received,
            outOfOrder: receivers.Sum(r => (long)r.OutOfOrder),
            errors: senders.Sum(s => (long)s.Errors) + receivers.Sum(r => (long)r.Errors));
        foreach (var s in senders)
        {
            await s.DisposeAsync();
        }

        foreach (var r in receivers)
        {
            await r.DisposeAsync();
        }

        return exit;
    }
}
