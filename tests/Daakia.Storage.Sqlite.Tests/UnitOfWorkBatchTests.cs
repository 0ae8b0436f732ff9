using System.Text;
using Daakia.Core;
using Daakia.Core.Storage;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite.Tests;

/// <summary>
/// Units of work and dead-letter moves inside one group-commit batch: a unit that fails (a refused quota, a failing
/// statement) stores nothing of itself, and the writes beside it in the same transaction commit.
/// </summary>
public sealed class UnitOfWorkBatchTests : SqliteStoreTestBase
{
    private static readonly TenantId Tenant = TenantId.Parse("t1");
    private static readonly ClientId Alice = ClientId.Parse("alice");
    private static readonly ClientId Bob = ClientId.Parse("bob");
    private static readonly QueueKey BobInbox = QueueKey.Inbox(Tenant, Bob);
    private static readonly QueueKey BobDead = QueueKey.DeadLetters(Tenant, Bob);

    private async Task ReopenAsync(Action<SqliteConnection>? configureWriter = null)
    {
        await Store.DisposeAsync();
        Store = new SqliteStore(new SqliteStoreOptions { DataDirectory = Dir }) { ConfigureWriterForTest = configureWriter };
        await Store.OpenAsync();
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
        await Store.AppendAsync(seed, [BobInbox], quota);
        var before = Store.Batches;

        using var release = HoldNextBatch();
        var first = NewLetter(Alice);
        var refused = NewLetter(Alice);
        var last = NewLetter(Alice);
        var at = DateTimeOffset.UtcNow;
        var ok = Store.WriteAsync([new AppendOp(first, [BobInbox], quota), new ReturnOp(BobInbox, [new ReturnedEntry(seed.Id, 2)])]).AsTask();
        // After its delete the unit appends three where two places are left: the third passes the quota, so the whole
        // unit goes (its delete, its activity and its first two appends with it).
        var bad = Store.WriteAsync([
            new DeleteOp(BobInbox, [seed.Id]),
            new ActivityOp([new ActivityEntry(0, Tenant, at, ActivityKinds.Connect, Alice, "s", "refused")]),
            new AppendOp(refused, [BobInbox], quota),
            new AppendOp(NewLetter(Alice), [BobInbox], quota),
            new AppendOp(NewLetter(Alice), [BobInbox], quota),
        ]).AsTask();
        var after = Store.WriteAsync([new AppendOp(last, [BobInbox], quota)]).AsTask();
        release.Set();

        Assert.Equal([2L], (await ok)[0].Positions);
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => bad);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        Assert.Equal([3L], (await after)[0].Positions);
        Assert.Equal(before + 2, Store.Batches); // the held flush's batch, then one shared by the three units

