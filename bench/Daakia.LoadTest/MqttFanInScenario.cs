using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Daakia.LoadTest;

/// <summary>
/// <c>mqtt-fanin</c>: P publishers → one subscriber on any MQTT broker (<c>--mqtt host:port</c>). Each publisher sends
/// M messages carrying its index, a sequence number and a send timestamp, with at most W unacknowledged (QoS 1/2) at a
/// time; the subscriber checks per-publisher order and counts duplicates and gaps. QoS 1 and 2 must lose nothing; at
/// QoS 0 the loss is reported (a broker may drop), duplicates and reordering still fail the run. MQTTnet clients by
/// default; <c>--client raw</c>: bare socket clients (<see cref="MqttRawClients"/>).
/// </summary>
internal static class MqttFanInScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        if (args.String("client", "mqttnet") == "raw")
        {
            return await MqttRawClients.RunAsync(args);
        }

        var (host, port) = Endpoint(args.String("mqtt", "127.0.0.1:1883"));
        var publishers = args.Int("publishers", 8);
        var messages = args.Int("messages", 10_000);
        var payloadSize = args.Int("payload", 256);
        var window = args.Int("window", 64);
        var qos = (MqttQualityOfServiceLevel)args.Int("qos", 1);
        var version = args.String("version", "5") == "3.1.1" ? MqttProtocolVersion.V311 : MqttProtocolVersion.V500;
        var pid = args.OptionalInt("pid");
        var socketBuffer = args.Int("socket-buffer", 8192); // MQTTnet's default: the socket's send and receive buffers
        var run = Guid.NewGuid().ToString("N")[..8];
        var topic = $"lt/{run}/in";
        Console.WriteLine($"mqtt-fanin: {publishers} publishers × {messages} messages of ~{payloadSize} B at QoS {(int)qos}, window {window}, MQTT {(version == MqttProtocolVersion.V500 ? "5.0" : "3.1.1")}, {host}:{port}");

        var factory = new MqttClientFactory();
        MqttClientOptions Options(string id) => WithBuffer(new MqttClientOptionsBuilder().WithTcpServer(host, port).WithClientId(id)
            .WithProtocolVersion(version).WithCleanSession().WithKeepAlivePeriod(TimeSpan.FromSeconds(60)).WithTimeout(TimeSpan.FromSeconds(30)).Build(), socketBuffer);

        var latencies = new Latencies();
        var last = new long[publishers];
        Array.Fill(last, -1);
        long received = 0, duplicates = 0, outOfOrder = 0, gaps = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var expected = (long)publishers * messages;
        var lastReceipt = Stopwatch.GetTimestamp();

        using var subscriber = factory.CreateMqttClient();
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            var now = Stopwatch.GetTimestamp();
            var (p, seq, sent) = Parse(e.ApplicationMessage.Payload);
            latencies.Add(now - sent);
            lock (last)
            {
                if (seq <= last[p])
                {
                    if (seq == last[p]) { duplicates++; } else { outOfOrder++; }
                }
                else
                {
                    gaps += seq - last[p] - 1;
                    last[p] = seq;
                }

                received++;
                lastReceipt = now;
                if (received >= expected)
                {
                    done.TrySetResult();
                }
            }

            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(Options($"lt-{run}-sub"));
        await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(topic).WithQualityOfServiceLevel(qos)).Build());

        var clients = new List<IMqttClient>();
        for (var i = 0; i < publishers; i++)
        {
            var c = factory.CreateMqttClient();
            await c.ConnectAsync(Options($"lt-{run}-pub-{i}"));
            clients.Add(c);
        }

        var pad = new string('x', Math.Max(0, payloadSize - 40));
        long errors = 0;
        var cpu0 = ProcStats.CpuSeconds(pid);
        var started = Stopwatch.StartNew();
        var sending = clients.Select((c, i) => Task.Run(async () =>
        {
            var inflight = new Queue<Task<MqttClientPublishResult>>();
            for (var seq = 0; seq < messages; seq++)
            {
                var body = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{i}:{seq}:{Stopwatch.GetTimestamp()}:{pad}"));
                var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(body).WithQualityOfServiceLevel(qos).Build();
                inflight.Enqueue(c.PublishAsync(message));
                if (inflight.Count >= window)
                {
                    var r = await inflight.Dequeue();
                    if (!r.IsSuccess && r.ReasonCode != MqttClientPublishReasonCode.NoMatchingSubscribers)
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
            }

            while (inflight.Count > 0)
            {
                var r = await inflight.Dequeue();
                if (!r.IsSuccess && r.ReasonCode != MqttClientPublishReasonCode.NoMatchingSubscribers)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })).ToArray();
        await Task.WhenAll(sending);

        // Everything, or (QoS 0 may drop) until nothing has arrived for two seconds.
        while (!done.Task.IsCompleted)
        {
            await Task.WhenAny(done.Task, Task.Delay(200));
            lock (last)
            {
                if (Stopwatch.GetElapsedTime(lastReceipt) > TimeSpan.FromSeconds(qos == MqttQualityOfServiceLevel.AtMostOnce ? 2 : 30))
                {
                    break;
                }
            }
        }

        var elapsed = started.Elapsed;
        var cpu = ProcStats.CpuSeconds(pid) - cpu0;
        foreach (var c in clients)
        {
            await c.DisconnectAsync();
            c.Dispose();
        }

        await subscriber.DisconnectAsync();
        long missing;
        lock (last)
        {
            missing = expected - received + duplicates;
        }

        var lost = qos == MqttQualityOfServiceLevel.AtMostOnce ? 0 : missing;
        return Report.Throughput("mqtt-fanin", received - duplicates, elapsed, latencies, new Latencies(), cpu, duplicates, lost, outOfOrder, errors,
            new Dictionary<string, object> { ["qos"] = (int)qos, ["lost_qos0"] = qos == MqttQualityOfServiceLevel.AtMostOnce ? missing : 0, ["published"] = expected });
    }

    private static MqttClientOptions WithBuffer(MqttClientOptions options, int socketBuffer)
    {
        ((MqttClientTcpOptions)options.ChannelOptions).BufferSize = socketBuffer;
        return options;
    }

    private static (int Publisher, long Seq, long Sent) Parse(ReadOnlySequence<byte> payload)
    {
        var text = Encoding.ASCII.GetString(payload);
        var parts = text.Split(':', 4);
        return (int.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture), long.Parse(parts[2], CultureInfo.InvariantCulture));
    }

    /// <summary><c>host:port</c> of <c>--mqtt</c>.</summary>
    internal static (string Host, int Port) Endpoint(string value)
    {
        var i = value.LastIndexOf(':');
        return (value[..i], int.Parse(value[(i + 1)..], CultureInfo.InvariantCulture));
    }
}
