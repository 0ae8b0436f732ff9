using Daakia.Core;
using Daakia.Core.Storage;

namespace Daakia.Storage.Sqlite.Tests;

/// <summary>Tests that measure the process's allocations run alone.</summary>
[CollectionDefinition(nameof(RunsAlone), DisableParallelization = true)]
public sealed class RunsAlone;

/// <summary>The expiry sweep runs on the writer thread, where every tenant's commits wait behind it.</summary>
[Collection(nameof(RunsAlone))]
public sealed class ExpirySweepTests : SqliteStoreTestBase
{
    private static readonly TenantId Tenant = TenantId.Parse("t1");
    private static readonly ClientId Bob = ClientId.Parse("bob");

    [Fact]
    public async Task Sweep_DoesNotLoadThePayloadsOfWhatItRemoves()
    {
        const int Letters = 32;
        const int PayloadBytes = 256 * 1024; // loading them all would allocate 8 MiB
        var now = DateTimeOffset.UtcNow;
        var payload = new byte[PayloadBytes];
        payload.AsSpan().Fill((byte)'1');
        for (var i = 0; i < Letters; i++)
        {
            var letter = new Letter
            {
                Id = Guid.CreateVersion7(),
                Tenant = Tenant,
                Author = ClientId.Parse("alice"),
                Recipients = [Bob],
                Payload = payload,
                Timestamp = now,
                ExpiresAt = now.AddSeconds(-1),
            };
            await Store.AppendLetterAsync(letter, [Bob]);
        }

        Assert.Empty(await Store.RemoveExpiredAsync(now.AddHours(-1), 1000)); // the same path once, with nothing to remove
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var removed = await Store.RemoveExpiredAsync(now, 1000);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.True(allocated < PayloadBytes * 4, $"the sweep allocated {allocated:N0} bytes");
        Assert.Equal(Letters, removed.Count);
        Assert.All(removed, e => Assert.True(e.Message.Payload.IsEmpty));
        Assert.Equal(0, await Store.CountInboxAsync(Tenant, Bob));
    }

    [Fact]
    public async Task Sweep_RemovesAtMostOneBoundedChunkPerCall()
    {
        var now = DateTimeOffset.UtcNow;
        var writes = new List<Task>();
        for (var i = 0; i < RemoveExpiredOp.MaxPerWrite + 5; i++)
        {
            var letter = new Letter
            {
                Id = Guid.CreateVersion7(),
                Tenant = Tenant,
                Author = ClientId.Parse("alice"),
                Recipients = [Bob],
                Payload = "1"u8.ToArray(),
                Timestamp = now,
                ExpiresAt = now.AddSeconds(-1),
            };
            writes.Add(Store.AppendLetterAsync(letter, [Bob]).AsTask());
        }

        await Task.WhenAll(writes);
        Assert.Equal(RemoveExpiredOp.MaxPerWrite, (await Store.RemoveExpiredAsync(now, int.MaxValue)).Count);
        Assert.Equal(5, (await Store.RemoveExpiredAsync(now, int.MaxValue)).Count);
    }
}
