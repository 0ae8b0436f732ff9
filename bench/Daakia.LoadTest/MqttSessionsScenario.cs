using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace Daakia.LoadTest;

/// <summary>
/// <c>mqtt-sessions</c>: S persistent sessions (MQTT 5.0, clean start 0, session expiry 1 h) subscribe to one topic at
/// QoS 1 and go away; one publisher sends M QoS 1 messages (at most W unacknowledged), each queued for every offline
/// session (S × M copies); then every session comes back and drains its queue. Reports the publish rate while the
/// sessions are away (each PUBACK means S copies are kept), the drain rate, the broker's RSS growth per queued copy
/// and CPU per copy; every session must get all M in order, exactly once, or the run fails.
/// </summary>
internal static class MqttSessionsScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var (host, port) = MqttFanInScenario.Endpoint(args.String("mqtt", "127.0.0.1:1883"));
        var sessions = args.Int("sessions", 1000);
        var messages = args.Int("messages", 100);
        var window = args.Int("window", 64);
        var payloadSize = args.Int("payload", 256);
        var pid = args.OptionalInt("pid");
        var run = Guid.NewGuid().ToString("N")[..8];
        var topic = $"lt/{run}/sessions";
        Console.WriteLine($"mqtt-sessions: {sessions} offline persistent sessions × {messages} QoS 1 messages of ~{payloadSize} B, {host}:{port}");

        var factory = new MqttClientFactory();
        MqttClientOptions Options(string id, bool persistent) => new MqttClientOptionsBuilder().WithTcpServer(host, port).WithClientId(id)
            .WithCleanStart(!persistent).WithSessionExpiryInterval(persistent ? 3600u : 0u)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(60)).WithTimeout(TimeSpan.FromSeconds(60)).Build();

        // The sessions: subscribe, then away (a normal DISCONNECT keeps a session with an expiry).
        await Parallel.ForAsync(0, sessions, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (s, ct) =>
        {
            using var c = factory.CreateMqttClient();
            await c.ConnectAsync(Options($"lt-{run}-s{s}", persistent: true), ct);
            await c.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(topic).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build(), ct);
            await c.DisconnectAsync(cancellationToken: ct);
        });

        var rss0 = pid is { } p0 ? ProcStats.RssKib(p0) : 0;
        var cpu0 = ProcStats.CpuSeconds(pid);
        var written0 = ProcStats.WriteBytes(pid);
        using var publisher = factory.CreateMqttClient();
        await publisher.ConnectAsync(Options($"lt-{run}-pub", persistent: false));
        var pad = new string('x', Math.Max(0, payloadSize - 12));
        long errors = 0;
        var publishing = Stopwatch.StartNew();
        var inflight = new Queue<Task<MqttClientPublishResult>>();
        for (var seq = 0; seq < messages; seq++)
        {
            var body = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{seq}:{pad}"));
            inflight.Enqueue(publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(body).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build()));
            if (inflight.Count >= window && !(await inflight.Dequeue()).IsSuccess)
            {
                errors++;
            }
        }

        while (inflight.Count > 0)
        {
            if (!(await inflight.Dequeue()).IsSuccess)
            {
                errors++;
            }
        }

        var published = publishing.Elapsed;
        var cpuQueued = ProcStats.CpuSeconds(pid) - cpu0;
        var written = ProcStats.WriteBytes(pid) - written0;
        var rssQueued = pid is { } p1 ? ProcStats.RssKib(p1) : 0;
        await publisher.DisconnectAsync();

        // Back: every session drains what was kept for it.
        long received = 0, duplicates = 0, outOfOrder = 0, gaps = 0, notPresent = 0;
        var expected = (long)sessions * messages;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var lastReceipt = Stopwatch.GetTimestamp();
        var clients = new ConcurrentBag<IMqttClient>();
        var cpu1 = ProcStats.CpuSeconds(pid);
        var draining = Stopwatch.StartNew();
        await Parallel.ForAsync(0, sessions, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (s, ct) =>
        {
            var last = -1L;
            var c = factory.CreateMqttClient();
            c.ApplicationMessageReceivedAsync += e =>
            {
                var seq = long.Parse(Encoding.ASCII.GetString(e.ApplicationMessage.Payload).Split(':', 2)[0], CultureInfo.InvariantCulture);
                if (seq <= last)
                {
                    Interlocked.Increment(ref seq == last ? ref duplicates : ref outOfOrder);
                }
                else
                {
                    Interlocked.Add(ref gaps, seq - last - 1);
                    last = seq;
                }

                Volatile.Write(ref lastReceipt, Stopwatch.GetTimestamp());
                if (Interlocked.Increment(ref received) >= expected)
                {
                    done.TrySetResult();
                }

                return Task.CompletedTask;
            };
            var result = await c.ConnectAsync(Options($"lt-{run}-s{s}", persistent: true), ct);
            if (!result.IsSessionPresent)
            {
                Interlocked.Increment(ref notPresent);
            }

            clients.Add(c);
        });

        while (!done.Task.IsCompleted && Stopwatch.GetElapsedTime(Volatile.Read(ref lastReceipt)) < TimeSpan.FromSeconds(30))
        {
            await Task.WhenAny(done.Task, Task.Delay(200));
        }

        var drained = draining.Elapsed;
        var cpuDrained = ProcStats.CpuSeconds(pid) - cpu1;

        // Gone for good: a clean start discards each session (and what it may still hold).
        foreach (var c in clients)
        {
            await c.DisconnectAsync();
            c.Dispose();
        }

        await Parallel.ForAsync(0, sessions, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (s, ct) =>
        {
            using var c = factory.CreateMqttClient();
            await c.ConnectAsync(Options($"lt-{run}-s{s}", persistent: false), ct);
            await c.DisconnectAsync(cancellationToken: ct);
        });

        var got = Interlocked.Read(ref received) - duplicates;
        var missing = expected - got;
        var copies = (double)expected;
        var extra = new Dictionary<string, object>
        {
            ["sessions"] = sessions,
            ["expected"] = expected,
            ["publish_msgs_per_sec"] = Math.Round(messages / published.TotalSeconds),
            ["queued_copies_per_sec"] = Math.Round(copies / published.TotalSeconds),
            ["drain_copies_per_sec"] = Math.Round(got / drained.TotalSeconds),
            ["cpu_us_per_queued_copy"] = Math.Round(cpuQueued * 1e6 / copies, 2),
            ["cpu_us_per_drained_copy"] = Math.Round(cpuDrained * 1e6 / Math.Max(1, got), 2),
            ["rss_bytes_per_queued_copy"] = pid is null ? 0 : Math.Round((rssQueued - rss0) * 1024.0 / copies, 1),
            ["sessions_not_present"] = notPresent,
            ["write_bytes_per_msg"] = Math.Round((double)written / messages),
            ["write_bytes_per_copy"] = Math.Round(written / copies, 1),
        };
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"mqtt-sessions: published {messages} in {published.TotalSeconds:0.00} s ({extra["publish_msgs_per_sec"]} msg/s, {extra["queued_copies_per_sec"]} copies/s queued); drained {got} of {expected} in {drained.TotalSeconds:0.00} s ({extra["drain_copies_per_sec"]} copies/s); RSS {extra["rss_bytes_per_queued_copy"]} B per queued copy; {extra["write_bytes_per_msg"]} B written per message; sessions not present {notPresent}"));
        return Report.Throughput("mqtt-sessions", got, published + drained, new Latencies(), new Latencies(), cpuQueued + cpuDrained, duplicates, missing, outOfOrder, errors + notPresent, extra);
    }
}
