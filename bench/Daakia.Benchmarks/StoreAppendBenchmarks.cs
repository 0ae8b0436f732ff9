using System.Text;
using BenchmarkDotNet.Attributes;
using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Storage.Sqlite;

namespace Daakia.Benchmarks;

/// <summary>
/// Durable appends through the group-commit writer: how far above the disk's fsync rate concurrency takes us. Each
/// append is one message row and one entry at the queue's next position (allocated on the writer).
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 1, iterationCount: 5)]
public class StoreAppendBenchmarks
{
    private SqliteStore _store = null!;
    private string _dir = null!;
    private readonly ClientId[] _recipient = [ClientId.Parse("bob")];
    private readonly byte[] _payload = Encoding.UTF8.GetBytes("{\"text\":\"" + new string('x', 100) + "\"}");

    [Params(1, 64)]
    public int Writers { get; set; }

    [Params(SqliteDurability.Fsync, SqliteDurability.Os)]
    public SqliteDurability Durability { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "daakia-bench-" + Guid.NewGuid().ToString("N"));
        _store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir, Durability = Durability });
        _store.OpenAsync().AsTask().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>1,000 appends from <see cref="Writers"/> concurrent writers.</summary>
    [Benchmark(OperationsPerInvoke = 1000)]
    public async Task Append1000()
    {
        var perWriter = 1000 / Writers;
        var tasks = new Task[Writers];
        for (var w = 0; w < Writers; w++)
        {
            tasks[w] = Task.Run(async () =>
            {
                for (var i = 0; i < perWriter; i++)
                {
                    var letter = new Letter
                    {
                        Id = Guid.CreateVersion7(),
                        Tenant = TenantId.Default,
                        Author = ClientId.Parse("alice"),
                        Recipients = _recipient,
                        Payload = _payload,
                        Timestamp = DateTimeOffset.UtcNow,
                    };
                    await _store.AppendLetterAsync(letter, _recipient);
                }
            });
        }

        await Task.WhenAll(tasks);
    }
}