        await ReopenAsync();
        var inbox = await Store.ReadAsync(BobInbox, 0, 10);
        Assert.Equal([seed.Id, first.Id, last.Id], inbox.Select(e => e.Id));
        Assert.Equal([1L, 2L, 3L], inbox.Select(e => e.Position));
        Assert.Equal(2, inbox[0].Deliveries);
        Assert.Empty(await Store.ReadActivityAsync(Tenant, 0, 10));
        Assert.Equal(new InboxUsage(3, 3 * (3 + InboxQuota.EntryOverhead)), await Store.GetUsageAsync(BobInbox));
    }

    [Fact]
    public async Task UnitWithAFailingStatement_StoresNothingOfIt_AndTheRestOfTheBatchCommits()
    {
        await ReopenAsync(c => Poison(c,
            "CREATE TEMP TRIGGER no_poison BEFORE INSERT ON main.messages WHEN new.author = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"));
        var seed = NewLetter(Alice);
        await Store.AppendAsync(seed, [BobInbox]);

        using var release = HoldNextBatch();
        var good = NewLetter(Alice);
        var unit = Store.WriteAsync([
            new AppendOp(good, [BobInbox]),
            new MoveOp(BobInbox, BobDead, [seed.Id], ActivityKinds.DeadLettered, DateTimeOffset.UtcNow),
            new AppendOp(NewLetter(ClientId.Parse("poison")), [BobInbox]),
        ]).AsTask();
        var beside = NewLetter(Alice);
        var besideWrite = Store.AppendAsync(beside, [BobInbox]).AsTask();
        release.Set();

        await Assert.ThrowsAsync<SqliteException>(() => unit);
        Assert.Equal([2L], await besideWrite); // the failed unit's position 2 was never given out
        // The unit failed after its first append and its move changed rows: the batch ran again under savepoints.
        Assert.Equal(1, Store.GuardedReruns);

        await ReopenAsync();
        Assert.Equal([seed.Id, beside.Id], (await Store.ReadAsync(BobInbox, 0, 10)).Select(e => e.Id));
        Assert.Empty(await Store.ReadAsync(BobDead, 0, 10));
        Assert.Empty(await Store.ReadActivityAsync(Tenant, 0, 10));
        Assert.Equal(2, (await Store.GetTenantUsageAsync(Tenant)).Letters);
    }

    [Fact]
    public async Task AppendRefusedByQuota_BesideAcceptedOnes_CommitsTheOthers_WithoutRunningTheBatchAgain()
    {
        var quota = new InboxQuota(2, long.MaxValue, long.MaxValue);
        var seed = NewLetter(Alice);
        await Store.AppendAsync(seed, [BobInbox], quota);

        using var release = HoldNextBatch();
        var accepted = NewLetter(Alice);
        var refused = NewLetter(Alice);
        var first = Store.AppendAsync(accepted, [BobInbox], quota).AsTask();
        var second = Store.AppendAsync(refused, [BobInbox], quota).AsTask();
        var ack = Store.DeleteAsync(BobInbox, [seed.Id]).AsTask();
        release.Set();

        Assert.Equal([2L], await first);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, (await Assert.ThrowsAsync<DaakiaException>(() => second)).Code);
        Assert.Equal(1, await ack);
        // The quota is checked before any statement runs, so nothing of the refused append was in the transaction.
        Assert.Equal(0, Store.GuardedReruns);

        await ReopenAsync();
        Assert.Equal([accepted.Id], (await Store.ReadAsync(BobInbox, 0, 10)).Select(e => e.Id));
        Assert.Equal(new InboxUsage(1, 3 + InboxQuota.EntryOverhead), await Store.GetUsageAsync(BobInbox));
    }

    [Fact]
    public async Task DeadLetter_WhoseActivityRecordFails_MovesNothing()
    {
        await ReopenAsync(c => Poison(c,
            "CREATE TEMP TRIGGER no_record BEFORE INSERT ON main.activity WHEN new.kind = 'dead_lettered' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"));
        var letter = NewLetter(Alice, "\"" + new string('y', 500) + "\"");
        await Store.AppendAsync(letter, [BobInbox]);
        var usage = await Store.GetUsageAsync(BobInbox);

        await Assert.ThrowsAsync<SqliteException>(() => Store.DeadLetterAsync(BobInbox, BobDead, [letter.Id], DateTimeOffset.UtcNow).AsTask());

        await ReopenAsync();
        Assert.Equal([letter.Id], (await Store.ReadAsync(BobInbox, 0, 10)).Select(e => e.Id));
        Assert.Empty(await Store.ReadAsync(BobDead, 0, 10));
        Assert.Equal(usage, await Store.GetUsageAsync(BobInbox));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetUsageAsync(BobDead));
        // Without the poison the move goes through, and the dead-letter queue's first entry is at 1: the failed move
        // gave out nothing.
        Assert.Equal(1, await Store.DeadLetterAsync(BobInbox, BobDead, [letter.Id], DateTimeOffset.UtcNow));
        Assert.Equal([1L], (await Store.ReadAsync(BobDead, 0, 10)).Select(e => e.Position));
    }

    [Fact]
    public async Task MoveAcrossTenants_IsRefused_AndAppendToAnotherTenantsQueue_IsRefused()
    {
        var letter = NewLetter(Alice);
        await Store.AppendAsync(letter, [BobInbox]);
        var elsewhere = QueueKey.DeadLetters(TenantId.Parse("t2"), Bob);
        await Assert.ThrowsAsync<ArgumentException>(() => Store.DeadLetterAsync(BobInbox, elsewhere, [letter.Id], DateTimeOffset.UtcNow).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => Store.AppendAsync(NewLetter(Alice), [elsewhere]).AsTask());
        Assert.Equal(1, await Store.CountAsync(BobInbox));
        Assert.Equal(0, await Store.CountAsync(elsewhere));
    }
}
