using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;

namespace Daakia.LoadTest;

/// <summary>
/// <c>fanout-durable</c>: one sender sends N messages, each to the same I offline inboxes (multicast letters of at most
/// R recipients: R = I needs the server's <c>Daakia:Core:MaxRecipients</c> ≥ I, otherwise each message is I/R sends),
/// keeping at most W messages (W × I/R sends) unconfirmed; then I receivers connect and drain their inboxes, acknowledging each letter,
/// until the server has confirmed every ack. Reports send and drain rates and the server's disk writes per message
/// (<c>write_bytes</c> of /proc/PID/io) and data-directory growth, for the send and the drain separately.
/// </summary>
internal static class FanoutScenario
{
    public static async Task<int> RunAsync(Args args)
    {
        var url = new Uri(args.String("url", "ws://127.0.0.1:8398/v1/ws"));
        var inboxes = args.Int("inboxes", 1000);
        var messages = args.Int("messages", 20);
        var perSend = Math.Min(inboxes, args.Int("recipients-per-send", inboxes));
        var payload = args.Int("payload", 256);
        var window = args.Int("window", 4);
        var parallel = args.Int("connect-parallel", 100);
        var pid = args.OptionalInt("pid");
        var dir = args.String("dir", "");
        var tenant = args.String("tenant", "") is { Length: > 0 } t ? t : null;
        var name = args.String("label", "fanout-durable");
        // --drain 0 leaves the letters in the store (to inspect the data directory) and checks only the sends.
        var drain = args.Int("drain", 1) != 0;
        var run = Guid.NewGuid().ToString("N")[..8];
        var ids = Enumerable.Range(0, inboxes).Select(i => string.Create(CultureInfo.InvariantCulture, $"fo{run}-{i}")).ToArray();
        var chunks = (inboxes + perSend - 1) / perSend;
        var recipientLists = Enumerable.Range(0, chunks)
            .Select(c => "\"" + string.Join("\",\"", ids.Skip(c * perSend).Take(perSend)) + "\"").ToArray();
        var pad = new string('x', Math.Max(0, payload - 40));
        Console.WriteLine($"{name}: {messages} messages × {inboxes} offline inboxes ({chunks} send(s) of {perSend} recipients per message), ~{payload} B, window {window} message(s) = {window * chunks} send(s), {url}");

        // --- send: every inbox is offline ---
        using var sender = await JsonApiWire.HelloAsync(url, $"fo{run}-sender", tenant);
        var sends = messages * chunks;
        var replied = new bool[sends];
        var sentAt = new long[sends];
        var ackLatency = new Latencies();
        var sendErrors = 0;
        using var slots = new SemaphoreSlim(window * chunks, window * chunks);
        var allReplied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var before = Report.Disk.Read(pid, dir);
        var clock = Stopwatch.StartNew();
        var reader = Task.Run(async () =>
        {
            var count = 0;
            try
            {
                while (count < sends && await sender.ReceiveMessageAsync() is { } frame)
                {
                    var kind = JsonApiWire.Instance.ParseReply(frame.Span, out var id);
                    if (kind == ReplyKind.Other)
                    {
                        continue;
                    }

                    if (id < 1 || id > sends || replied[id - 1] || kind == ReplyKind.Error)
                    {
                        sendErrors++;
                        Console.WriteLine("send: " + Encoding.UTF8.GetString(frame.Span));
                        if (id < 1 || id > sends || replied[id - 1])
                        {
                            continue;
                        }
                    }

                    replied[id - 1] = true;
                    ackLatency.Add(Stopwatch.GetTimestamp() - sentAt[id - 1]);
                    count++;
                    slots.Release();
                }
            }
            catch (Exception ex) when (ex is WebSocketException or IOException)
            {
                Console.WriteLine("sender connection failed: " + ex.Message);
            }

            allReplied.TrySetResult();
        });

        for (var i = 0; i < sends;)
        {
            await slots.WaitAsync();
            do
            {
                var (message, chunk) = (i / chunks, i % chunks);
                sentAt[i] = Stopwatch.GetTimestamp();
                await sender.QueueAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"id\":{i + 1},\"type\":\"send\",\"recipients\":[{recipientLists[chunk]}],\"payload\":{{\"t\":{sentAt[i]},\"s\":{message},\"pad\":\"{pad}\"}}}}"));
                i++;
            }
            while (i < sends && slots.Wait(0));

