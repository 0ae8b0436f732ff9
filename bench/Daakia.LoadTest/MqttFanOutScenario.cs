using System.Diagnostics;
using System.Globalization;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace Daakia.LoadTest;

/// <summary>
/// <c>mqtt-fanout</c>: one publisher → S subscribers of one topic on any MQTT broker (<c>--mqtt host:port</c>), MQTT
/// 5.0. The publisher sends M messages carrying a sequence number and a send timestamp (at most W unacknowledged at
/// QoS 1); every subscriber checks order and counts duplicates and gaps. Reports deliveries/s (S × M in all).
/// MQTTnet clients by default; <c>--client raw</c>: bare socket clients (<see cref="MqttRawClients"/>).
/// </summary>
internal static class MqttFanOutScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        if (args.String("client", "mqttnet") == "raw")
        {
            return await MqttRawClients.RunAsync(args, fanOut: true);
        }

        var (host, port) = MqttFanInScenario.Endpoint(args.String("mqtt", "127.0.0.1:1883"));
        var subscribers = args.Int("subscribers", 100);
        var messages = args.Int("messages", 2_000);
        var window = args.Int("window", 64);
        var payloadSize = args.Int("payload", 256);
        var socketBuffer = args.Int("socket-buffer", 8192);
        var qos = (MqttQualityOfServiceLevel)args.Int("qos", 0);
        var pid = args.OptionalInt("pid");
        var run = Guid.NewGuid().ToString("N")[..8];
        var topic = $"lt/{run}/out";
        Console.WriteLine($"mqtt-fanout: 1 publisher × {messages} messages of ~{payloadSize} B → {subscribers} subscribers at QoS {(int)qos}, {host}:{port}");

        var factory = new MqttClientFactory();
        MqttClientOptions Options(string id)
        {
            var o = new MqttClientOptionsBuilder().WithTcpServer(host, port).WithClientId(id).WithCleanSession()
                .WithKeepAlivePeriod(TimeSpan.FromSeconds(60)).WithTimeout(TimeSpan.FromSeconds(30)).Build();
            ((MqttClientTcpOptions)o.ChannelOptions).BufferSize = socketBuffer;
            return o;
        }

        var latencies = new Latencies();
        long received = 0, duplicates = 0, outOfOrder = 0, gaps = 0;
        var lastReceipt = Stopwatch.GetTimestamp();
        var expected = (long)subscribers * messages;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clients = new List<IMqttClient>();
        for (var s = 0; s < subscribers; s++)
        {
            var last = -1L;
            var c = factory.CreateMqttClient();
            c.ApplicationMessageReceivedAsync += e =>
            {
                var now = Stopwatch.GetTimestamp();
                var parts = Encoding.ASCII.GetString(e.ApplicationMessage.Payload).Split(':', 3);
                var seq = long.Parse(parts[0], CultureInfo.InvariantCulture);
                latencies.Add(now - long.Parse(parts[1], CultureInfo.InvariantCulture));
                if (seq <= last)
                {
                    Interlocked.Increment(ref seq == last ? ref duplicates : ref outOfOrder);
                }
                else
                {
                    Interlocked.Add(ref gaps, seq - last - 1);
                    last = seq;
                }

                Volatile.Write(ref lastReceipt, now);
                if (Interlocked.Increment(ref received) >= expected)
                {
                    done.TrySetResult();
                }

                return Task.CompletedTask;
            };
            await c.ConnectAsync(Options($"lt-{run}-sub-{s}"));
            await c.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(topic).WithQualityOfServiceLevel(qos)).Build());
            clients.Add(c);
        }

        using var publisher = factory.CreateMqttClient();
        await publisher.ConnectAsync(Options($"lt-{run}-pub"));
        var pad = new string('x', Math.Max(0, payloadSize - 30));
        long errors = 0;
        var cpu0 = ProcStats.CpuSeconds(pid);
        var started = Stopwatch.StartNew();
        var inflight = new Queue<Task<MqttClientPublishResult>>();
        for (var seq = 0; seq < messages; seq++)
        {
            var body = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{seq}:{Stopwatch.GetTimestamp()}:{pad}"));
            inflight.Enqueue(publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(body).WithQualityOfServiceLevel(qos).Build()));
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

        while (!done.Task.IsCompleted && Stopwatch.GetElapsedTime(Volatile.Read(ref lastReceipt)) < TimeSpan.FromSeconds(qos == MqttQualityOfServiceLevel.AtMostOnce ? 2 : 30))
        {
            await Task.WhenAny(done.Task, Task.Delay(200));
        }

        var elapsed = started.Elapsed;
        var cpu = ProcStats.CpuSeconds(pid) - cpu0;
        await publisher.DisconnectAsync();
        foreach (var c in clients)
        {
            await c.DisconnectAsync();
            c.Dispose();
        }

        var missing = expected - Interlocked.Read(ref received) + duplicates;
        var lost = qos == MqttQualityOfServiceLevel.AtMostOnce ? 0 : missing;
        return Report.Throughput("mqtt-fanout", Interlocked.Read(ref received) - duplicates, elapsed, latencies, new Latencies(), cpu, duplicates, lost, outOfOrder, errors,
            new Dictionary<string, object> { ["qos"] = (int)qos, ["lost_qos0"] = qos == MqttQualityOfServiceLevel.AtMostOnce ? missing : 0, ["subscribers"] = subscribers, ["expected"] = expected });
    }
}
