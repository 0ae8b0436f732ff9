using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Daakia.LoadTest;

/// <summary>
/// <c>texto-stress</c>: the pattern of texto's own stress tool (<c>cmd/texto-stress</c>), bounded. C texto connections,
/// each sending one <c>send</c> per second to a recipient that never connects — a fresh random UUID per message
/// (<c>--recipient fresh</c>, the default: every message opens a new inbox), or one random UUID per connection as the
/// original tool does (<c>--recipient per-connection</c>) — for S seconds. Unlike the original, every reply is read:
/// acks are counted and errors tallied by code. Every 10 s it samples the server's RSS, CPU and data directory size.
/// At the end it waits for every outstanding reply, then connects as a few accepted recipients (JSON API, same default
/// tenant) and checks that their message was stored. Exits 1 when a send got no reply or two, a connection failed, an
/// error code outside <c>--allowed-errors</c> (default EDQUOT, EAGAIN: refusals by quota or rate) came back, or a
/// sampled recipient's message is missing.
/// </summary>
internal static class TextoStressScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var url = new Uri(args.String("url", "ws://127.0.0.1:8398/v1/texto"));
        var count = args.Int("connections", 1000);
        var seconds = args.Int("seconds", 60);
        var sampleEvery = args.Int("sample-seconds", 10);
        var fresh = args.String("recipient", "fresh") != "per-connection";
        var verify = args.Int("verify", 20);
        var allowed = args.String("allowed-errors", "EDQUOT,EAGAIN").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
        var pid = args.OptionalInt("pid");
        var dir = args.String("dir", "");
        var text = args.String("text", "Hello World!");
        var jsonUrl = new Uri(url, "/v1/ws");
        Console.WriteLine($"texto-stress: {count} connections × 1 send/s for {seconds} s, recipient {(fresh ? "a fresh UUID per message" : "one UUID per connection")}, \"{text}\", {url}");

        var stats = new Counters();
        var clients = new StressClient[count];
        const int Parallel = 200;
        var connectClock = Stopwatch.StartNew();
        for (var start = 0; start < count; start += Parallel)
        {
            await Task.WhenAll(Enumerable.Range(start, Math.Min(Parallel, count - start)).Select(async i =>
            {
                var (client, id) = await TextoWire.GreetAsync(url);
                clients[i] = new StressClient(client, id, fresh, text, stats);
            }));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"texto-stress: {count} connections open in {connectClock.Elapsed.TotalSeconds:0.0} s"));
        var samples = new List<Dictionary<string, object>>();
        var start0 = Report.Disk.Read(pid, dir);
        var rss0 = pid is { } p0 ? ProcStats.RssKib(p0) : 0;
        Sample(samples, 0, stats, pid, dir, start0, rss0);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var clock = Stopwatch.StartNew();
        // Each connection starts at a random point of the first second, as the original's goroutines spread out.
        var loops = clients.Select(c => c.RunAsync(TimeSpan.FromMilliseconds(Random.Shared.Next(1000)), stop.Token)).ToArray();
        for (var t = sampleEvery; t <= seconds; t += sampleEvery)
        {
            var wait = TimeSpan.FromSeconds(t) - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }

            Sample(samples, t, stats, pid, dir, start0, rss0);
        }

        await Task.WhenAll(loops);
        var sendTime = clock.Elapsed;
        // Every send gets exactly one reply; give the stragglers a deadline.
        var deadline = Stopwatch.StartNew();
        while (clients.Any(c => c.Outstanding > 0) && deadline.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(100);
        }

        var end = Report.Disk.Read(pid, dir);
        var missingReplies = clients.Sum(c => (long)c.Outstanding);
        var accepted = Interlocked.Read(ref stats.Accepted);
        var sent = Interlocked.Read(ref stats.Sent);

        // Acknowledged means stored: a few recipients come online (JSON API) and must find their message.
        var acceptedRecipients = clients.SelectMany(c => c.AcceptedRecipients).ToArray();
        var missingStored = 0;
        var probes = acceptedRecipients.OrderBy(_ => Random.Shared.Next()).Take(verify).ToArray();
        foreach (var recipient in probes)
        {
            using var probe = await JsonApiWire.HelloAsync(jsonUrl, recipient.Id);
            var found = await FindLetterAsync(probe, text).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(t => t.IsCompletedSuccessfully && t.Result, TaskScheduler.Default);
            if (!found)
            {
                missingStored++;
                Console.WriteLine($"texto-stress: accepted message to {recipient.Id} not found in its inbox");
            }

            await probe.CloseAsync();
        }

        var unexpected = stats.Errors.Where(e => !allowed.Contains(e.Key)).Sum(e => (long)e.Value);
        var rssEnd = pid is { } p1 ? ProcStats.RssKib(p1) : 0;
        Console.WriteLine();
        Console.WriteLine("| t (s) | sent | accepted | errors | accepted msg/s (interval) | server RSS MiB | data dir MiB | server CPU % |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        for (var i = 0; i < samples.Count; i++)
        {
            var s = samples[i];
            var rate = i == 0 ? 0 : ((long)s["accepted"] - (long)samples[i - 1]["accepted"]) / (double)((int)s["t"] - (int)samples[i - 1]["t"]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {s["t"]} | {s["sent"]} | {s["accepted"]} | {s["errors"]} | {rate:0} | {s["rss_mib"]} | {s["dir_mib"]} | {s["cpu_pct"]} |"));
        }

        var errorText = stats.Errors.IsEmpty ? "none" : string.Join(", ", stats.Errors.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key} {e.Value}"));
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"texto-stress: sent {sent}, accepted {accepted} = {accepted / sendTime.TotalSeconds:0} msg/s over {sendTime.TotalSeconds:0.0} s; errors by code: {errorText}; no reply {missingReplies}, duplicate replies {stats.Duplicates}, connections failed {stats.ConnectionsFailed}; stored-check {probes.Length - missingStored}/{probes.Length} found; server RSS {rss0 / 1024.0:0.0} → {rssEnd / 1024.0:0.0} MiB; data dir {start0.DirBytes / 1048576.0:0.0} → {end.DirBytes / 1048576.0:0.0} MiB ({(end.DirBytes - start0.DirBytes) / (double)Math.Max(1, accepted):0} B per accepted message); server CPU {(end.CpuSeconds - start0.CpuSeconds) * 1e6 / Math.Max(1, accepted):0.0} µs/msg"));
        Report.Emit(new Dictionary<string, object>
        {
            ["scenario"] = "texto-stress",
            ["connections"] = count,
            ["seconds"] = seconds,
            ["sent"] = sent,
            ["accepted"] = accepted,
            ["accepted_per_sec"] = Math.Round(accepted / sendTime.TotalSeconds),
            ["errors"] = stats.Errors.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal),
            ["no_reply"] = missingReplies,
            ["duplicate_replies"] = stats.Duplicates,
            ["connections_failed"] = stats.ConnectionsFailed,
            ["stored_missing"] = missingStored,
            ["rss_start_kib"] = rss0,
            ["rss_end_kib"] = rssEnd,
            ["dir_start_bytes"] = start0.DirBytes,
            ["dir_end_bytes"] = end.DirBytes,
            ["dir_bytes_per_accepted"] = Math.Round((end.DirBytes - start0.DirBytes) / (double)Math.Max(1, accepted)),
            ["write_bytes_per_accepted"] = Math.Round((end.WriteBytes - start0.WriteBytes) / (double)Math.Max(1, accepted)),
            ["cpu_us_per_msg"] = Math.Round((end.CpuSeconds - start0.CpuSeconds) * 1e6 / Math.Max(1, accepted), 1),
            ["samples"] = samples,
        });
        foreach (var c in clients)
        {
            await c.DisposeAsync();
        }

        return Report.Verdict("texto-stress", stats.Duplicates, missingReplies + missingStored, 0, unexpected + stats.ConnectionsFailed);
    }

    private static void Sample(List<Dictionary<string, object>> samples, int t, Counters stats, int? pid, string dir, Report.Disk start, long rss0)
    {
        var now = Report.Disk.Read(pid, dir);
        var previous = samples.Count == 0 ? null : samples[^1];
        var cpuPct = previous is null ? 0 : Math.Round((now.CpuSeconds - (double)previous["cpu_s"]) * 100 / (t - (int)previous["t"]));
        var sample = new Dictionary<string, object>
        {
            ["t"] = t,
            ["sent"] = Interlocked.Read(ref stats.Sent),
            ["accepted"] = Interlocked.Read(ref stats.Accepted),
            ["errors"] = stats.Errors.Sum(e => (long)e.Value),
            ["rss_mib"] = Math.Round((pid is { } p ? ProcStats.RssKib(p) : 0) / 1024.0, 1),
            ["dir_mib"] = Math.Round(now.DirBytes / 1048576.0, 1),
            ["write_mib"] = Math.Round((now.WriteBytes - start.WriteBytes) / 1048576.0, 1),
            ["cpu_s"] = now.CpuSeconds,
            ["cpu_pct"] = cpuPct,
        };
        samples.Add(sample);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"texto-stress: t={t}s sent {sample["sent"]} accepted {sample["accepted"]} errors {sample["errors"]}; server RSS {sample["rss_mib"]} MiB (start {rss0 / 1024.0:0.0}), data dir {sample["dir_mib"]} MiB, written {sample["write_mib"]} MiB, CPU {cpuPct}%"));
    }

    private static async Task<bool> FindLetterAsync(WsClient probe, string text)
    {
        while (await probe.ReceiveMessageAsync() is { } frame)
        {
            using var doc = JsonDocument.Parse(frame);
            if (doc.RootElement.TryGetProperty("type"u8, out var type) && type.GetString() == "letter")
            {
                return doc.RootElement.TryGetProperty("payload"u8, out var payload) && payload.ValueKind == JsonValueKind.String && payload.GetString() == text;
            }
        }

        return false;
    }

    /// <summary>Totals shared by every connection.</summary>
    private sealed class Counters
    {
        public long Sent;
        public long Accepted;
        public long Duplicates;
        public long ConnectionsFailed;
        public readonly ConcurrentDictionary<string, int> Errors = new(StringComparer.Ordinal);
    }

    private readonly record struct Recipient(string Id);

    /// <summary>One texto connection: a send per second, and a reader that matches each reply to its send.</summary>
    private sealed class StressClient(WsClient client, string self, bool fresh, string text, Counters stats) : IAsyncDisposable
    {
        private readonly ConcurrentDictionary<int, string> _outstanding = new();
        private readonly List<Recipient> _accepted = [];
        private readonly Lock _gate = new();
        private readonly string _fixedRecipient = Guid.NewGuid().ToString();
        private Task? _reader;

        public int Outstanding => _outstanding.Count;

        public IReadOnlyList<Recipient> AcceptedRecipients
        {
            get
            {
                lock (_gate)
                {
                    return [.. _accepted];
                }
            }
        }

        public async Task RunAsync(TimeSpan offset, CancellationToken stop)
        {
            _reader = Task.Run(ReadAsync, CancellationToken.None);
            var textJson = JsonSerializer.Serialize(text);
            try
            {
                await Task.Delay(offset, stop);
                using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
                var id = 0;
                do
                {
                    var recipient = fresh ? Guid.NewGuid().ToString() : _fixedRecipient;
                    _outstanding[++id] = recipient;
                    await client.SendNowAsync(string.Create(CultureInfo.InvariantCulture,
                        $"{{\"client_id\":\"{self}\",\"id\":\"00000000-0000-4000-8000-{id:D12}\",\"kind\":\"send\",\"data\":{{\"receiver_id\":\"{recipient}\",\"text\":{textJson}}}}}"));
                    Interlocked.Increment(ref stats.Sent);
                }
                while (await timer.WaitForNextTickAsync(stop));
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception ex) when (ex is WebSocketException or IOException)
            {
                Interlocked.Increment(ref stats.ConnectionsFailed);
                Console.WriteLine("texto-stress: send failed: " + ex.Message);
            }
        }

        private async Task ReadAsync()
        {
            try
            {
                while (await client.ReceiveMessageAsync() is { } frame)
                {
                    Handle(frame.Span);
                }
            }
            catch (Exception ex) when (ex is WebSocketException or IOException)
            {
                if (!_outstanding.IsEmpty)
                {
                    Interlocked.Increment(ref stats.ConnectionsFailed);
                    Console.WriteLine("texto-stress: connection failed: " + ex.Message);
                }
            }
        }

        private void Handle(ReadOnlySpan<byte> frame)
        {
            var reader = new Utf8JsonReader(frame);
            string? kind = null, id = null, code = null;
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    continue;
                }

                if (reader.CurrentDepth == 1 && reader.ValueTextEquals("kind"u8))
                {
                    reader.Read();
                    kind = reader.GetString();
                }
                else if (reader.CurrentDepth == 1 && reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    id = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.CurrentDepth == 2 && reader.ValueTextEquals("code"u8))
                {
                    reader.Read();
                    code = reader.GetString();
                }
            }

            if (kind is not ("ack" or "error"))
            {
                return;
            }

            if (id is null || id.Length != 36 || !int.TryParse(id.AsSpan(24), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || !_outstanding.TryRemove(n, out var recipient))
            {
                Interlocked.Increment(ref stats.Duplicates);
                Console.WriteLine("texto-stress: reply to no outstanding send: " + Encoding.UTF8.GetString(frame));
                return;
            }

            if (kind == "ack")
            {
                Interlocked.Increment(ref stats.Accepted);
                lock (_gate)
                {
                    if (_accepted.Count < 4)
                    {
                        _accepted.Add(new Recipient(recipient));
                    }
                }
            }
            else
            {
                stats.Errors.AddOrUpdate(code ?? "(none)", 1, (_, v) => v + 1);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await client.CloseAsync();
            if (_reader is not null)
            {
                await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
            }

            client.Dispose();
        }
    }
}
