using System.Diagnostics;
using System.Globalization;
using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Daakia.LoadTest;

/// <summary>
/// The same workload on RabbitMQ, configured for the same guarantee: a durable queue per receiver, persistent
/// messages, publisher confirms (a publish completes when the broker has it on disk), manual acks.
/// </summary>
internal static class RabbitDirectScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var uri = new Uri(args.String("amqp", "amqp://guest:guest@127.0.0.1:5672/"));
        var pairs = args.Int("pairs", 16);
        var messages = args.Int("messages", 5000);
        var payload = args.Int("payload", 256);
        var window = args.Int("window", 64);
        var pid = args.OptionalInt("pid");
        var run = Guid.NewGuid().ToString("N")[..8];
        var receiveLatency = new Latencies();
        var ackLatency = new Latencies();
        var factory = new ConnectionFactory { Uri = uri };
        Console.WriteLine($"rabbit-direct: {pairs} pairs × {messages} messages of ~{payload} B, window {window}, {uri.Host}:{uri.Port}");

        var connections = new List<IConnection>();
        var consumers = new List<(bool[] Seen, TaskCompletionSource Done, int[] Counts)>();
        var publishers = new List<(IChannel Channel, string Queue)>();
        for (var i = 0; i < pairs; i++)
        {
            var queue = $"lt-q-{run}-{i}";
            var receiverConnection = await factory.CreateConnectionAsync();
            var senderConnection = await factory.CreateConnectionAsync();
            connections.Add(receiverConnection);
            connections.Add(senderConnection);
            var consume = await receiverConnection.CreateChannelAsync();
            await consume.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
            await consume.BasicQosAsync(0, 256, false);
            var seen = new bool[messages];
            var counts = new int[4]; // distinct, duplicates, out of order, highest sequence + 1
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var consumer = new AsyncEventingBasicConsumer(consume);
            consumer.ReceivedAsync += async (_, e) =>
            {
                var (sentAt, sequence) = Parse(e.Body.Span);
                receiveLatency.Add(Stopwatch.GetTimestamp() - sentAt);
                if (seen[sequence])
                {
                    counts[1]++;
                }
                else
                {
                    seen[sequence] = true;
                    if (sequence + 1 < counts[3])
                    {
                        counts[2]++;
                    }

                    counts[3] = Math.Max(counts[3], sequence + 1);
                    if (++counts[0] == messages)
                    {
                        done.TrySetResult();
                    }
                }

                await consume.BasicAckAsync(e.DeliveryTag, multiple: false);
            };
            await consume.BasicConsumeAsync(queue, autoAck: false, consumer);
            consumers.Add((seen, done, counts));
            var publish = await senderConnection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
            publishers.Add((publish, queue));
        }

        var pad = new string('x', Math.Max(0, payload - 40));
        var errors = 0;
        var cpuBefore = ProcStats.CpuSeconds(pid);
        var clock = Stopwatch.StartNew();
        var sending = publishers.Select(p => Task.Run(async () =>
        {
            using var slots = new SemaphoreSlim(window, window);
            var inFlight = new List<Task>(messages);
            var properties = new BasicProperties { Persistent = true };
            for (var i = 0; i < messages; i++)
            {
                await slots.WaitAsync();
                var now = Stopwatch.GetTimestamp();
                var body = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"t\":{now},\"s\":{i},\"pad\":\"{pad}\"}}"));
                inFlight.Add(PublishAsync(p.Channel, p.Queue, properties, body, now));
            }

            await Task.WhenAll(inFlight);

            async Task PublishAsync(IChannel channel, string queue, BasicProperties props, byte[] body, long startedAt)
            {
                try
                {
                    // With confirmation tracking the task completes when the broker confirms the (persistent) message.
                    await channel.BasicPublishAsync(string.Empty, queue, mandatory: false, props, body);
                    ackLatency.Add(Stopwatch.GetTimestamp() - startedAt);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    Interlocked.Increment(ref errors);
                }
                finally
                {
                    slots.Release();
                }
            }
        })).ToList();

        var all = Task.WhenAll(sending.Concat(consumers.Select(c => c.Done.Task)));
        if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromMinutes(5))) != all)
        {
            Console.WriteLine("rabbit-direct: timed out after 5 minutes");
        }

        clock.Stop();
        var cpu = ProcStats.CpuSeconds(pid) - cpuBefore;
        var received = consumers.Sum(c => (long)c.Counts[0]);
        var exit = Report.Throughput("rabbit-direct", received, clock.Elapsed, receiveLatency, ackLatency, cpu,
            duplicates: consumers.Sum(c => (long)c.Counts[1]),
            missing: (long)pairs * messages - received,
            outOfOrder: consumers.Sum(c => (long)c.Counts[2]),
            errors: errors);
        foreach (var (channel, queue) in publishers)
        {
            await channel.QueueDeleteAsync(queue);
            await channel.DisposeAsync();
        }

        foreach (var c in connections)
        {
            await c.CloseAsync();
            await c.DisposeAsync();
        }

        return exit;
    }

    private static (long SentAt, int Sequence) Parse(ReadOnlySpan<byte> body)
    {
        var reader = new System.Text.Json.Utf8JsonReader(body);
        long t = 0;
        var s = 0;
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
