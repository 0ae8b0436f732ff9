using System.Text;
using BenchmarkDotNet.Attributes;
using Daakia.Core;
using Daakia.Core.Storage;

namespace Daakia.Benchmarks;

/// <summary>
/// Routing publications through the engine with a warm route cache, while another connection subscribes and
/// unsubscribes (MQTT connection churn). Each invocation is one churn step (subscribe + unsubscribe) followed by one
/// publish to each of <see cref="HotTopics"/> warm topics; the figure is per publish.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 10)]
public class TopicRouteBenchmarks
{
    private const int HotTopics = 64;
    private const int Subscribers = 1000;

    private readonly byte[] _payload = Encoding.UTF8.GetBytes("{\"v\":1}");
    private readonly string[] _topics = new string[HotTopics];
    private readonly string[][] _churnFilters = [new string[256], new string[256]];
    private InMemoryStore _store = null!;
    private DaakiaEngine _engine = null!;
    private ClientConnection _churner = null!;
    private int _step;

    /// <summary>
    /// What the churning connection subscribes to: <c>none</c> (no churn), <c>literal</c> (unrelated exact filters),
    /// <c>wildcard</c> (unrelated filters with <c>+</c>/<c>#</c>), <c>related</c> (a filter matching every hot topic,
    /// which must invalidate them all).
    /// </summary>
    [Params("none", "literal", "wildcard", "related")]
    public string Churn { get; set; } = "none";

    [GlobalSetup]
    public void Setup()
    {
        _store = new InMemoryStore();
        _engine = new DaakiaEngine(_store, new DaakiaCoreOptions(), TimeProvider.System);
        _engine.StartAsync().GetAwaiter().GetResult();
        for (var i = 0; i < Subscribers; i++)
        {
            // Each subscriber listens on one building's sensors; a few take everything.
            var c = Connect("sub-" + i);
            _engine.Topics.Subscribe(c, [i % 50 == 0 ? "sensors/#" : $"sensors/b{i % 16}/+/temperature"]);
        }

        for (var i = 0; i < HotTopics; i++)
        {
            _topics[i] = $"sensors/b{i % 16}/f{i / 16}/temperature";
        }

        for (var i = 0; i < 256; i++)
        {
            _churnFilters[0][i] = $"devices/d{i}/commands";
            _churnFilters[1][i] = i % 2 == 0 ? $"devices/d{i}/+" : $"devices/d{i}/#";
        }

        _churner = Connect("churner");
        PublishAll();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(OperationsPerInvoke = HotTopics)]
    public int PublishAfterChurnStep()
    {
        var step = _step++ & 255;
        string? filter = Churn switch
        {
            "literal" => _churnFilters[0][step],
            "wildcard" => _churnFilters[1][step],
            "related" => "sensors/+/+/temperature",
            _ => null,
        };
        if (filter is not null)
        {
            _engine.Topics.Subscribe(_churner, [filter]);
            _engine.Topics.Unsubscribe(_churner, [filter]);
        }

        return PublishAll();
    }

    private int PublishAll()
    {
        var queued = 0;
        foreach (var topic in _topics)
        {
            queued += _engine.Topics.Publish(TenantId.Default, null, topic, _payload);
        }

        return queued;
    }

    // An hour's heartbeat keeps the engine's liveness scan from closing the idle subscribers mid-run.
    private ClientConnection Connect(string name)
    {
        var c = _engine.ConnectAsync(TenantId.Default, ClientId.Parse(name), new NullTarget(), new ConnectOptions("bench", Heartbeat: TimeSpan.FromHours(1))).AsTask().GetAwaiter().GetResult();
        _engine.Start(c);
        return c;
    }

    private sealed class NullTarget : IDeliveryTarget
    {
        public bool TryDeliver(Letter letter, int deliveries) => true;

        public bool TryPublish(Publication publication) => true;

        public void Close(CloseReason reason)
        {
        }
    }
}
