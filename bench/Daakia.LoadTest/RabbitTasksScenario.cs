using System.Diagnostics;
using System.Globalization;
using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Daakia.LoadTest;

/// <summary>
/// The <c>tasks</c> workload the way worker pools are built on RabbitMQ today: one durable work queue, persistent
/// messages, publisher confirms, W consumers with manual acks and prefetch = C (handling C at once), each publishing
/// its result (persistent, confirmed) to the submitter's durable reply queue before it acks the task; each submitter
/// consumes its replies with manual acks. Same figures and checks as <see cref="TasksScenario"/>.
/// </summary>
internal static class RabbitTasksScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var uri = new Uri(args.String("amqp", "amqp://guest:guest@127.0.0.1:5672/"));
        var load = TasksLoad.Parse(args);
        var (workers, capacity, submitters, tasks, window, _, pid) = load;
        var run = Guid.NewGuid().ToString("N")[..8];
        var queue = "tasks-" + run;
        var pad = load.Pad;
        var dispatch = new Latencies();
        var submitAck = new Latencies();
        var errors = 0;
        var outOfOrder = 0;
        var factory = new ConnectionFactory { Uri = uri };
        Console.WriteLine($"rabbit-tasks: {load}, {uri.Host}:{uri.Port}");

        var connections = new List<IConnection>();
        var persistent = new BasicProperties { Persistent = true };
        for (var w = 0; w < workers; w++)
        {
            var connection = await factory.CreateConnectionAsync();
            connections.Add(connection);
            // One dispatch at a time (deliveries seen in the queue's order); each task's work runs on its own, up to the
            // prefetch (C unacknowledged) at once.
            var consume = await connection.CreateChannelAsync();
            var publish = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
            await consume.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
            await consume.BasicQosAsync(0, (ushort)capacity, false);
            var last = new int[submitters];
            Array.Fill(last, -1);
            var consumer = new AsyncEventingBasicConsumer(consume);
            consumer.ReceivedAsync += (_, e) =>
            {
                var (t, s, i) = Parse(e.Body.Span);
                dispatch.Add(Stopwatch.GetTimestamp() - t);
                if (i <= last[s])
                {
                    Interlocked.Increment(ref outOfOrder);
                }

                last[s] = i;
                var tag = e.DeliveryTag;
                _ = Task.Run(async () =>
                {
                    try
                    {
                        var result = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $$"""{"s":{{s}},"i":{{i}}}"""));
                        await publish.BasicPublishAsync(string.Empty, $"results-{run}-{s}", mandatory: false, persistent, result);
                        await consume.BasicAckAsync(tag, multiple: false);
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        Interlocked.Increment(ref errors);
                    }
                });
                return Task.CompletedTask;
            };
            await consume.BasicConsumeAsync(queue, autoAck: false, consumer);
        }

        var done = new long[submitters];
        var duplicates = 0L;
        var finished = new List<TaskCompletionSource>();
        var publishers = new List<IChannel>();
        for (var s = 0; s < submitters; s++)
        {
            var connection = await factory.CreateConnectionAsync();
            connections.Add(connection);
            var replies = await connection.CreateChannelAsync();
            var results = $"results-{run}-{s}";
            await replies.QueueDeclareAsync(results, durable: true, exclusive: false, autoDelete: false);
            await replies.BasicQosAsync(0, 256, false);
            var seen = new bool[tasks];
            var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var index = s;
            var consumer = new AsyncEventingBasicConsumer(replies);
            consumer.ReceivedAsync += async (_, e) =>
            {
                var (_, _, i) = Parse(e.Body.Span);
                if (seen[i])
                {
                    Interlocked.Increment(ref duplicates);
                }
                else
                {
                    seen[i] = true;
                    if (++done[index] == tasks)
                    {
                        all.TrySetResult();
                    }
                }

                await replies.BasicAckAsync(e.DeliveryTag, multiple: false);
            };
            await replies.BasicConsumeAsync(results, autoAck: false, consumer);
            finished.Add(all);
            publishers.Add(await connection.CreateChannelAsync(new CreateChannelOptions(true, true)));
        }

        var cpuBefore = ProcStats.CpuSeconds(pid);
        var clock = Stopwatch.StartNew();
        var clock0 = Stopwatch.GetTimestamp();
        var submitting = publishers.Select((channel, s) => Task.Run(async () =>
        {
            using var slots = new SemaphoreSlim(window, window);
            var inFlight = new List<Task>(tasks);
            for (var i = 0; i < tasks; i++)
            {
                await load.PaceAsync(clock0, i);
                await slots.WaitAsync();
                var now = Stopwatch.GetTimestamp();
                var body = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $$"""{"s":{{s}},"i":{{i}},"t":{{now}},"pad":"{{pad}}"}"""));
                inFlight.Add(PublishAsync(body, now));
            }

            await Task.WhenAll(inFlight);
            await finished[s].Task;

            async Task PublishAsync(byte[] body, long startedAt)
            {
                try
                {
                    // With confirmation tracking the task completes when the broker confirms the (persistent) message.
                    await channel.BasicPublishAsync(string.Empty, queue, mandatory: false, persistent, body);
                    submitAck.Add(Stopwatch.GetTimestamp() - startedAt);
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

        await TasksLoad.WaitAsync("rabbit-tasks", submitting);

        clock.Stop();
        var cpu = ProcStats.CpuSeconds(pid) - cpuBefore;
        var exit = load.Report("rabbit-tasks", done, clock.Elapsed, dispatch, submitAck, cpu, duplicates, outOfOrder, errors);
        await using (var cleanup = await connections[0].CreateChannelAsync())
        {
            await cleanup.QueueDeleteAsync(queue);
            for (var s = 0; s < submitters; s++)
            {
                await cleanup.QueueDeleteAsync($"results-{run}-{s}");
            }
        }

        foreach (var c in connections)
        {
            await c.CloseAsync();
            await c.DisposeAsync();
        }

        return exit;
    }

    private static (long T, int S, int I) Parse(ReadOnlySpan<byte> body)
    {
        var reader = new System.Text.Json.Utf8JsonReader(body);
        long t = 0;
        int s = 0, i = 0;
        while (reader.Read())
        {
            if (reader.TokenType != System.Text.Json.JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.ValueTextEquals("t"u8))
            {
                reader.Read();
                t = reader.GetInt64();
            }
            else if (reader.ValueTextEquals("s"u8))
            {
                reader.Read();
                s = reader.GetInt32();
            }
            else if (reader.ValueTextEquals("i"u8))
            {
                reader.Read();
                i = reader.GetInt32();
            }
        }

        return (t, s, i);
    }
}
