using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Daakia.LoadTest;

/// <summary>
/// <c>mqtt-idle</c>: opens C MQTT 3.1.1 connections to any broker (<c>--mqtt host:port</c>) over raw sockets (CONNECT,
/// CONNACK, then silence within a 600 s keep-alive), and reports the connection rate and the broker's resident memory
/// per idle connection (<c>--pid</c>).
/// </summary>
internal static class MqttIdleScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var (host, port) = MqttFanInScenario.Endpoint(args.String("mqtt", "127.0.0.1:1883"));
        var count = args.Int("connections", 10_000);
        var hold = args.Int("hold-seconds", 0); // kept open this long after the figure (for a heap dump of the broker)
        var pid = args.OptionalInt("pid") ?? throw new ArgumentException("--pid (the broker's process id) is required");
        var run = Guid.NewGuid().ToString("N")[..8];
        var rssBefore = ProcStats.RssKib(pid);
        var sockets = new Socket[count];
        const int Parallel = 100;
        var started = Stopwatch.StartNew();
        for (var start = 0; start < count; start += Parallel)
        {
            var batch = Enumerable.Range(start, Math.Min(Parallel, count - start));
            await Task.WhenAll(batch.Select(async i => sockets[i] = await ConnectAsync(host, port, $"lt-idle-{run}-{i}")));
        }

        var rate = count / started.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(3)); // the broker settles (GC, pools) before its memory is read
        var rssAfter = ProcStats.RssKib(pid);
        var perConnection = (rssAfter - rssBefore) / (double)count;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"mqtt-idle: {count} connections at {rate:0} connections/s; broker RSS {rssBefore / 1024.0:0.0} MiB → {rssAfter / 1024.0:0.0} MiB = {perConnection:0.0} KiB per idle connection"));
        Report.Emit(new Dictionary<string, object> { ["scenario"] = "mqtt-idle", ["connections"] = count, ["connects_per_sec"] = Math.Round(rate), ["kib_per_conn"] = Math.Round(perConnection, 1), ["rss_before_kib"] = rssBefore, ["rss_after_kib"] = rssAfter });
        await Task.Delay(TimeSpan.FromSeconds(hold));
        foreach (var s in sockets)
        {
            s.Dispose();
        }

        return 0;
    }

    private static async Task<Socket> ConnectAsync(string host, int port, string clientId)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(host, port);
        var id = Encoding.UTF8.GetBytes(clientId);
        // CONNECT, MQTT 3.1.1, clean session, keep-alive 600 s.
        byte[] body = [0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 4, 0x02, 0x02, 0x58, (byte)(id.Length >> 8), (byte)id.Length, .. id];
        await socket.SendAsync(new byte[] { 0x10, (byte)body.Length }.Concat(body).ToArray());
        var connack = new byte[4];
        var read = 0;
        while (read < 4)
        {
            var n = await socket.ReceiveAsync(connack.AsMemory(read));
            if (n == 0)
            {
                throw new IOException($"the broker closed {clientId} before CONNACK");
            }

            read += n;
        }

        if (connack[0] != 0x20 || connack[3] != 0)
        {
            throw new IOException($"{clientId} was refused: CONNACK {Convert.ToHexString(connack)}");
        }

        return socket;
    }
}
