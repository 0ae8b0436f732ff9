using System.Diagnostics.Metrics;

namespace Daakia.Core.Storage;

/// <summary>Instruments every store's meter has alike.</summary>
public static class StoreMetrics
{
    /// <summary>
    /// <c>commit.duration</c> (seconds; <c>daakia_store_commit_duration</c> on <c>/metrics</c>): how long the writer took
    /// for one group commit, its writing and its fsync, with buckets from 0.1 ms to 0.5 s.
    /// </summary>
    public static Histogram<double> CommitDuration(Meter meter) =>
        meter.CreateHistogram<double>("commit.duration", unit: "s", description: "How long the store's writer took for one group commit: writing it and its fsync.",
            advice: new() { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.5] });
}
