using System.Diagnostics;
using System.Globalization;
using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Daakia.LoadTest;

/// <summary>
/// <c>rabbit-fanout</c>: the <c>fanout-durable</c> workload on RabbitMQ — a durable fanout exchange bound to I durable
/// classic queues, N persistent messages published with confirms (at most W unconfirmed) while no consumer is
/// attached, then one consumer per queue (manual acks, prefetch 256; spread over C connections) drains them. Reports
/// the broker's <c>write_bytes</c> and its data directory's growth per message, as the Daakia scenario does.
/// </summary>
internal static class RabbitFanoutScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var uri = new Uri(args.String("amqp", "amqp://guest:guest@127.0.0.1:5672/"));
        var queues = args.Int("inboxes", 1000);
        var messages = args.Int("messages", 20);
        var payload = args.Int("payload", 256);
        var window = args.Int("window", 4);
        var connectionCount = args.Int("connections", 20);
        var pid = args.OptionalInt("pid");
        var dir = args.String("dir", "");
        var name = args.String("label", "rabbit-fanout");
        var run = Guid.NewGuid().ToString("N")[..8];
        var exchange = $"lt-fx-{run}";
        var names = Enumerable.Range(0, queues).Select(i => string.Create(CultureInfo.InvariantCulture, $"fo{run}-{i}")).ToArray();
        var factory = new ConnectionFactory { Uri = uri };
        Console.WriteLine($"{name}: {messages} messages × {queues} durable queues (fanout exchange), ~{payload} B persistent, confirms, window {window}, {uri.Host}:{uri.Port}");

        await using var setup = await factory.CreateConnectionAsync();
        await using var admin = await setup.CreateChannelAsync();
        await admin.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
        foreach (var queue in names)
        {
            await admin.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
            await admin.QueueBindAsync(queue, exchange, string.Empty);
        }

        // --- publish, no consumer attached ---
        await using var publishChannel = await setup.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var pad = new string('x', Math.Max(0, payload - 40));
        var properties = new BasicProperties { Persistent = true };
        var ackLatency = new Latencies();
        var errors = 0;
        var before = Report.Disk.Read(pid, dir);
        var clock = Stopwatch.StartNew();
        using (var slots = new SemaphoreSlim(window, window))
        {
            var inFlight = new List<Task>(messages);
            for (var i = 0; i < messages; i++)
            {
                await slots.WaitAsync();
                var now = Stopwatch.GetTimestamp();
                var body = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"t\":{now},\"s\":{i},\"pad\":\"{pad}\"}}"));
                inFlight.Add(PublishAsync(body, now));
            }

            await Task.WhenAll(inFlight);

            async Task PublishAsync(byte[] body, long startedAt)
            {
                try
                {
                    await publishChannel.BasicPublishAsync(exchange, string.Empty, mandatory: false, properties, body);
                    ackLatency.Add(Stopwatch.GetTimestamp() - startedAt);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    Console.WriteLine("publish failed: " + ex.Message);
                    Interlocked.Increment(ref errors);
                }
                finally
                {
                    slots.Release();
                }
            }
        }

        var sendTime = clock.Elapsed;
        var afterSend = Report.Disk.Read(pid, dir);

        // --- drain: a consumer per queue ---
        clock.Restart();
        var connections = new List<IConnection>();
        for (var c = 0; c < connectionCount; c++)
        {
            connections.Add(await factory.CreateConnectionAsync());
        }

        var counts = new int[queues, 4]; // distinct, duplicates, out of order, highest sequence + 1
        var seen = new bool[queues, messages];
        var done = Enumerable.Range(0, queues).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var channels = new List<IChannel>(queues);
        for (var q = 0; q < queues; q++)
        {
            var channel = await connections[q % connectionCount].CreateChannelAsync();
            channels.Add(channel);
            await channel.BasicQosAsync(0, 256, false);
            var consumer = new AsyncEventingBasicConsumer(channel);
            var index = q;
            consumer.ReceivedAsync += async (_, e) =>
            {
                var sequence = Sequence(e.Body.Span);
                if (sequence < 0 || sequence >= messages)
                {
                    Interlocked.Increment(ref errors);
                }
                else if (seen[index, sequence])
                {
                    counts[index, 1]++;
                }
                else
                {
                    seen[index, sequence] = true;
                    if (sequence + 1 < counts[index, 3])
                    {
                        counts[index, 2]++;
                    }

                    counts[index, 3] = Math.Max(counts[index, 3], sequence + 1);
                    if (++counts[index, 0] == messages)
                    {
                        done[index].TrySetResult();
                    }
                }

                await channel.BasicAckAsync(e.DeliveryTag, multiple: false);
            };
            await channel.BasicConsumeAsync(names[q], autoAck: false, consumer);
        }

        var connectTime = clock.Elapsed;
        var drained = Task.WhenAll(done.Select(d => d.Task));
        if (await Task.WhenAny(drained, Task.Delay(TimeSpan.FromMinutes(5))) != drained)
        {
            Console.WriteLine($"{name}: drain timed out after 5 minutes");
        }

        var drainTime = clock.Elapsed;
        // Closing a channel requeues what it has not acked; its acks before the close are processed first. So after
        // the closes, an empty queue means every ack was applied.
        foreach (var channel in channels)
        {
            await channel.CloseAsync();
            await channel.DisposeAsync();
        }

        long left = 0;
        foreach (var queue in names)
        {
            left += (await admin.QueueDeclarePassiveAsync(queue)).MessageCount;
        }

        var afterDrain = Report.Disk.Read(pid, dir);
        var letters = (long)messages * queues;
        long received = 0, duplicates = 0, outOfOrder = 0;
        for (var q = 0; q < queues; q++)
        {
            received += counts[q, 0];
            duplicates += counts[q, 1];
            outOfOrder += counts[q, 2];
        }

        var sendWrite = afterSend.WriteBytes - before.WriteBytes;
        var drainWrite = afterDrain.WriteBytes - afterSend.WriteBytes;
        var sendGrowth = afterSend.DirBytes - before.DirBytes;
        var (a50, a99, _) = ackLatency.Summary();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: send {messages} msgs ({letters} queue entries) in {sendTime.TotalSeconds:0.00} s = {messages / sendTime.TotalSeconds:0.0} msg/s = {letters / sendTime.TotalSeconds:0} entries/s; publish→confirm p50 {a50:0.0} ms p99 {a99:0.0} ms; write_bytes {sendWrite / 1048576.0:0.0} MiB = {sendWrite / (double)messages / 1024:0.0} KiB/msg; data dir +{sendGrowth / 1048576.0:0.0} MiB = {sendGrowth / (double)messages / 1024:0.0} KiB/msg"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: drain {received} messages from {queues} queues in {drainTime.TotalSeconds:0.00} s (consumers attached in {connectTime.TotalSeconds:0.00} s) = {received / drainTime.TotalSeconds:0} msg/s; write_bytes {drainWrite / 1048576.0:0.0} MiB; left in queues after the consumers closed: {left}"));
        Report.Emit(new Dictionary<string, object>
        {
            ["scenario"] = name,
            ["messages"] = messages,
            ["inboxes"] = queues,
            ["send_msgs_per_sec"] = Math.Round(messages / sendTime.TotalSeconds, 1),
            ["send_letters_per_sec"] = Math.Round(letters / sendTime.TotalSeconds),
            ["send_ack_p50_ms"] = Math.Round(a50, 2),
            ["send_ack_p99_ms"] = Math.Round(a99, 2),
            ["send_cpu_us_per_letter"] = Math.Round((afterSend.CpuSeconds - before.CpuSeconds) * 1e6 / letters, 1),
            ["send_write_bytes_per_msg"] = Math.Round(sendWrite / (double)messages),
            ["send_write_bytes_per_letter"] = Math.Round(sendWrite / (double)letters),
            ["dir_growth_bytes_per_msg"] = Math.Round(sendGrowth / (double)messages),
            ["dir_bytes_after_send"] = afterSend.DirBytes,
            ["drain_letters_per_sec"] = Math.Round(received / drainTime.TotalSeconds),
            ["drain_connect_sec"] = Math.Round(connectTime.TotalSeconds, 2),
            ["drain_cpu_us_per_letter"] = Math.Round((afterDrain.CpuSeconds - afterSend.CpuSeconds) * 1e6 / Math.Max(1, received), 1),
            ["drain_write_bytes_per_letter"] = Math.Round(drainWrite / (double)Math.Max(1, received)),
            ["dir_bytes_after_drain"] = afterDrain.DirBytes,
        });
        var exit = Report.Verdict(name, duplicates, letters - received, outOfOrder, errors + left);
        foreach (var queue in names)
        {
            await admin.QueueDeleteAsync(queue);
        }

        await admin.ExchangeDeleteAsync(exchange);
        foreach (var c in connections)
        {
            await c.CloseAsync();
            await c.DisposeAsync();
        }

        return exit;
    }

    private static int Sequence(ReadOnlySpan<byte> body)
    {
        var reader = new System.Text.Json.Utf8JsonReader(body);
        while (reader.Read())
        {
            if (reader.TokenType == System.Text.Json.JsonTokenType.PropertyName && reader.ValueTextEquals("s"u8))
            {
                reader.Read();
                return reader.GetInt32();
            }
        }

        return -1;
    }
}
