using System.Diagnostics;

namespace Daakia.LoadTest;

/// <summary>
/// P sender/receiver pairs over Daakia's WebSocket JSON API: durable direct messages, the sender keeping up to W sends
/// unacknowledged (pipelined), the receiver acknowledging every letter.
/// </summary>
internal static class WsDirectScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var url = new Uri(args.String("url", "ws://127.0.0.1:8398/v1/ws"));
        var pairs = args.Int("pairs", 16);
        var messages = args.Int("messages", 5000);
        var payload = args.Int("payload", 256);
        var window = args.Int("window", 64);
        var pid = args.OptionalInt("pid");
        var run = Guid.NewGuid().ToString("N")[..8];
        var receiveLatency = new Latencies();
        var ackLatency = new Latencies();

        Console.WriteLine($"ws-direct: {pairs} pairs × {messages} letters of ~{payload} B, window {window}, {url}");
        var receivers = new WsReceiver[pairs];
        var senders = new WsSender[pairs];
        for (var i = 0; i < pairs; i++)
        {
            receivers[i] = await WsReceiver.ConnectAsync(url, $"lt-r-{run}-{i}", messages, receiveLatency);
            senders[i] = await WsSender.ConnectAsync(url, $"lt-s-{run}-{i}", $"lt-r-{run}-{i}", messages, payload, window, ackLatency);
        }

        var cpuBefore = ProcStats.CpuSeconds(pid);
        var clock = Stopwatch.StartNew();
        var done = Task.WhenAll(senders.Select(s => s.RunAsync()).Concat(receivers.Select(r => r.Completed)));
        if (await Task.WhenAny(done, Task.Delay(TimeSpan.FromMinutes(5))) != done)
        {
            Console.WriteLine("ws-direct: timed out after 5 minutes");
        }

        clock.Stop();
        var cpu = ProcStats.CpuSeconds(pid) - cpuBefore;
        var received = receivers.Sum(r => (long)r.Distinct);
        Report.Throughput("ws-direct", received, clock.Elapsed, receiveLatency, ackLatency, cpu,
            receivers.Sum(r => (long)r.Duplicates), (long)pairs * messages - received + senders.Sum(s => (long)s.Errors));
        foreach (var s in senders)
        {
            await s.DisposeAsync();
        }

        foreach (var r in receivers)
        {
            await r.DisposeAsync();
        }

        return 0;
    }

    internal static async Task<WsClient> HelloAsync(Uri url, string author)
    {
        var client = await WsClient.ConnectAsync(url);
        await client.SendNowAsync($"{{\"id\":0,\"type\":\"hello\",\"author\":\"{author}\",\"heartbeat\":300}}");
        var buffer = new byte[4096];
        var result = await client.Socket.ReceiveAsync(buffer, CancellationToken.None);
        if (!System.Text.Encoding.UTF8.GetString(buffer, 0, result.Count).Contains("\"ack\"", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("hello refused: " + System.Text.Encoding.UTF8.GetString(buffer, 0, result.Count));
        }

        return client;
    }
}
