using Daakia.Core;
using Daakia.Testing;

namespace Daakia.Storage.Sqlite.Tests;

/// <summary>
/// Claims read their candidates from the store's committed snapshot (<c>ReadCommittedAsync</c>) without waiting for the
/// writes in flight; the core must then keep off every message those writes change.
/// </summary>
public sealed class ClaimSnapshotTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task AClaim_WhileADeleteAndAReleaseAreInFlight_TakesNeither_AndAfterThemTheReleasedOne_CountedTwice()
    {
        var dir = Unique.TempDirectory();
        var store = new SqliteStore(new SqliteStoreOptions { DataDirectory = dir });
        await store.OpenAsync();
        var engine = new DaakiaEngine(store, new DaakiaCoreOptions(), TimeProvider.System);
        await engine.StartAsync();
        var q = engine.Queues;
        var t = TenantId.Default;
        var ids = await q.PostAsync(t, "jobs", ClientId.Parse("alice"), [new("{\"n\":1}"u8.ToArray()), new("{\"n\":2}"u8.ToArray())]);
        var first = await q.ClaimAsync(t, "jobs", Minute, Minute, 1);
        Assert.Equal(ids[0], Assert.Single(first.Messages).Id);

        // The writer stalls: the release of the first claim and the delete of the other message stay uncommitted, so the
        // committed snapshot still shows the first claimed (hidden, claimed once) and the other one there, free.
        using var stall = new ManualResetEventSlim();
        store.BeforeBatchForTest = _ => stall.Wait(TimeSpan.FromSeconds(30));
        var releasing = q.ReleaseClaimAsync(t, "jobs", first.Claim!.Id);
        var deleting = q.DeleteMessagesAsync(t, "jobs", [ids[1]], ignoreClaims: true);
        var during = await q.ClaimAsync(t, "jobs", Minute, Minute, 10).WaitAsync(TimeSpan.FromSeconds(10)); // no claim: nothing to write
        Assert.Null(during.Claim);
        Assert.Empty(during.Messages);

        store.BeforeBatchForTest = null;
        stall.Set();
        await releasing;
        await deleting;
        var after = await q.ClaimAsync(t, "jobs", Minute, Minute, 10);
        var again = Assert.Single(after.Messages);
        Assert.Equal(ids[0], again.Id);
        Assert.Equal(2, again.ClaimCount);

        await engine.DisposeAsync();
        await store.DisposeAsync();
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task AClaimWhoseSnapshotPredatesADeleteThatCommitted_DoesNotTakeTheDeletedMessage()
    {
        var dir = Unique.TempDirectory();
        var store = new SqliteStore(new SqliteStoreOptions { DataDirectory = dir });
        await store.OpenAsync();
        var engine = new DaakiaEngine(store, new DaakiaCoreOptions(), TimeProvider.System);
        await engine.StartAsync();
        var q = engine.Queues;
        var t = TenantId.Default;
        var ids = await q.PostAsync(t, "jobs", ClientId.Parse("alice"), [new("{\"n\":1}"u8.ToArray()), new("{\"n\":2}"u8.ToArray())]);

        // The delete of the first is called (no claim reading then) and held uncommitted; a claim then reads its
        // candidates — the committed snapshot still has both — and stalls; the delete commits and settles meanwhile.
        using var stall = new ManualResetEventSlim();
        store.BeforeBatchForTest = _ => stall.Wait(TimeSpan.FromSeconds(30));
        var deleting = q.DeleteMessagesAsync(t, "jobs", [ids[0]], ignoreClaims: true);
        using var read = new ManualResetEventSlim();
        using var go = new ManualResetEventSlim();
        store.AfterCommittedReadForTest = () =>
        {
            store.AfterCommittedReadForTest = null;
            read.Set();
            go.Wait(TimeSpan.FromSeconds(30));
        };
        var claiming = q.ClaimAsync(t, "jobs", Minute, Minute, 10);
        Assert.True(read.Wait(TimeSpan.FromSeconds(10)), "the claim read its candidates");
        store.BeforeBatchForTest = null;
        stall.Set();
        await deleting.WaitAsync(TimeSpan.FromSeconds(10));
        go.Set();
        var claim = await claiming.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal([ids[1]], claim.Messages.Select(m => m.Id)); // not the deleted one its snapshot still held

        await engine.DisposeAsync();
        await store.DisposeAsync();
        Directory.Delete(dir, recursive: true);
    }
}
