using System.Diagnostics;

namespace Daakia.LoadTest;

/// <summary>Latency samples in Stopwatch ticks (thread-safe append), summarised as percentiles in milliseconds.</summary>
internal sealed class Latencies
{
    private readonly Lock _gate = new();
    private readonly List<long> _samples = new(1 << 16);

    public void Add(long ticks)
    {
        lock (_gate)
        {
            _samples.Add(ticks);
        }
    }

    public (double P50, double P99, double Max) Summary()
    {
        lock (_gate)
        {
            if (_samples.Count == 0)
            {
                return (0, 0, 0);
            }

            if (Environment.GetEnvironmentVariable("DAAKIA_LATENCY_TRACE") is { Length: > 0 } trace)
            {
                // Every sample in arrival order (ms), for looking at where a tail comes from.
                File.WriteAllLines(trace, _samples.Select(t => (t * 1000.0 / Stopwatch.Frequency).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)));
            }

            _samples.Sort();
            double Ms(long t) => t * 1000.0 / Stopwatch.Frequency;
            return (Ms(_samples[(int)(_samples.Count * 0.50)]), Ms(_samples[Math.Min(_samples.Count - 1, (int)(_samples.Count * 0.99))]), Ms(_samples[^1]));
        }
    }
}
