using Daakia.Core;
using Xunit;

namespace Daakia.Testing.StoreContract;

/// <summary>The activity log's bounded retention.</summary>
public abstract partial class StoreContractTests
{
    private static ActivityEntry Entry(TenantId tenant, DateTimeOffset at, string detail) => new(0, tenant, at, ActivityKinds.Connect, Alice, "c1", detail);

    [Fact]
    public async Task PruneActivity_RemovesEntriesPastTheirAge_OldestFirst_KeepsTheRest()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await Store.AppendActivityAsync([Entry(T1, now.AddDays(-40), "old1"), Entry(T2, now.AddDays(-31), "old2")]);
        await Store.AppendActivityAsync([Entry(T1, now.AddDays(-1), "new1"), Entry(T2, now, "new2")]);
        Assert.Equal(2, await Store.PruneActivityAsync(now.AddDays(-30), long.MaxValue, 1000));
        Assert.Equal(["new1"], (await Store.ReadActivityAsync(T1, 0, 10)).Select(e => e.Detail));
        Assert.Equal(["new2"], (await Store.ReadActivityAsync(T2, 0, 10)).Select(e => e.Detail));
        Assert.Equal(0, await Store.PruneActivityAsync(now.AddDays(-30), long.MaxValue, 1000));
    }

    [Fact]
    public async Task ActivityIds_AreNeverGivenTwice_EvenAfterEverythingAgedOut()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await Store.AppendActivityAsync([Entry(T1, now.AddDays(-40), "a"), Entry(T1, now.AddDays(-40), "b")]);
        var before = (await Store.ReadActivityAsync(T1, 0, 10)).Max(e => e.Id);
        Assert.Equal(before, await Store.LastActivityIdAsync(T1));
        await Store.PruneActivityAsync(now, long.MaxValue, 1000);
        await Store.AppendActivityAsync([Entry(T1, now, "c")]);
        var after = await Store.ReadActivityAsync(T1, 0, 10);
        Assert.Equal("c", after[^1].Detail);
        Assert.True(after[^1].Id > before, $"the new entry's id {after[^1].Id} follows the old newest {before}: a reader after it misses nothing");
        Assert.Equal(after[^1].Id, await Store.LastActivityIdAsync(T1));
        Assert.Equal(0, await Store.LastActivityIdAsync(T2));
    }

    [Fact]
    public async Task PruneActivity_KeepsAtMostTheNewestEntries_InBoundedRounds()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await Store.AppendActivityAsync(Enumerable.Range(0, 25).Select(i => Entry(T1, now, $"e{i}")).ToList());
        Assert.Equal(10, await Store.PruneActivityAsync(now.AddYears(-1), 5, 10));
        Assert.Equal(10, await Store.PruneActivityAsync(now.AddYears(-1), 5, 10));
        Assert.Equal(0, await Store.PruneActivityAsync(now.AddYears(-1), 5, 10));
        var left = await Store.ReadActivityAsync(T1, 0, 100);
        Assert.Equal(Enumerable.Range(20, 5).Select(i => $"e{i}"), left.Select(e => e.Detail));
        // Ids keep increasing after a prune.
        await Store.AppendActivityAsync([Entry(T1, now, "after")]);
        var all = await Store.ReadActivityAsync(T1, 0, 100);
        Assert.True(all[^1].Id > left[^1].Id);
    }
}
