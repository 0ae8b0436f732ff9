using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Daakia.LoadTest;

/// <summary>
/// Worker task dispatch end to end on Daakia's WebSocket JSON API: W workers of one service with capacity C each,
/// S submitters each submitting M tasks with at most a window unanswered. A worker completes each task as it gets
/// it; a task is done when its result letter reaches its submitter (who acks it). Reports tasks/s end to end,
/// dispatch latency (submit sent → worker has it) and submit → ack; fails on a task lost, done twice, handed to a
/// worker out of its submitter's order, or an error.
/// </summary>
internal static class TasksScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var url = new Uri(args.String("url", "ws://127.0.0.1:8398/v1/ws"));
        var load = TasksLoad.Parse(args);
        var (workers, capacity, submitters, tasks, window, _, pid) = load;
        var run = Guid.NewGuid().ToString("N")[..8];
        var service = "bench-" + run;
        var pad = load.Pad;
        var dispatch = new Latencies();
        var submitAck = new Latencies();
        var errors = 0;
        var outOfOrder = 0;
        Console.WriteLine($"tasks: {load}, {url}");

        var workerClients = new List<WsClient>();
        for (var w = 0; w < workers; w++)
        {
            var c = await WsClient.ConnectAsync(url);
            await c.SendNowAsync($$"""{"id":0,"type":"hello","author":"bw-{{run}}-{{w}}"}""");
            await c.SendNowAsync($$"""{"id":1,"type":"worker_register","services":["{{service}}"],"capacity":{{capacity}}}""");
            while (await c.ReceiveMessageAsync() is { } m && !Encoding.UTF8.GetString(m.Span).Contains("\"capacity\"", StringComparison.Ordinal))
            {
            }

            workerClients.Add(c);
        }

        using var stop = new CancellationTokenSource();
        var workerLoops = workerClients.Select(c => Task.Run(async () =>
        {
            var last = new int[submitters];
            Array.Fill(last, -1);
            while (!stop.IsCancellationRequested && await c.ReceiveMessageAsync() is { } m)
            {
                var now = Stopwatch.GetTimestamp();
                string? id = null;
                int s = 0, i = 0;
                long t = 0;
                var type = Parse(m.Span, ref id, ref s, ref i, ref t);
                if (type == "task_assigned")
                {
                    dispatch.Add(now - t);
                    if (i <= last[s])
                    {
                        Interlocked.Increment(ref outOfOrder);
                    }

                    last[s] = i;
                    await c.QueueAsync($$$"""{"id":"c","type":"task_complete","task_id":"{{{id}}}","result":{"s":{{{s}}},"i":{{{i}}}}}""");
                    await c.Stream.SendBufferedAsync();
                }
                else if (type == "error")
                {
                    Interlocked.Increment(ref errors);
                    Console.WriteLine("worker: " + Encoding.UTF8.GetString(m.Span));
                }
            }
        })).ToList();

        var done = new long[submitters];
        var duplicates = 0L;
        var cpuBefore = ProcStats.CpuSeconds(pid);
        var clock = Stopwatch.StartNew();
        var clock0 = Stopwatch.GetTimestamp();
        var submitting = Enumerable.Range(0, submitters).Select(s => Task.Run(async () =>
        {
            var c = await WsClient.ConnectAsync(url);
            await c.SendNowAsync($$"""{"id":0,"type":"hello","author":"bs-{{run}}-{{s}}"}""");
            using var slots = new SemaphoreSlim(window, window);
            var sentAt = new long[tasks];
            var seen = new bool[tasks];
            var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var reader = Task.Run(async () =>
            {
                while (await c.ReceiveMessageAsync() is { } m)
                {
                    string? id = null;
                    int from = 0, i = 0;
                    long t = 0;
                    var type = Parse(m.Span, ref id, ref from, ref i, ref t);
                    if (type == "ack" && i > 0)
                    {
                        submitAck.Add(Stopwatch.GetTimestamp() - sentAt[i - 1]);
                        slots.Release();
                    }
                    else if (type == "letter")
                    {
                        await c.QueueAsync($$"""{"id":"a","type":"ack","message_ids":["{{id}}"]}""");
                        await c.Stream.SendBufferedAsync();
                        if (seen[i])
                        {
                            Interlocked.Increment(ref duplicates);
                        }
                        else
                        {
                            seen[i] = true;
                            if (++done[s] == tasks)
                            {
                                finished.TrySetResult();
                            }
                        }
                    }
                    else if (type == "error")
                    {
                        Interlocked.Increment(ref errors);
                        Console.WriteLine("submitter: " + Encoding.UTF8.GetString(m.Span));
                        slots.Release();
                    }
                }
            });
            var next = 0;
            var start = clock0;
            while (next < tasks)
            {
                // Pipelining: every submit the window allows (and the rate has made due) goes out in one write.
                await load.PaceAsync(start, next);
                await slots.WaitAsync();
                do
                {
                    var now = Stopwatch.GetTimestamp();
                    sentAt[next] = now;
                    await c.QueueAsync(string.Create(CultureInfo.InvariantCulture,
                        $$$"""{"id":{{{next + 1}}},"type":"task_submit","service":"{{{service}}}","payload":{"s":{{{s}}},"i":{{{next}}},"t":{{{now}}},"pad":"{{{pad}}}"}}"""));
                    next++;
                }
                while (next < tasks && load.IsDue(start, next) && slots.Wait(0));

                await c.Stream.SendBufferedAsync();
            }

            await finished.Task;
            await c.CloseAsync();
        })).ToList();

        await TasksLoad.WaitAsync("tasks", submitting);

        clock.Stop();
        var cpu = ProcStats.CpuSeconds(pid) - cpuBefore;
        stop.Cancel();
        foreach (var c in workerClients)
        {
            await c.CloseAsync();
        }

        return load.Report("tasks", done, clock.Elapsed, dispatch, submitAck, cpu, duplicates, outOfOrder, errors);
    }

    /// <summary>A frame's <c>type</c>; its <c>task_id</c> or letter <c>message_id</c> in <paramref name="id"/> (an ack's
    /// numeric <c>id</c> in <paramref name="i"/>), and the task payload's <c>s</c>, <c>i</c>, <c>t</c>.</summary>
    private static string? Parse(ReadOnlySpan<byte> frame, ref string? id, ref int s, ref int i, ref long t)
    {
        var reader = new Utf8JsonReader(frame);
        string? type = null;
        var depth = 0;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    depth++;
                    break;
                case JsonTokenType.EndObject:
                    depth--;
                    break;
                case JsonTokenType.PropertyName:
                    var name = reader.ValueSpan;
                    if (depth == 1 && name.SequenceEqual("type"u8))
                    {
                        reader.Read();
                        type = reader.GetString();
                    }
                    else if (depth == 1 && (name.SequenceEqual("task_id"u8) || name.SequenceEqual("message_id"u8)))
                    {
                        reader.Read();
                        id = reader.GetString();
                    }
                    else if (depth == 1 && name.SequenceEqual("id"u8))
                    {
                        reader.Read();
                        if (reader.TokenType == JsonTokenType.Number)
                        {
                            i = reader.GetInt32();
                        }
                    }
                    else if (depth == 2 && name.SequenceEqual("s"u8))
                    {
                        reader.Read();
                        s = reader.GetInt32();
                    }
                    else if (depth == 2 && name.SequenceEqual("i"u8))
                    {
                        reader.Read();
                        i = reader.GetInt32();
                    }
                    else if (depth == 2 && name.SequenceEqual("t"u8))
                    {
                        reader.Read();
                        t = reader.GetInt64();
                    }

                    // Anything else is read on: a nested object (the payload) is walked, not skipped.
                    break;
            }
        }

        return type;
    }
}
