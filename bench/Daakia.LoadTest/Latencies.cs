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

    /// <summary>Writes every sample in arrival order, in milliseconds, one per line (for looking at where a tail comes
    /// from); call before <see cref="Summary"/>, which sorts them.</summary>
    public void Trace(string path)
    {
        lock (_gate)
        {
            File.WriteAllLines(path, _samples.Select(t => Ms(t).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    public (double P50, double P99, double Max) Summary()
    {
        lock (_gate)
        {
            if (_samples.Count == 0)
            {
                return (0, 0, 0);
            }

            _samples.Sort();
            return (Ms(_samples[(int)(_samples.Count * 0.50)]), Ms(_samples[Math.Min(_samples.Count - 1, (int)(_samples.Count * 0.99))]), Ms(_samples[^1]));
        }
    }
}
