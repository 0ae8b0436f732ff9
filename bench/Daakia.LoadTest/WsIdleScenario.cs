using System.Globalization;

namespace Daakia.LoadTest;

/// <summary>
/// Opens C identified WebSocket connections — JSON API (<c>ws-idle</c>: each says <c>hello</c>) or texto
/// (<c>texto-idle</c>: each gets its <c>connection</c> greeting) — and reports the server's resident memory per idle
/// connection.
/// </summary>
internal static class WsIdleScenario
{
    public static async Task<int> RunAsync(Args args, bool texto = false)
    {
        var name = texto ? "texto-idle" : "ws-idle";
        var url = new Uri(args.String("url", texto ? "ws://127.0.0.1:8398/v1/texto" : "ws://127.0.0.1:8398/v1/ws"));
        var count = args.Int("connections", 10_000);
        var pid = args.OptionalInt("pid") ?? throw new ArgumentException("--pid (the server's process id) is required");
        var run = Guid.NewGuid().ToString("N")[..8];
        // With --metrics (the server's /metrics URL): how much of the growth is the managed heap.
        var metrics = args.String("metrics", "");
        var heapBefore = await ServerMetrics.ReadAsync(metrics, "dotnet_total_memory_bytes");
        var rssBefore = ProcStats.RssKib(pid);
        var sockets = new WsClient[count];
        const int Parallel = 200;
        for (var start = 0; start < count; start += Parallel)
        {
            var batch = Enumerable.Range(start, Math.Min(Parallel, count - start));
            await Task.WhenAll(batch.Select(async i => sockets[i] = texto
                ? (await TextoWire.GreetAsync(url)).Client
                : await JsonApiWire.HelloAsync(url, $"lt-idle-{run}-{i}")));
        }

        // Let the server settle (GC, pools) before reading its memory.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var rssAfter = ProcStats.RssKib(pid);
        var heapAfter = await ServerMetrics.ReadAsync(metrics, "dotnet_total_memory_bytes");
        var perConnection = (rssAfter - rssBefore) / (double)count;
        var heapPerConnection = heapBefore is { } h0 && heapAfter is { } h1 ? Math.Round((h1 - h0) / 1024 / count, 1) : -1;
        // Optionally hold them open a while and read what the idle connections cost the server in CPU (heartbeat scan, timers).
        var hold = args.Int("hold-seconds", 0);
        var idleCpuPct = 0.0;
        if (hold > 0)
        {
            var cpuBefore = ProcStats.CpuSeconds(pid);
            await Task.Delay(TimeSpan.FromSeconds(hold));
            idleCpuPct = Math.Round((ProcStats.CpuSeconds(pid) - cpuBefore) * 100 / hold, 2);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: server CPU while {count} connections sat idle for {hold} s: {idleCpuPct}% of a core"));
        }

        var heapText = heapPerConnection >= 0 ? string.Create(CultureInfo.InvariantCulture, $" (managed heap {heapPerConnection:0.0} KiB of it)") : "";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: {count} connections; server RSS {rssBefore / 1024.0:0.0} MiB → {rssAfter / 1024.0:0.0} MiB = {perConnection:0.0} KiB per idle connection{heapText}"));
        Report.Emit(new Dictionary<string, object> { ["scenario"] = name, ["connections"] = count, ["kib_per_conn"] = Math.Round(perConnection, 1), ["rss_before_kib"] = rssBefore, ["rss_after_kib"] = rssAfter, ["idle_cpu_pct"] = idleCpuPct, ["heap_kib_per_conn"] = heapPerConnection });
        foreach (var s in sockets)
        {
            s.Dispose();
        }

        return 0;
    }
}
