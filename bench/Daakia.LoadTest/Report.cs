using System.Globalization;
using System.Text.Json;

namespace Daakia.LoadTest;

/// <summary>Prints a human summary and one machine-readable <c>RESULT {json}</c> line.</summary>
internal static class Report
{
    /// <summary>Reports a throughput run; returns the process exit code: 1 when any message was lost, duplicated or reordered, or a request failed.</summary>
    public static int Throughput(string scenario, long messages, TimeSpan elapsed, Latencies receive, Latencies ack, double cpuSeconds, long duplicates, long missing, long outOfOrder, long errors, Dictionary<string, object>? extra = null)
    {
        var rate = messages / elapsed.TotalSeconds;
        if (Environment.GetEnvironmentVariable("DAAKIA_LATENCY_TRACE") is { Length: > 0 } trace)
        {
            receive.Trace(trace); // the send→receive samples, before they are sorted
        }

        var (p50, p99, max) = receive.Summary();
        var (a50, a99, _) = ack.Summary();
        var cpuPerMsg = messages == 0 ? 0 : cpuSeconds * 1e6 / messages;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{scenario}: {messages} msgs in {elapsed.TotalSeconds:0.00} s = {rate:0} msg/s; send→receive p50 {p50:0.00} ms p99 {p99:0.00} ms max {max:0.00} ms; send→ack p50 {a50:0.00} ms p99 {a99:0.00} ms; server CPU {cpuPerMsg:0.0} µs/msg; duplicates {duplicates}, missing {missing}, out of order {outOfOrder}, errors {errors}"));
        var result = new Dictionary<string, object>
        {
            ["scenario"] = scenario,
            ["msgs"] = messages,
            ["msgs_per_sec"] = Math.Round(rate),
            ["p50_ms"] = Math.Round(p50, 2),
            ["p99_ms"] = Math.Round(p99, 2),
            ["max_ms"] = Math.Round(max, 2),
            ["ack_p50_ms"] = Math.Round(a50, 2),
            ["ack_p99_ms"] = Math.Round(a99, 2),
            ["cpu_us_per_msg"] = Math.Round(cpuPerMsg, 1),
            ["duplicates"] = duplicates,
            ["missing"] = missing,
            ["out_of_order"] = outOfOrder,
            ["errors"] = errors,
        };
        foreach (var (key, value) in extra ?? [])
        {
            result[key] = value;
        }

        Emit(result);
        return Verdict(scenario, duplicates, missing, outOfOrder, errors);
    }

    /// <summary>The process exit code of a run: 1 (and a FAILED line) when any message was lost, duplicated or reordered, or a request failed.</summary>
    public static int Verdict(string scenario, long duplicates, long missing, long outOfOrder, long errors)
    {
        if (duplicates == 0 && missing == 0 && outOfOrder == 0 && errors == 0)
        {
            return 0;
        }

        Console.Error.WriteLine($"{scenario}: FAILED — {duplicates} duplicates, {missing} missing, {outOfOrder} out of order, {errors} errors");
        return 1;
    }

    /// <summary>A disk-use snapshot of a server: its process's write_bytes and its data directory's size.</summary>
    public readonly record struct Disk(long WriteBytes, long CancelledBytes, long DirBytes, double CpuSeconds)
    {
        public static Disk Read(int? pid, string? dir) =>
            new(ProcStats.WriteBytes(pid), ProcStats.CancelledWriteBytes(pid), ProcStats.DirectoryBytes(dir), ProcStats.CpuSeconds(pid));
    }

    public static void Emit(Dictionary<string, object> result) => Console.WriteLine("RESULT " + JsonSerializer.Serialize(result));
}
