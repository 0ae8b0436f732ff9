using System.Globalization;

namespace Daakia.LoadTest;

/// <summary>Opens C identified WebSocket connections and reports the server's resident memory per idle connection.</summary>
internal static class WsIdleScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var url = new Uri(args.String("url", "ws://127.0.0.1:8398/v1/ws"));
        var count = args.Int("connections", 10_000);
        var pid = args.OptionalInt("pid") ?? throw new ArgumentException("--pid (the server's process id) is required");
        var run = Guid.NewGuid().ToString("N")[..8];
        var rssBefore = ProcStats.RssKib(pid);
        var sockets = new WsClient[count];
        const int Parallel = 200;
        for (var start = 0; start < count; start += Parallel)
        {
            var batch = Enumerable.Range(start, Math.Min(Parallel, count - start));
            await Task.WhenAll(batch.Select(async i => sockets[i] = await JsonApiWire.HelloAsync(url, $"lt-idle-{run}-{i}")));
        }

        // Let the server settle (GC, pools) before reading its memory.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var rssAfter = ProcStats.RssKib(pid);
        var perConnection = (rssAfter - rssBefore) / (double)count;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ws-idle: {count} connections; server RSS {rssBefore / 1024.0:0.0} MiB → {rssAfter / 1024.0:0.0} MiB = {perConnection:0.0} KiB per idle connection"));
        Report.Emit(new Dictionary<string, object> { ["scenario"] = "ws-idle", ["connections"] = count, ["kib_per_conn"] = Math.Round(perConnection, 1), ["rss_before_kib"] = rssBefore, ["rss_after_kib"] = rssAfter });
        foreach (var s in sockets)
        {
            s.Dispose();
        }

        return 0;
    }
}
