using System.Text;

namespace Daakia.Core.Tests;

/// <summary>
/// The tenant's quota of messages in its named queues together (<see cref="DaakiaCoreOptions.MaxTenantQueueMessages"/>)
/// through <see cref="QueueService"/>: posts past it refused whole, room freed by deletes, pops, purges, queue deletes
/// and expiry, not by dead-letter moves, kept across a restart, another tenant unaffected. Runs on the in-memory and on
/// the chaos store.
/// </summary>
public abstract class NamedQueueQuotaTests
{
    protected abstract bool OnChaosStore { get; }

    private EngineFixture New(long max = 5) => new(o => o.MaxTenantQueueMessages = max, OnChaosStore);

    private static readonly TenantId T = EngineFixture.Tenant;
    private static readonly TenantId Other = TenantId.Parse("other-project");
    private static readonly ClientId Poster = EngineFixture.Id("poster");
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    private static NewQueueMessage Body(int n, TimeSpan? ttl = null) => new(Encoding.UTF8.GetBytes($"{{\"n\":{n}}}"), ttl);

    private static Task<IReadOnlyList<Guid>> PostAsync(EngineFixture f, string queue, params int[] ns) =>
        f.Engine.Queues.PostAsync(T, queue, Poster, [.. ns.Select(n => Body(n))]);

    private static async Task RefusedAsync(EngineFixture f, string queue, int count = 1)
    {
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => PostAsync(f, queue, [.. Enumerable.Range(100, count)]));
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
    }

    private static async Task<long> TotalAsync(EngineFixture f, string queue) => (await f.Engine.Queues.StatsAsync(T, queue)).Total;

    [Fact]
    public async Task PostsAcrossATenantsQueues_StopAtTheLimit_APostPastItIsRefusedWhole_AndAnotherTenantIsUnaffected()
    {
        await using var f = await New().StartAsync();
        await PostAsync(f, "a", 1, 2, 3);
        await PostAsync(f, "b", 4);

        // Two would pass it: neither is stored.
        await RefusedAsync(f, "b", count: 2);
        Assert.Equal((3L, 1L), (await TotalAsync(f, "a"), await TotalAsync(f, "b")));
        await PostAsync(f, "c", 5);
        await RefusedAsync(f, "a");
        await RefusedAsync(f, "new");
        Assert.Equal(0, await TotalAsync(f, "new"));

        await f.Engine.Queues.PostAsync(Other, "a", Poster, [.. Enumerable.Range(1, 5).Select(n => Body(n))]);
        Assert.Equal(5, (await f.Engine.Queues.StatsAsync(Other, "a")).Total);
    }

    [Fact]
    public async Task DeletesPopsPurgesAndQueueDeletes_FreeRoom_ADeadLetterMoveDoesNot()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        await q.CreateAsync(T, "jobs", EngineFixture.Json("{}"), new NamedQueueSettings { MaxClaimCount = 1, DeadLetterQueue = "jobs-dead" });
        var ids = await PostAsync(f, "jobs", 1, 2, 3);
        await PostAsync(f, "b", 4, 5);
        await RefusedAsync(f, "b");

        // Claimed once, released, claimed again: 1 moves to the dead-letter queue, still one of the tenant's five.
        var c = await q.ClaimAsync(T, "jobs", Minute, Minute, 1);
        await q.ReleaseClaimAsync(T, "jobs", c.Claim!.Id);
        await q.ClaimAsync(T, "jobs", Minute, Minute, 1);
        Assert.Equal(1, await TotalAsync(f, "jobs-dead"));
        await RefusedAsync(f, "b");

        await q.DeleteMessagesAsync(T, "jobs", [ids[2]], ignoreClaims: true);
        await PostAsync(f, "b", 6);
        await RefusedAsync(f, "b");

        Assert.Single(await q.PopAsync(T, "b", 1));
        await PostAsync(f, "jobs", 7);
        await RefusedAsync(f, "jobs");

        await q.PurgeAsync(T, "b"); // two
        await PostAsync(f, "c", 8, 9);
        await RefusedAsync(f, "c");

        await q.DeleteAsync(T, "c"); // two
        await PostAsync(f, "d", 10, 11);
        await RefusedAsync(f, "d");
    }

    [Fact]
    public async Task ExpiredMessages_FreeRoomOnceSwept()
    {
        await using var f = await New(max: 3).StartAsync();
        var q = f.Engine.Queues;
        await q.PostAsync(T, "a", Poster, [Body(1, Minute), Body(2, Minute)]);
        await PostAsync(f, "b", 3);
        await RefusedAsync(f, "b");

        f.Time.Advance(TimeSpan.FromMinutes(2));
        await f.Engine.SweepExpiredAsync();
        await f.SettleAsync();
        await PostAsync(f, "b", 4, 5);
        await RefusedAsync(f, "a");
    }

    [Fact]
    public async Task TheCount_SurvivesARestart_OnTheSameStore()
    {
        await using var f = await New(max: 3).StartAsync();
        var ids = await PostAsync(f, "a", 1, 2);
        await PostAsync(f, "b", 3);
        await f.SettleAsync();

        await using var restarted = new DaakiaEngine(f.Store, f.Options, f.Time);
        await restarted.StartAsync();
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => restarted.Queues.PostAsync(T, "c", Poster, [Body(4)]));
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        await restarted.Queues.DeleteMessagesAsync(T, "a", [ids[0]], ignoreClaims: true);
        await restarted.Queues.PostAsync(T, "c", Poster, [Body(5)]);
        Assert.Equal(3, (await restarted.Queues.StatsAsync(T, "a")).Total + (await restarted.Queues.StatsAsync(T, "b")).Total + (await restarted.Queues.StatsAsync(T, "c")).Total);
    }
}

public sealed class NamedQueueQuotaTestsOnMemoryStore : NamedQueueQuotaTests
{
    protected override bool OnChaosStore => false;
}

public sealed class NamedQueueQuotaTestsOnChaosStore : NamedQueueQuotaTests
{
    protected override bool OnChaosStore => true;
}