            await sender.Stream.SendBufferedAsync();
        }

        await allReplied.Task;
        var sendTime = clock.Elapsed;
        var afterSend = Report.Disk.Read(pid, dir);
        var filesAfterSend = Files(dir);
        await reader;
        if (!drain)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: send {messages} msgs ({(long)messages * inboxes} letters) in {sendTime.TotalSeconds:0.00} s; write_bytes {Mib(afterSend.WriteBytes - before.WriteBytes)} MiB; data dir +{Mib(afterSend.DirBytes - before.DirBytes)} MiB; files {filesAfterSend}; not drained"));
            await sender.CloseAsync();
            return Report.Verdict(name, 0, 0, 0, sendErrors + replied.Count(r => !r));
        }

        // --- drain: every receiver connects at once (P at a time) and acks each letter ---
        var ignored = new Latencies();
        var receivers = new WsReceiver[inboxes];
        clock.Restart();
        for (var start = 0; start < inboxes; start += parallel)
        {
            await Task.WhenAll(Enumerable.Range(start, Math.Min(parallel, inboxes - start)).Select(async i =>
                receivers[i] = await WsReceiver.ConnectAsync(JsonApiWire.Instance, url, ids[i], messages, ignored, tenant)));
        }

        var connectTime = clock.Elapsed;
        var drained = Task.WhenAll(receivers.Select(r => r.Completed).Concat(receivers.Select(r => r.AllAcksConfirmed)));
        if (await Task.WhenAny(drained, Task.Delay(TimeSpan.FromMinutes(5))) != drained)
        {
            Console.WriteLine($"{name}: drain timed out after 5 minutes");
        }

        var drainTime = clock.Elapsed;
        var afterDrain = Report.Disk.Read(pid, dir);
        var filesAfterDrain = Files(dir);

        var letters = (long)messages * inboxes;
        var received = receivers.Sum(r => (long)r.Distinct);
        var unconfirmed = receivers.Sum(r => (long)Math.Max(0, messages - r.AcksConfirmed));
        var sendWrite = afterSend.WriteBytes - before.WriteBytes;
        var drainWrite = afterDrain.WriteBytes - afterSend.WriteBytes;
        var sendGrowth = afterSend.DirBytes - before.DirBytes;
        var (a50, a99, _) = ackLatency.Summary();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: send {messages} msgs ({letters} letters) in {sendTime.TotalSeconds:0.00} s = {messages / sendTime.TotalSeconds:0.0} msg/s = {letters / sendTime.TotalSeconds:0} letters/s; send→ack p50 {a50:0.0} ms p99 {a99:0.0} ms; server CPU {(afterSend.CpuSeconds - before.CpuSeconds) * 1e6 / letters:0.0} µs/letter"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: disk during send: write_bytes {Mib(sendWrite)} MiB = {sendWrite / (double)messages / 1024:0.0} KiB/msg = {sendWrite / (double)letters:0} B/letter; data dir +{Mib(sendGrowth)} MiB = {sendGrowth / (double)messages / 1024:0.0} KiB/msg; files {filesAfterSend}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: drain {received} letters by {inboxes} receivers in {drainTime.TotalSeconds:0.00} s (connecting took {connectTime.TotalSeconds:0.00} s) = {received / drainTime.TotalSeconds:0} letters/s; server CPU {(afterDrain.CpuSeconds - afterSend.CpuSeconds) * 1e6 / Math.Max(1, received):0.0} µs/letter; write_bytes {Mib(drainWrite)} MiB = {drainWrite / (double)Math.Max(1, received):0} B/letter; data dir {Mib(afterDrain.DirBytes - afterSend.DirBytes)} MiB; files {filesAfterDrain}"));
        Report.Emit(new Dictionary<string, object>
        {
            ["scenario"] = name,
            ["messages"] = messages,
            ["inboxes"] = inboxes,
            ["recipients_per_send"] = perSend,
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
            ["cancelled_write_bytes"] = afterDrain.CancelledBytes - before.CancelledBytes,
        });
        var exit = Report.Verdict(name,
            duplicates: receivers.Sum(r => (long)r.Duplicates),
            missing: letters - received,
            outOfOrder: receivers.Sum(r => (long)r.OutOfOrder),
            // A send never answered, or an ack whose removal the server never confirmed, is an error too.
            errors: sendErrors + replied.Count(r => !r) + unconfirmed + receivers.Sum(r => (long)r.Errors));
        foreach (var r in receivers)
        {
            await r.DisposeAsync();
        }

        await sender.CloseAsync();
        return exit;
    }

    private static double Mib(long bytes) => Math.Round(bytes / 1048576.0, 1);

    /// <summary>The data directory's files and sizes, e.g. <c>daakia.db 12.3 MiB, daakia.db-wal 4.0 MiB</c>.</summary>
    private static string Files(string dir) => Directory.Exists(dir)
        ? string.Join(", ", Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal).Select(f => string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(f)} {Mib(new FileInfo(f).Length)} MiB")))
        : "(no --dir)";
}
