using System.Diagnostics;

namespace Daakia.LoadTest;

/// <summary>The shape of a <c>tasks</c> run, the same for every broker: W workers of capacity C, S submitters of
/// TASKS tasks each with at most WINDOW unanswered, payloads of ~PAYLOAD bytes.</summary>
internal sealed record TasksLoad(int Workers, int Capacity, int Submitters, int Tasks, int Window, int Payload, int? Pid)
{
    public static TasksLoad Parse(Args args) => new(args.Int("workers", 4), args.Int("capacity", 8), args.Int("submitters", 4),
        args.Int("tasks", 2000), args.Int("window", 64), args.Int("payload", 256), args.OptionalInt("pid"))
    {
        Rate = args.Int("rate", 0),
    };

    /// <summary>Tasks per second all submitters together offer, evenly spaced (0: as fast as the window allows). A
    /// rate below what the broker can take shows its latency when it is not saturated.</summary>
    public int Rate { get; init; }

    /// <summary>True when a submitter's task <paramref name="i"/> is due at <see cref="Rate"/> (always without one).</summary>
    public bool IsDue(long start, int i) => Rate <= 0 || Stopwatch.GetTimestamp() >= Due(start, i);

    /// <summary>Waits until a submitter's task <paramref name="i"/> is due at <see cref="Rate"/> (counted from
    /// <paramref name="start"/>, a <see cref="Stopwatch"/> timestamp); at once without a rate.</summary>
    public async ValueTask PaceAsync(long start, int i)
    {
        if (Rate <= 0)
        {
            return;
        }

        var wait = Due(start, i) - Stopwatch.GetTimestamp();
        if (wait > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency));
        }
    }

    private long Due(long start, int i) => start + (long)((double)i * Submitters / Rate * Stopwatch.Frequency);

    /// <summary>Pads a task's payload to about <see cref="Payload"/> bytes.</summary>
    public string Pad => new('x', Math.Max(0, Payload - 60));

    public override string ToString() =>
        $"{Workers} workers × capacity {Capacity}, {Submitters} submitters × {Tasks} tasks of ~{Payload} B, window {Window}" +
        (Rate > 0 ? $", offered at {Rate} tasks/s" : "");

    /// <summary>Waits for the submitters (each done when its last result arrived), at most five minutes.</summary>
    public static async Task WaitAsync(string scenario, IEnumerable<Task> submitting)
    {
        var all = Task.WhenAll(submitting);
        if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromMinutes(5))) != all)
        {
            Console.WriteLine($"{scenario}: timed out after 5 minutes");
        }
    }

    /// <summary>Reports a run: tasks done end to end; a task lost, done twice or handed out of order fails it.</summary>
    public int Report(string scenario, long[] done, TimeSpan elapsed, Latencies dispatch, Latencies submitAck, double cpuSeconds, long duplicates, long outOfOrder, long errors)
    {
        var completed = done.Sum();
        return LoadTest.Report.Throughput(scenario, completed, elapsed, dispatch, submitAck, cpuSeconds, duplicates, (long)Submitters * Tasks - completed, outOfOrder, errors,
            new Dictionary<string, object> { ["workers"] = Workers, ["capacity"] = Capacity, ["submitters"] = Submitters, ["offered_rate"] = Rate });
    }
}
