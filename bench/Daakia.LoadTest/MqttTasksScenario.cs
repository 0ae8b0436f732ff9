using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;

namespace Daakia.LoadTest;

/// <summary>
/// The <c>tasks</c> workload over MQTT 5 with MQTTnet clients (docs/protocols/mqtt.md, tasks): workers subscribe to
/// <c>$tasks/{client}/#</c> and register with <c>$tasks/register</c>; submitters publish <c>$tasks/submit</c> at QoS 1
/// (the PUBACK comes once the task is durable) with at most a window unacknowledged, and get results as letters on
/// <c>$inbox/…</c> (acknowledged by PUBACK). The same figures and checks as <see cref="TasksScenario"/>.
/// </summary>
internal static class MqttTasksScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var (host, port) = MqttFanInScenario.Endpoint(args.String("mqtt", "127.0.0.1:1883"));
        var load = TasksLoad.Parse(args);
        var (workers, capacity, submitters, tasks, window, _, pid) = load;
        var run = Guid.NewGuid().ToString("N")[..8];
        var service = "bench-" + run;
        var pad = load.Pad;
        var dispatch = new Latencies();
        var submitAck = new Latencies();
        var errors = 0;
        var outOfOrder = 0;
        var factory = new MqttClientFactory();
        MqttClientOptions Options(string id) => new MqttClientOptionsBuilder().WithTcpServer(host, port).WithClientId(id)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).WithCleanSession().WithKeepAlivePeriod(TimeSpan.FromSeconds(60))
            .WithTimeout(TimeSpan.FromSeconds(30)).Build();
        Console.WriteLine($"mqtt-tasks: {load}, {host}:{port}");

        var clients = new List<IMqttClient>();
        for (var w = 0; w < workers; w++)
        {
            var id = $"bw-{run}-{w}";
            var c = factory.CreateMqttClient();
            var last = new int[submitters];
            Array.Fill(last, -1);
            c.ApplicationMessageReceivedAsync += e =>
            {
                var now = Stopwatch.GetTimestamp();
                if (!e.ApplicationMessage.Topic.EndsWith("/assigned", StringComparison.Ordinal))
                {
                    return Task.CompletedTask;
                }

                var (taskId, s, i, t) = Parse(e.ApplicationMessage.Payload);
                dispatch.Add(now - t);
                if (i <= last[s])
                {
                    Interlocked.Increment(ref outOfOrder);
                }

                last[s] = i;
                _ = Complete(c, taskId, s, i);
                return Task.CompletedTask;
            };
            await c.ConnectAsync(Options(id));
            await c.SubscribeAsync($"$tasks/{id}/assigned", MqttQualityOfServiceLevel.AtLeastOnce);
            var registered = await c.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("$tasks/register")
                .WithPayload($$"""{"services":["{{service}}"],"capacity":{{capacity}}}""").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            if (!registered.IsSuccess)
            {
                throw new InvalidOperationException($"register: {registered.ReasonCode}");
            }

            clients.Add(c);
        }

        async Task Complete(IMqttClient c, string taskId, int s, int i)
        {
            try
            {
                var done = await c.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("$tasks/complete")
                    .WithPayload($$$"""{"task_id":"{{{taskId}}}","result":{"s":{{{s}}},"i":{{{i}}}}}""").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                if (!done.IsSuccess)
                {
                    Interlocked.Increment(ref errors);
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Interlocked.Increment(ref errors);
            }
        }

        var done = new long[submitters];
        var duplicates = 0L;
        var finished = new TaskCompletionSource[submitters];
        var submitClients = new IMqttClient[submitters];
        for (var s = 0; s < submitters; s++)
        {
            var index = s;
            var seen = new bool[tasks];
            finished[s] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var c = factory.CreateMqttClient();
            c.ApplicationMessageReceivedAsync += e =>
            {
                if (!e.ApplicationMessage.Topic.StartsWith("$inbox/", StringComparison.Ordinal))
                {
                    return Task.CompletedTask;
                }

                var (_, _, i, _) = Parse(e.ApplicationMessage.Payload);
                if (seen[i])
                {
                    Interlocked.Increment(ref duplicates);
                }
                else
                {
                    seen[i] = true;
                    if (++done[index] == tasks)
                    {
                        finished[index].TrySetResult();
                    }
                }

                return Task.CompletedTask;
            };
            await c.ConnectAsync(Options($"bs-{run}-{s}"));
            await c.SubscribeAsync("$inbox/#", MqttQualityOfServiceLevel.AtLeastOnce);
            submitClients[s] = c;
            clients.Add(c);
        }

        var cpuBefore = ProcStats.CpuSeconds(pid);
        var clock = Stopwatch.StartNew();
        var clock0 = Stopwatch.GetTimestamp();
        var submitting = Enumerable.Range(0, submitters).Select(s => Task.Run(async () =>
        {
            var c = submitClients[s];
            using var slots = new SemaphoreSlim(window, window);
            var inFlight = new List<Task>(tasks);
            for (var i = 0; i < tasks; i++)
            {
                await load.PaceAsync(clock0, i);
                await slots.WaitAsync();
                var now = Stopwatch.GetTimestamp();
                var body = string.Create(CultureInfo.InvariantCulture, $$$"""{"service":"{{{service}}}","payload":{"s":{{{s}}},"i":{{{i}}},"t":{{{now}}},"pad":"{{{pad}}}"}}""");
                inFlight.Add(SubmitAsync(c, body, now));
            }

            await Task.WhenAll(inFlight);
            await finished[s].Task;

            async Task SubmitAsync(IMqttClient client, string body, long startedAt)
            {
                try
                {
                    var result = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("$tasks/submit").WithPayload(body)
                        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                    submitAck.Add(Stopwatch.GetTimestamp() - startedAt);
                    if (!result.IsSuccess)
                    {
                        Interlocked.Increment(ref errors);
                    }
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

        await TasksLoad.WaitAsync("mqtt-tasks", submitting);

        clock.Stop();
        var cpu = ProcStats.CpuSeconds(pid) - cpuBefore;
        foreach (var c in clients)
        {
            await c.DisconnectAsync();
            c.Dispose();
        }

        return load.Report("mqtt-tasks", done, clock.Elapsed, dispatch, submitAck, cpu, duplicates, outOfOrder, errors);
    }

    /// <summary>An assignment's <c>task_id</c> and its payload's <c>s</c>, <c>i</c>, <c>t</c> (a result letter: <c>s</c>, <c>i</c>).</summary>
    private static (string TaskId, int S, int I, long T) Parse(ReadOnlySequence<byte> body)
    {
        var reader = new Utf8JsonReader(body);
        string taskId = "";
        int s = 0, i = 0;
        long t = 0;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.ValueTextEquals("task_id"u8))
            {
                reader.Read();
                taskId = reader.GetString()!;
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
            else if (reader.ValueTextEquals("t"u8))
            {
                reader.Read();
                t = reader.GetInt64();
            }
        }

        return (taskId, s, i, t);
    }
}
