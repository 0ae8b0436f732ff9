using System.Text;
using BenchmarkDotNet.Attributes;
using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Storage.Journal;
using Daakia.Storage.Sqlite;

namespace Daakia.Benchmarks;

/// <summary>
/// A letter's whole life in the store, as the direct path drives it: appended to one inbox (with the default TTL), then
/// acknowledged (its entry and message deleted), by many concurrent writers, so the group-commit writer's own cost per
/// letter is what is measured (at durability <c>os</c> the single writer thread is the bottleneck). On both embedded
/// stores, SQLite and the journal.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 8)]
public class StoreCycleBenchmarks
{
    private IDaakiaStore _store = null!;
    private string _dir = null!;
    private readonly byte[] _payload = Encoding.UTF8.GetBytes("{\"text\":\"" + new string('x', 240) + "\"}");

    [Params(SqliteDurability.Os)]
    public SqliteDurability Durability { get; set; }

    [Params("sqlite", "journal")]
    public string Storage { get; set; } = "sqlite";

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "daakia-bench-" + Guid.NewGuid().ToString("N"));
        _store = Storage == "journal"
            ? new JournalStore(new JournalStoreOptions { DataDirectory = _dir, Durability = Durability == SqliteDurability.Os ? JournalDurability.Os : JournalDurability.Fsync })
            : new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir, Durability = Durability });
        _store.OpenAsync().AsTask().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>2,048 letters (append, then ack), 64 concurrent writers each on its own inbox.</summary>
    [Benchmark(OperationsPerInvoke = 2048)]
    public async Task AppendThenAck()
    {
        const int writers = 64;
        var tasks = new Task[writers];
        for (var w = 0; w < writers; w++)
        {
            var recipient = new[] { ClientId.Parse("r" + w) };
            tasks[w] = Task.Run(async () =>
            {
                for (var i = 0; i < 2048 / writers; i++)
                {
                    var now = DateTimeOffset.UtcNow;
                    var letter = new Letter
                    {
                        Id = Guid.CreateVersion7(now),
                        Tenant = TenantId.Default,
                        Author = ClientId.Parse("alice"),
                        Recipients = recipient,
                        Payload = _payload,
                        Timestamp = now,
                        ExpiresAt = now + TimeSpan.FromDays(7),
                    };
                    await _store.AppendLetterAsync(letter, recipient);
                    await _store.DeleteLettersAsync(TenantId.Default, recipient[0], [letter.Id]);
                }
            });
        }

        await Task.WhenAll(tasks);
    }
}
