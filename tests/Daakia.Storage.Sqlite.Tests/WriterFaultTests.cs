using System.Text;
using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Testing;
using Microsoft.Extensions.Logging;

namespace Daakia.Storage.Sqlite.Tests;

/// <summary>What callers see when the writer thread dies: a fault at once, never a wait for a commit that cannot come.</summary>
public sealed class WriterFaultTests : IAsyncLifetime
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(10);
    private static readonly TenantId Tenant = TenantId.Parse("t1");
    private static readonly ClientId Bob = ClientId.Parse("bob");

    private readonly string _dir = Unique.TempDirectory();
    private readonly ListLogger<SqliteStore> _log = new();
    private SqliteStore _store = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir }, _log);
        await _store.OpenAsync();
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync().AsTask().WaitAsync(Soon);
        Directory.Delete(_dir, recursive: true);
    }

    private Letter NewLetter() => new()
    {
        Id = Guid.CreateVersion7(),
        Tenant = Tenant,
        Author = ClientId.Parse("alice"),
        Recipients = [Bob],
        Payload = Encoding.UTF8.GetBytes("1"),
        Timestamp = DateTimeOffset.UtcNow,
    };

    private static async Task AssertUnavailableSoon(Task task, string because)
    {
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => task.WaitAsync(Soon));
        Assert.Equal(DaakiaErrorCode.Unavailable, ex.Code);
        Assert.True(ex.Message.Contains("simulated writer failure", StringComparison.Ordinal), because + ": " + ex.Message);
    }

    [Fact]
    public async Task WriterDies_EverythingInFlightQueuedOrWaitingFaultsAtOnce_AndLaterCallsAreUnavailable()
    {
        var committed = NewLetter();
        await _store.AppendLetterAsync(committed, committed.Recipients);

        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        _store.BeforeBatchForTest = _ =>
        {
            entered.Set();
            release.Wait(Soon);
            throw new InvalidOperationException("simulated writer failure");
        };

        var inBatch = _store.AppendLetterAsync(NewLetter(), [Bob]).AsTask();
        Assert.True(entered.Wait(Soon), "the writer took the batch");
        var queued = _store.AppendLetterAsync(NewLetter(), [Bob]).AsTask();
        var queuedAck = _store.DeleteLettersAsync(Tenant, Bob, [committed.Id]).AsTask();
        var waitingRead = _store.ReadInboxAsync(Tenant, Bob, 0, 10).AsTask();
        var flush = _store.FlushAsync().AsTask();
        Assert.True(_store.IsHealthy);
        Assert.Null(_store.Fault);

        release.Set();
        await AssertUnavailableSoon(inBatch, "the write in the dying batch");
        await AssertUnavailableSoon(queued, "a queued write");
        await AssertUnavailableSoon(queuedAck, "a queued ack");
        await AssertUnavailableSoon(waitingRead, "a read waiting for those writes");
        await AssertUnavailableSoon(flush, "a flush");

        Assert.False(_store.IsHealthy);
        Assert.Contains("simulated writer failure", _store.Fault, StringComparison.Ordinal);
        await AssertUnavailableSoon(Task.Run(async () => await _store.AppendLetterAsync(NewLetter(), [Bob])), "a later write");
        await AssertUnavailableSoon(Task.Run(async () => await _store.RecordSeenAsync(Tenant, Bob, DateTimeOffset.UtcNow)), "a later roster write");
        await AssertUnavailableSoon(Task.Run(async () => await _store.CountInboxAsync(Tenant, Bob)), "a later read");

        var critical = Assert.Single(_log.Events, e => e.Level == LogLevel.Critical);
        Assert.Equal("WriterFaulted", critical.Event.Name);
        Assert.Contains("simulated writer failure", critical.Message, StringComparison.Ordinal);
        Assert.IsType<InvalidOperationException>(critical.Exception);
    }

    [Fact]
    public async Task WriterDies_WhileIdle_TheNextWriteFaults_AndDisposeStillCompletes()
    {
        _store.BeforeBatchForTest = _ => throw new InvalidOperationException("simulated writer failure");
        await AssertUnavailableSoon(_store.AppendLetterAsync(NewLetter(), [Bob]).AsTask(), "the write that met the dying writer");
        Assert.False(_store.IsHealthy);
        await _store.DisposeAsync().AsTask().WaitAsync(Soon);
    }
}
