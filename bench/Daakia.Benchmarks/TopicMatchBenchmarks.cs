using BenchmarkDotNet.Attributes;
using Daakia.Core;

namespace Daakia.Benchmarks;

/// <summary>Matching a topic against filters (the cache miss path of routing).</summary>
[MemoryDiagnoser]
public class TopicMatchBenchmarks
{
    [Benchmark]
    public bool ExactMiss() => TopicNames.Matches("sensors/building-1/floor-2/temperature", "sensors/building-1/floor-2/humidity");

    [Benchmark]
    public bool PlusHit() => TopicNames.Matches("sensors/+/+/temperature", "sensors/building-1/floor-2/temperature");

    [Benchmark]
    public bool HashHit() => TopicNames.Matches("sensors/#", "sensors/building-1/floor-2/temperature");
}
