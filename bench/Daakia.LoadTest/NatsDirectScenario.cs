using System.Diagnostics;
using System.Globalization;
using System.Text;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Daakia.LoadTest;

/// <summary>
/// <c>nats-direct</c>: the <c>ws-direct</c> workload on NATS JetStream, configured for the same guarantee as far as
/// JetStream goes: one file-storage stream per receiver, each publish awaited for its JetStream publish ack (at most W
/// unacknowledged per sender), a durable pull consumer per receiver with explicit acks (one per message, at most 256
/// unacknowledged, as Daakia's in-flight window and the RabbitMQ scenario's prefetch). Sender and receiver each have
/// their own connection.
/// </summary>
internal static class NatsDirectScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var url = args.String("nats", "nats://127.0.0.1:4222");
        var pairs = args.Int("pairs", 16);
        var messages = args.Int("messages", 5000);
        var payload = args.Int("payload", 256);
        var window = args.Int("window", 64);
        var pid = args.OptionalInt("pid");
        var run = Guid.NewGuid().ToString("N")[..8];
        var receiveLatency = new Latencies();
        var ackLatency = new Latencies();
        Console.WriteLine($"nats-direct: {pairs} pairs × {messages} messages of ~{payload} B, window {window}, {url}");

        var opts = NatsOpts.Default with { Url = url, Name = "daakia-loadtest" };
        await using var admin = new NatsConnection(opts);
        var adminJs = new NatsJSContext(admin);
        var connections = new List<NatsConnection>();
        var receivers = new List<Receiver>();
        var senders = new List<(NatsJSContext Js, string Subject)>();
        var streams = new List<string>();
        for (var i = 0; i < pairs; i++)
        {
            var stream = $"LT_{run}_{i}";
            var subject = $"lt.{run}.{i}";
            streams.Add(stream);
            await adminJs.CreateStreamAsync(new StreamConfig(stream, [subject]) { Storage = StreamConfigStorage.File, NumReplicas = 1 });
            await adminJs.CreateOrUpdateConsumerAsync(stream, new ConsumerConfig($"r{i}") { AckPolicy = ConsumerConfigAckPolicy.Explicit, MaxAckPending = 256 });
            var receiverConnection = new NatsConnection(opts with { Name = $"lt-r-{i}" });
            var senderConnection = new NatsConnection(opts with { Name = $"lt-s-{i}" });
            await receiverConnection.ConnectAsync();
            await senderConnection.ConnectAsync();
            connections.Add(receiverConnection);
            connections.Add(senderConnection);
            var consumer = await new NatsJSContext(receiverConnection).GetConsumerAsync(stream, $"r{i}");
            receivers.Add(new Receiver(consumer, messages, receiveLatency));
            senders.Add((new NatsJSContext(senderConnection), subject));
        }

        var pad = new string('x', Math.Max(0, payload - 40));
        var errors = 0;
        using var stop = new CancellationTokenSource();
        var consuming = receivers.Select(r => r.RunAsync(stop.Token)).ToArray();
        var cpuBefore = ProcStats.CpuSeconds(pid);
        var clock = Stopwatch.StartNew();
        var sending = senders.Select(s => Task.Run(async () =>
        {
            using var slots = new SemaphoreSlim(window, window);
            var inFlight = new List<Task>(messages);
            for (var i = 0; i < messages; i++)
            {
                await slots.WaitAsync();
                var now = Stopwatch.GetTimestamp();
                var body = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"t\":{now},\"s\":{i},\"pad\":\"{pad}\"}}"));
                inFlight.Add(PublishAsync(s.Js, s.Subject, body, now, slots));
            }

            await Task.WhenAll(inFlight);
        })).ToList();

        async Task PublishAsync(NatsJSContext js, string subject, byte[] body, long startedAt, SemaphoreSlim slots)
        {
            try
            {
                var ack = await js.PublishAsync(subject, body);
                ack.EnsureSuccess();
                ackLatency.Add(Stopwatch.GetTimestamp() - startedAt);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Console.WriteLine("nats publish failed: " + ex.Message);
                Interlocked.Increment(ref errors);
            }
            finally
            {
                slots.Release();
            }
        }

        var all = Task.WhenAll(sending.Concat(receivers.Select(r => r.Done)));
        if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromMinutes(5))) != all)
        {
            Console.WriteLine("nats-direct: timed out after 5 minutes");
        }

        clock.Stop();
        var cpu = ProcStats.CpuSeconds(pid) - cpuBefore;
        await stop.CancelAsync();
        await Task.WhenAll(consuming).ContinueWith(_ => { }, TaskScheduler.Default);
        var received = receivers.Sum(r => (long)r.Distinct);
        var exit = Report.Throughput("nats-direct", received, clock.Elapsed, receiveLatency, ackLatency, cpu,
            duplicates: receivers.Sum(r => (long)r.Duplicates),
            missing: (long)pairs * messages - received,
            outOfOrder: receivers.Sum(r => (long)r.OutOfOrder),
            errors: errors + receivers.Sum(r => (long)r.Errors));
        foreach (var stream in streams)
        {
            await adminJs.DeleteStreamAsync(stream);
        }

        foreach (var c in connections)
        {
            await c.DisposeAsync();
        }

        return exit;
    }

    /// <summary>Consumes one durable pull consumer, acking each message, checking exactly-once in-order delivery.</summary>
    private sealed class Receiver(INatsJSConsumer consumer, int messages, Latencies latency)
    {
        private readonly bool[] _seen = new bool[messages];
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _highest = -1;

        public int Distinct { get; private set; }

        public int Duplicates { get; private set; }

        public int OutOfOrder { get; private set; }

        public int Errors { get; private set; }

        public Task Done => _done.Task;

        public async Task RunAsync(CancellationToken stop)
        {
            try
            {
                await foreach (var msg in consumer.ConsumeAsync<byte[]>(opts: new NatsJSConsumeOpts { MaxMsgs = 256 }, cancellationToken: stop))
                {
                    var (sentAt, sequence) = Parse(msg.Data);
                    if (sequence < 0 || sequence >= _seen.Length)
                    {
                        Errors++;
                    }
                    else
                    {
                        latency.Add(Stopwatch.GetTimestamp() - sentAt);
                        if (_seen[sequence])
                        {
                            Duplicates++;
                        }
                        else
                        {
                            _seen[sequence] = true;
                            if (sequence < _highest)
                            {
                                OutOfOrder++;
                            }

                            _highest = Math.Max(_highest, sequence);
                            if (++Distinct == _seen.Length)
                            {
                                _done.TrySetResult();
                            }
                        }
                    }

                    await msg.AckAsync(cancellationToken: stop);
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (NatsException ex)
            {
                Errors++;
                Console.WriteLine("nats consumer failed: " + ex.Message);
            }

            _done.TrySetResult();
        }

        private static (long SentAt, int Sequence) Parse(byte[]? body)
        {
            if (body is null)
            {
                return (0, -1);
            }

            var reader = new System.Text.Json.Utf8JsonReader(body);
            long t = 0;
            var s = -1;
            while (reader.Read())
            {
                if (reader.TokenType == System.Text.Json.JsonTokenType.PropertyName && reader.ValueTextEquals("t"u8))
                {
                    reader.Read();
                    t = reader.GetInt64();
                }
                else if (reader.TokenType == System.Text.Json.JsonTokenType.PropertyName && reader.ValueTextEquals("s"u8))
                {
                    reader.Read();
                    s = reader.GetInt32();
                }
            }

            return (t, s);
        }
    }
}
