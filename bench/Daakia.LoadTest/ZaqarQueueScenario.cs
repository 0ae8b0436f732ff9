using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Daakia.LoadTest;

/// <summary>
/// Zaqar's v2 REST API, pointable at Daakia or at a real Zaqar: P producers post batches of messages (~payload bytes
/// each) and wait for each 201; C consumers claim (limit L) and delete what they claimed by ids. Reports the post rate,
/// the claim-and-delete rate, post latency (post → 201) and post → claimed latency, and the queue depth sampled from
/// the queue's stats every 200 ms. Exits non-zero when a 201'd message is never consumed, one is consumed twice, or a
/// request fails.
/// </summary>
internal static class ZaqarQueueScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var url = new Uri(args.String("url", "http://127.0.0.1:8398"));
        var producers = args.Int("producers", 4);
        var consumers = args.Int("consumers", 4);
        var messages = args.Int("messages", 2000); // per producer
        var batch = args.Int("batch", 10);
        var payload = args.Int("payload", 1024);
        var limit = args.Int("limit", 10);
        var pid = args.OptionalInt("pid");
        var project = args.String("project", "bench-" + Guid.NewGuid().ToString("N")[..8]);
        var queue = args.String("queue", "bench-" + Guid.NewGuid().ToString("N")[..8]);
        var closeEach = args.String("connection", "keep-alive") == "close";
        Console.WriteLine($"queue: {producers} producers × {messages} messages of ~{payload} B in posts of {batch}, {consumers} consumers claiming {limit}, {url.Authority}, queue {queue}");

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
        {
            BaseAddress = url,
            Timeout = TimeSpan.FromSeconds(60),
        };

        HttpRequestMessage Request(HttpMethod method, string path, string client, string? json = null)
        {
            var r = new HttpRequestMessage(method, path);
            if (closeEach)
            {
                r.Headers.ConnectionClose = true; // a server that closes after each answer (Zaqar's WSGIServer speaks HTTP/1.0)
            }

            r.Headers.Add("Client-ID", client);
            r.Headers.Add("X-Project-ID", project);
            if (json is not null)
            {
                r.Content = new StringContent(json, Encoding.UTF8, "application/json");
            }

            return r;
        }

        long refused = 0, unanswered = 0;

        // A request whose connection could not be made never reached the server: it is sent again (a server with a
        // short listen backlog refuses connections under load); any other failure is counted.
        async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> make)
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    return await http.SendAsync(make());
                }
                catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.ConnectionError && attempt < 20)
                {
                    Interlocked.Increment(ref refused);
                    await Task.Delay(attempt);
                }
            }
        }

        using (var create = await SendAsync(() => Request(HttpMethod.Put, $"/v2/queues/{queue}", Guid.NewGuid().ToString(), "{}")))
        {
            if (!create.IsSuccessStatusCode)
            {
                Console.Error.WriteLine($"queue: creating the queue failed: {(int)create.StatusCode}");
                return 1;
            }
        }

        var postLatency = new Latencies();
        var claimLatency = new Latencies();
        var seen = new ConcurrentDictionary<(int, int), bool>();
        long duplicates = 0, errors = 0, posted = 0, consumed = 0;
        var postedIds = new ConcurrentDictionary<(int, int), bool>();
        var pad = new string('x', Math.Max(0, payload - 60));
        var producing = 0;
        var depth = new List<long>();
        var cpuBefore = ProcStats.CpuSeconds(pid);
        var clock = Stopwatch.StartNew();
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            var client = Guid.NewGuid().ToString();
            while (!sampling.IsCancellationRequested)
            {
                try
                {
                    using var r = await SendAsync(() => Request(HttpMethod.Get, $"/v2/queues/{queue}/stats", client));
                    using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
                    lock (depth)
                    {
                        depth.Add(doc.RootElement.GetProperty("messages").GetProperty("total").GetInt64());
                    }

                    await Task.Delay(200, sampling.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception ex) when (ex is HttpRequestException or JsonException or KeyNotFoundException)
                {
                    // A stats read that failed leaves a gap in the series; the run goes on.
                }
            }
        });

        var postTasks = Enumerable.Range(0, producers).Select(p => Task.Run(async () =>
        {
            Interlocked.Increment(ref producing);
            var client = Guid.NewGuid().ToString();
            try
            {
                for (var s = 0; s < messages; s += batch)
                {
                    var sb = new StringBuilder("{\"messages\": [");
                    var n = Math.Min(batch, messages - s);
                    var now = Stopwatch.GetTimestamp();
                    for (var i = 0; i < n; i++)
                    {
                        sb.Append(CultureInfo.InvariantCulture, $"{(i > 0 ? "," : "")}{{\"ttl\": 3600, \"body\": {{\"p\": {p}, \"s\": {s + i}, \"t\": {now}, \"pad\": \"{pad}\"}}}}");
                    }

                    sb.Append("]}");
                    HttpResponseMessage r;
                    try
                    {
                        var json = sb.ToString();
                        r = await SendAsync(() => Request(HttpMethod.Post, $"/v2/queues/{queue}/messages", client, json));
                    }
                    catch (HttpRequestException e)
                    {
                        // Not answered (the server closed the connection under it): not acknowledged, so not a loss —
                        // it may or may not be stored, only 201s are checked. Counted and reported apart from errors.
                        if (Interlocked.Increment(ref unanswered) <= 3)
                        {
                            Console.Error.WriteLine($"queue: a post got no answer: {e.Message} {e.InnerException?.Message}");
                        }

                        continue;
                    }

                    using var answered = r;
                    if (r.StatusCode != HttpStatusCode.Created)
                    {
                        if (Interlocked.Increment(ref errors) <= 3)
                        {
                            Console.Error.WriteLine($"queue: a post answered {(int)r.StatusCode}: {await r.Content.ReadAsStringAsync()}");
                        }

                        continue;
                    }

                    postLatency.Add(Stopwatch.GetTimestamp() - now);
                    for (var i = 0; i < n; i++)
                    {
                        postedIds[(p, s + i)] = true;
                    }

                    Interlocked.Add(ref posted, n);
                }
            }
            finally
            {
                Interlocked.Decrement(ref producing);
            }
        })).ToList();

        var consumeTasks = Enumerable.Range(0, consumers).Select(c => Task.Run(async () =>
        {
            var client = Guid.NewGuid().ToString();
            var idle = 0;
            while (true)
            {
                if (Volatile.Read(ref producing) == 0 && Interlocked.Read(ref consumed) >= Interlocked.Read(ref posted) && postTasks.All(t => t.IsCompleted))
                {
                    return;
                }

                HttpResponseMessage claim;
                try
                {
                    claim = await SendAsync(() => Request(HttpMethod.Post, $"/v2/queues/{queue}/claims?limit={limit}", client, "{\"ttl\": 300, \"grace\": 60}"));
                }
                catch (HttpRequestException)
                {
                    // No answer: claimed nothing it could tell; what it may have claimed comes back when the claim
                    // expires (a loss would show as missing at the end).
                    Interlocked.Increment(ref unanswered);
                    continue;
                }

                using (claim)
                {
                    if (claim.StatusCode == HttpStatusCode.NoContent)
                    {
                        // Nothing claimable now: back off a little, more each time, up to 10 ms.
                        await Task.Delay(Math.Min(10, ++idle));
                        continue;
                    }

                    if (claim.StatusCode != HttpStatusCode.Created)
                    {
                        if (Interlocked.Increment(ref errors) <= 3)
                        {
                            Console.Error.WriteLine($"queue: a claim answered {(int)claim.StatusCode}: {await claim.Content.ReadAsStringAsync()}");
                        }

                        continue;
                    }

                    idle = 0;
                    var now = Stopwatch.GetTimestamp();
                    using var doc = JsonDocument.Parse(await claim.Content.ReadAsStringAsync());
                    var ids = new List<string>();
                    foreach (var m in doc.RootElement.GetProperty("messages").EnumerateArray())
                    {
                        var href = m.GetProperty("href").GetString()!;
                        ids.Add(href.Split('/')[^1].Split('?')[0]);
                        var body = m.GetProperty("body");
                        var key = (body.GetProperty("p").GetInt32(), body.GetProperty("s").GetInt32());
                        claimLatency.Add(now - body.GetProperty("t").GetInt64());
                        if (!seen.TryAdd(key, true))
                        {
                            Interlocked.Increment(ref duplicates);
                        }
                    }

                    var path = $"/v2/queues/{queue}/messages?ids={string.Join(',', ids)}";
                    for (var attempt = 1; ; attempt++)
                    {
                        try
                        {
                            using var delete = await SendAsync(() => Request(HttpMethod.Delete, path, client));
                            if (delete.StatusCode != HttpStatusCode.NoContent && Interlocked.Increment(ref errors) <= 3)
                            {
                                Console.Error.WriteLine($"queue: a delete answered {(int)delete.StatusCode}: {await delete.Content.ReadAsStringAsync()}");
                            }

                            break;
                        }
                        catch (HttpRequestException) when (attempt < 50)
                        {
                            Interlocked.Increment(ref unanswered); // a delete is idempotent: sent again
                            await Task.Delay(attempt);
                        }
                        catch (HttpRequestException)
                        {
                            Interlocked.Increment(ref errors);
                            break;
                        }
                    }

                    Interlocked.Add(ref consumed, ids.Count);
                }
            }
        })).ToList();

        await Task.WhenAll(postTasks);
        var postElapsed = clock.Elapsed;
        var all = Task.WhenAll(consumeTasks);
        if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromMinutes(5))) != all)
        {
            Console.WriteLine("queue: consumers timed out after 5 minutes");
        }

        clock.Stop();
        await sampling.CancelAsync();
        await sampler;
        var cpu = ProcStats.CpuSeconds(pid) - cpuBefore;
        var missing = postedIds.Keys.Count(k => !seen.ContainsKey(k));
        long maxDepth;
        string series;
        lock (depth)
        {
            maxDepth = depth.Count == 0 ? 0 : depth.Max();
            series = string.Join(' ', depth.Where((_, i) => i % Math.Max(1, depth.Count / 20) == 0));
        }

        var postRate = Interlocked.Read(ref posted) / postElapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"queue: posted {posted} in {postElapsed.TotalSeconds:0.00} s = {postRate:0} msg/s; consumed {seen.Count} in {clock.Elapsed.TotalSeconds:0.00} s; depth max {maxDepth}, over time: {series}"));
        var (c50, c99, _) = claimLatency.Summary();
        return Report.Throughput("queue", seen.Count, clock.Elapsed, claimLatency, postLatency, cpu, duplicates, missing, 0, errors, new Dictionary<string, object>
        {
            ["post_msgs_per_sec"] = Math.Round(postRate),
            ["consume_msgs_per_sec"] = Math.Round(seen.Count / clock.Elapsed.TotalSeconds),
            ["post_p99_ms"] = Math.Round(postLatency.Summary().P99, 2),
            ["claim_p50_ms"] = Math.Round(c50, 2),
            ["claim_p99_ms"] = Math.Round(c99, 2),
            ["depth_max"] = maxDepth,
            ["depth_series"] = series,
            ["connections_refused"] = Interlocked.Read(ref refused),
            ["posts_unanswered"] = Interlocked.Read(ref unanswered),
        });
    }
}
