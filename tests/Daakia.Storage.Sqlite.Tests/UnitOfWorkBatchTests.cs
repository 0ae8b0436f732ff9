using System.Text;
using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Testing;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite.Tests;

/// <summary>
/// Units of work and dead-letter moves inside one group-commit batch: a unit that fails (a refused quota, a failing
/// statement) stores nothing of itself, and the writes beside it in the same transaction commit.
/// </summary>
public sealed class UnitOfWorkBatchTests : IAsyncLifetime
{
    private static readonly TenantId Tenant = TenantId.Parse("t1");
    private static readonly ClientId Alice = ClientId.Parse("alice");
    private static readonly ClientId Bob = ClientId.Parse("bob");
    private static readonly QueueKey BobInbox = QueueKey.Inbox(Tenant, Bob);
    private static readonly QueueKey BobDead = QueueKey.DeadLetters(Tenant, Bob);

    private readonly string _dir = Unique.TempDirectory();
    private SqliteStore _store = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await _store.OpenAsync();
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task ReopenAsync(Action<SqliteConnection>? configureWriter = null)
    {
        await _store.DisposeAsync();
        _store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir }) { ConfigureWriterForTest = configureWriter };
        await _store.OpenAsync();
    }

    private static Letter NewLetter(ClientId author, string payload = "\"x\"") => new()
    {
        Id = Guid.CreateVersion7(),
        Tenant = Tenant,
        Author = author,
        Recipients = [Bob],
        Payload = Encoding.UTF8.GetBytes(payload),
        Timestamp = DateTimeOffset.UtcNow,
    };

    /// <summary>Holds the writer before its next batch until the returned release is set; completes when it is held.</summary>
    private ManualResetEventSlim HoldNextBatch()
    {
        var entered = new ManualResetEventSlim();
        var release = new ManualResetEventSlim();
        var held = 0;
        _store.BeforeBatchForTest = _ =>
        {
            if (Interlocked.Exchange(ref held, 1) == 0)
            {
                entered.Set();
                release.Wait(TimeSpan.FromSeconds(30));
            }
        };
        _ = _store.FlushAsync().AsTask();
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)), "the writer took the batch");
        entered.Dispose();
        return release;
    }

    private static void Poison(SqliteConnection connection, string trigger)
    {
        using var command = connection.CreateCommand();
        command.CommandText = trigger;
        command.ExecuteNonQuery();
    }

    [Fact]
    public async Task UnitsInOneBatch_ARefusedOneStoresNothing_TheOthersCommit_AndPositionsStayGapFree()
    {
        var quota = new InboxQuota(3, long.MaxValue, long.MaxValue);
        var seed = NewLetter(Alice);
        await _store.AppendAsync(seed, [BobInbox], quota);
        var before = _store.Batches;

        using var release = HoldNextBatch();
        var first = NewLetter(Alice);
        var refused = NewLetter(Alice);
        var last = NewLetter(Alice);
        var at = DateTimeOffset.UtcNow;
        var ok = _store.WriteAsync([new AppendOp(first, [BobInbox], quota), new ReturnOp(BobInbox, [new ReturnedEntry(seed.Id, 2)])]).AsTask();
        // After its delete the unit appends three where two places are left: the third passes the quota, so the whole
        // unit goes (its delete, its activity and its first two appends with it).
        var bad = _store.WriteAsync([
            new DeleteOp(BobInbox, [seed.Id]),
            new ActivityOp([new ActivityEntry(0, Tenant, at, ActivityKinds.Connect, Alice, "s", "refused")]),
            new AppendOp(refused, [BobInbox], quota),
            new AppendOp(NewLetter(Alice), [BobInbox], quota),
            new AppendOp(NewLetter(Alice), [BobInbox], quota),
        ]).AsTask();
        var after = _store.WriteAsync([new AppendOp(last, [BobInbox], quota)]).AsTask();
        release.Set();

        Assert.Equal([2L], (await ok)[0].Positions);
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => bad);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        Assert.Equal([3L], (await after)[0].Positions);
        Assert.Equal(before + 2, _store.Batches); // the held flush's batch, then one shared by the three units

        await ReopenAsync();
        var inbox = await _store.ReadAsync(BobInbox, 0, 10);
        Assert.Equal([seed.Id, first.Id, last.Id], inbox.Select(e => e.Id));
        Assert.Equal([1L, 2L, 3L], inbox.Select(e => e.Position));
        Assert.Equal(2, inbox[0].Deliveries);
        Assert.Empty(await _store.ReadActivityAsync(Tenant, 0, 10));
        Assert.Equal(new InboxUsage(3, 3 * (3 + InboxQuota.EntryOverhead)), await _store.GetUsageAsync(BobInbox));
    }

    [Fact]
    public async Task UnitWithAFailingStatement_StoresNothingOfIt_AndTheRestOfTheBatchCommits()
    {
        await ReopenAsync(c => Poison(c,
            "CREATE TEMP TRIGGER no_poison BEFORE INSERT ON main.messages WHEN new.author = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"));
        var seed = NewLetter(Alice);
        await _store.AppendAsync(seed, [BobInbox]);

        using var release = HoldNextBatch();
        var good = NewLetter(Alice);
        var unit = _store.WriteAsync([
            new AppendOp(good, [BobInbox]),
            new MoveOp(BobInbox, BobDead, [seed.Id], ActivityKinds.DeadLettered, DateTimeOffset.UtcNow),
            new AppendOp(NewLetter(ClientId.Parse("poison")), [BobInbox]),
        ]).AsTask();
        var beside = NewLetter(Alice);
        var besideWrite = _store.AppendAsync(beside, [BobInbox]).AsTask();
        release.Set();

        await Assert.ThrowsAsync<SqliteException>(() => unit);
        Assert.Equal([2L], await besideWrite); // the failed unit's position 2 was never given out
        // The unit failed after its first append and its move changed rows: the batch ran again under savepoints.
        Assert.Equal(1, _store.GuardedReruns);

        await ReopenAsync();
        Assert.Equal([seed.Id, beside.Id], (await _store.ReadAsync(BobInbox, 0, 10)).Select(e => e.Id));
        Assert.Empty(await _store.ReadAsync(BobDead, 0, 10));
        Assert.Empty(await _store.ReadActivityAsync(Tenant, 0, 10));
        Assert.Equal(2, (await _store.GetTenantUsageAsync(Tenant)).Letters);
    }

    [Fact]
    public async Task AppendRefusedByQuota_BesideAcceptedOnes_CommitsTheOthers_WithoutRunningTheBatchAgain()
    {
        var quota = new InboxQuota(2, long.MaxValue, long.MaxValue);
        var seed = NewLetter(Alice);
        await _store.AppendAsync(seed, [BobInbox], quota);

        using var release = HoldNextBatch();
        var accepted = NewLetter(Alice);
        var refused = NewLetter(Alice);
        var first = _store.AppendAsync(accepted, [BobInbox], quota).AsTask();
        var second = _store.AppendAsync(refused, [BobInbox], quota).AsTask();
        var ack = _store.DeleteAsync(BobInbox, [seed.Id]).AsTask();
        release.Set();

        Assert.Equal([2L], await first);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, (await Assert.ThrowsAsync<DaakiaException>(() => second)).Code);
        Assert.Equal(1, await ack);
        // The quota is checked before any statement runs, so nothing of the refused append was in the transaction.
        Assert.Equal(0, _store.GuardedReruns);

        await ReopenAsync();
        Assert.Equal([accepted.Id], (await _store.ReadAsync(BobInbox, 0, 10)).Select(e => e.Id));
        Assert.Equal(new InboxUsage(1, 3 + InboxQuota.EntryOverhead), await _store.GetUsageAsync(BobInbox));
    }

    [Fact]
    public async Task DeadLetter_WhoseActivityRecordFails_MovesNothing()
    {
        await ReopenAsync(c => Poison(c,
            "CREATE TEMP TRIGGER no_record BEFORE INSERT ON main.activity WHEN new.kind = 'dead_lettered' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"));
        var letter = NewLetter(Alice, "\"" + new string('y', 500) + "\"");
        await _store.AppendAsync(letter, [BobInbox]);
        var usage = await _store.GetUsageAsync(BobInbox);

        await Assert.ThrowsAsync<SqliteException>(() => _store.DeadLetterAsync(BobInbox, BobDead, [letter.Id], DateTimeOffset.UtcNow).AsTask());

        await ReopenAsync();
        Assert.Equal([letter.Id], (await _store.ReadAsync(BobInbox, 0, 10)).Select(e => e.Id));
        Assert.Empty(await _store.ReadAsync(BobDead, 0, 10));
        Assert.Equal(usage, await _store.GetUsageAsync(BobInbox));
        Assert.Equal(new InboxUsage(0, 0), await _store.GetUsageAsync(BobDead));
        // Without the poison the move goes through, and the dead-letter queue's first entry is at 1: the failed move
        // gave out nothing.
        Assert.Equal(1, await _store.DeadLetterAsync(BobInbox, BobDead, [letter.Id], DateTimeOffset.UtcNow));
        Assert.Equal([1L], (await _store.ReadAsync(BobDead, 0, 10)).Select(e => e.Position));
    }

    [Fact]
    public async Task MoveAcrossTenants_IsRefused_AndAppendToAnotherTenantsQueue_IsRefused()
    {
        var letter = NewLetter(Alice);
        await _store.AppendAsync(letter, [BobInbox]);
        var elsewhere = QueueKey.DeadLetters(TenantId.Parse("t2"), Bob);
        await Assert.ThrowsAsync<ArgumentException>(() => _store.DeadLetterAsync(BobInbox, elsewhere, [letter.Id], DateTimeOffset.UtcNow).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => _store.AppendAsync(NewLetter(Alice), [elsewhere]).AsTask());
        Assert.Equal(1, await _store.CountAsync(BobInbox));
        Assert.Equal(0, await _store.CountAsync(elsewhere));
    }
}
