using System.Text;

namespace Daakia.Core.Tests;

/// <summary>
/// Named-queue message lifetimes moved by claims and dead letters, on a fake clock (Zaqar's semantics,
/// docs/zaqar-wire.md §6.1, §6.4): a claim keeps its messages alive until it and its grace have passed, a renewal
/// again, and a message moved to the dead-letter queue gets that queue's TTL. Runs on the in-memory and the chaos store.
/// </summary>
public abstract class NamedQueueExpiryTests
{
    protected abstract bool OnChaosStore { get; }

    private protected EngineFixture New() => new(chaos: OnChaosStore);

    private protected static readonly TenantId T = EngineFixture.Tenant;
    private protected static readonly ClientId Poster = EngineFixture.Id("poster");
    private protected static readonly ClientId Worker = EngineFixture.Id("worker");
    private protected static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    private protected static TimeSpan Seconds(int s) => TimeSpan.FromSeconds(s);

    private protected static NewQueueMessage Body(int n, TimeSpan? ttl = null) => new(Encoding.UTF8.GetBytes($"{{\"n\":{n}}}"), ttl);

    private protected static int N(QueueMessage m) => int.Parse(Encoding.UTF8.GetString(m.Body.Span)[5..^1], System.Globalization.CultureInfo.InvariantCulture);

    private protected static async Task<List<int>> ListedAsync(EngineFixture f, string queue, bool claimed = false) =>
        [.. (await f.Engine.Queues.ListAsync(T, queue, Worker, null, 20, true, claimed, false)).Messages.Select(N)];

    private protected static async Task<QueueMessage> OneAsync(EngineFixture f, string queue, Guid id) =>
        Assert.Single(await f.Engine.Queues.GetAsync(T, queue, [id]));

    [Fact]
    public async Task AClaimLongerThanAMessagesTtl_KeepsItAliveAndClaimedByNobodyElse_UntilTheClaimEnds_ThenItIsVisible_AndExpiresAtTheClaimPlusGrace()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        var t0 = f.Time.GetUtcNow();
        var ids = await q.PostAsync(T, "jobs", Poster, [Body(1, ttl: Minute), Body(2, ttl: TimeSpan.FromHours(1))]);
        f.Time.Advance(Seconds(30));

        // Claimed at 30 s for 120 s + 60 s grace: 1 would expire at 60 s, so it lives until 210 s (as Zaqar: ttl =
        // claim ttl + grace, age from the post); 2 lives longer anyway and keeps its own.
        var claim = await q.ClaimAsync(T, "jobs", Seconds(120), Minute, 5);
        Assert.Equal([1, 2], claim.Messages.Select(N));
        Assert.Equal((t0 + Seconds(210), (TimeSpan?)Seconds(180)), (claim.Messages[0].ExpiresAt, claim.Messages[0].Ttl));
        Assert.Equal((t0 + TimeSpan.FromHours(1), (TimeSpan?)TimeSpan.FromHours(1)), (claim.Messages[1].ExpiresAt, claim.Messages[1].Ttl));
        var listed = (await q.ListAsync(T, "jobs", Worker, null, 20, true, true, false)).Messages;
        Assert.Equal([Seconds(180), TimeSpan.FromHours(1)], listed.Select(m => m.Ttl!.Value));
        Assert.Equal(Seconds(180), (await q.GetClaimAsync(T, "jobs", claim.Claim!.Id))!.Messages[0].Ttl);

        // Past its own TTL: still there, still claimed, swept by nobody, claimable by nobody.
        f.Time.Advance(Seconds(90)); // 120 s
        await f.Engine.SweepExpiredAsync();
        await f.SettleAsync();
        Assert.Equal(t0 + Seconds(210), (await OneAsync(f, "jobs", ids[0])).ExpiresAt);
        Assert.Equal([1, 2], await ListedAsync(f, "jobs", claimed: true));
        Assert.Empty(await ListedAsync(f, "jobs"));
        Assert.Null((await q.ClaimAsync(T, "jobs", Minute, Minute, 5)).Claim);
        Assert.Equal(2, (await q.StatsAsync(T, "jobs")).Claimed);

        // The claim ended at 150 s: visible again, for its grace.
        f.Time.Advance(Seconds(30)); // 150 s
        Assert.Equal([1, 2], await ListedAsync(f, "jobs"));
        Assert.Equal(Seconds(210), (await OneAsync(f, "jobs", ids[0])).Ttl); // no live claim: from its post to its expiry
        f.Time.Advance(Seconds(59)); // 209 s
        Assert.Equal([1, 2], await ListedAsync(f, "jobs"));

        // Expired at the new time: gone from reads, and the sweep removes it (recorded as expired).
        f.Time.Advance(Seconds(1)); // 210 s
        Assert.Equal([2], await ListedAsync(f, "jobs"));
        Assert.Empty(await q.GetAsync(T, "jobs", [ids[0]]));
        await f.Engine.SweepExpiredAsync();
        await f.SettleAsync();
        Assert.Equal(1, (await q.StatsAsync(T, "jobs")).Total);
        var expired = (await f.Engine.Activity.ReadAsync(T, 0, 100)).Single(a => a.Kind == ActivityKinds.Expired);
        Assert.Equal(ids[0].ToString(), expired.Detail);
    }

    [Fact]
    public async Task ARenewedClaim_KeepsItsMessagesAliveAgain_UntilTheRenewalAndItsGraceHavePassed_AndNeverShortensThem()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        var t0 = f.Time.GetUtcNow();
        var ids = await q.PostAsync(T, "jobs", Poster, [Body(1, ttl: Minute)]);
        var claim = (await q.ClaimAsync(T, "jobs", Minute, Minute, 1)).Claim!;
        Assert.Equal(t0 + Seconds(120), (await OneAsync(f, "jobs", ids[0])).ExpiresAt);

        f.Time.Advance(Seconds(50));
        Assert.True(await q.RenewClaimAsync(T, "jobs", claim.Id, Seconds(120), Minute));
        var renewed = await OneAsync(f, "jobs", ids[0]);
        Assert.Equal((t0 + Seconds(230), (TimeSpan?)Seconds(180)), (renewed.ExpiresAt, renewed.Ttl));

        // A renewal shorter than what the message has left does not shorten it.
        f.Time.Advance(Seconds(10)); // 60 s
        Assert.True(await q.RenewClaimAsync(T, "jobs", claim.Id, Minute, Seconds(0)));
        Assert.Equal(t0 + Seconds(230), (await OneAsync(f, "jobs", ids[0])).ExpiresAt);

        f.Time.Advance(Seconds(61)); // 121 s: the claim ended, the message (first TTL 60 s, first claim 120 s) is still there
        Assert.Equal([1], await ListedAsync(f, "jobs"));
        f.Time.Advance(Seconds(108)); // 229 s
        Assert.Equal([1], await ListedAsync(f, "jobs"));
        f.Time.Advance(Seconds(1)); // 230 s
        Assert.Empty(await ListedAsync(f, "jobs"));
    }

    [Fact]
    public async Task AMessageMovedToTheDeadLetterQueue_GetsTheSourceQueuesDeadLetterTtl_InTheMovesOwnWrite()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        var t0 = f.Time.GetUtcNow();
        await q.CreateAsync(T, "jobs", EngineFixture.Json("{}"), new NamedQueueSettings { MaxClaimCount = 1, DeadLetterQueue = "jobs-dead", DeadLetterTtl = TimeSpan.FromMinutes(10) });
        await q.CreateAsync(T, "plain", EngineFixture.Json("{}"), new NamedQueueSettings { MaxClaimCount = 1, DeadLetterQueue = "plain-dead" });
        var ids = await q.PostAsync(T, "jobs", Poster, [Body(1, ttl: TimeSpan.FromHours(1)), Body(2, ttl: Minute)]);
        var plain = await q.PostAsync(T, "plain", Poster, [Body(3, ttl: TimeSpan.FromHours(1))]);
        foreach (var name in new[] { "jobs", "plain" })
        {
            var first = await q.ClaimAsync(T, name, Minute, Minute, 2);
            await q.ReleaseClaimAsync(T, name, first.Claim!.Id);
        }

        // At 30 s the next claims move them: the dead-letter TTL replaces what they had, shorter (1) or longer (2);
        // without one (plain) a moved message keeps its expiry.
        f.Time.Advance(Seconds(30));
        Assert.Null((await q.ClaimAsync(T, "jobs", Minute, Minute, 5)).Claim);
        Assert.Null((await q.ClaimAsync(T, "plain", Minute, Minute, 5)).Claim);
        Assert.Equal([1, 2], await ListedAsync(f, "jobs-dead"));
        var moved = await q.GetAsync(T, "jobs-dead", ids);
        Assert.All(moved, m => Assert.Equal(t0 + Seconds(630), m.ExpiresAt));
        Assert.Equal(TimeSpan.FromHours(1), (await OneAsync(f, "plain-dead", plain[0])).Ttl);

        f.Time.Advance(TimeSpan.FromMinutes(10)); // 630 s
        Assert.Empty(await ListedAsync(f, "jobs-dead"));
        Assert.Equal([3], await ListedAsync(f, "plain-dead"));
    }

    [Fact]
    public async Task AClaimsExtension_SurvivesARestart_AndStillReadsAsTheClaimsTtlPlusGrace()
    {
        await using var f = await New().StartAsync();
        var ids = await f.Engine.Queues.PostAsync(T, "jobs", Poster, [Body(1, ttl: Minute)]);
        f.Time.Advance(TimeSpan.FromMilliseconds(12_345.678)); // not on a millisecond: the store rounds, the claim record too
        var claim = await f.Engine.Queues.ClaimAsync(T, "jobs", Seconds(300), Minute, 1);
        await f.SettleAsync();

        await using var restarted = new DaakiaEngine(f.Store, f.Options, f.Time);
        await restarted.StartAsync();
        var got = await restarted.Queues.GetClaimAsync(T, "jobs", claim.Claim!.Id);
        Assert.Equal(Seconds(360), Assert.Single(got!.Messages).Ttl);
        f.Time.Advance(Seconds(300)); // the claim ended; alive for its grace
        Assert.Single(await restarted.Queues.GetAsync(T, "jobs", ids));
        f.Time.Advance(Seconds(60));
        Assert.Empty(await restarted.Queues.GetAsync(T, "jobs", ids));
    }
}

public sealed class NamedQueueExpiryTestsOnMemoryStore : NamedQueueExpiryTests
{
    protected override bool OnChaosStore => false;
}

public sealed class NamedQueueExpiryTestsOnChaosStore : NamedQueueExpiryTests
{
    protected override bool OnChaosStore => true;

    [Fact]
    public async Task AClaimOrRenewalWhoseWriteFails_LeavesTheMessagesExpiryAsItWas()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        var t0 = f.Time.GetUtcNow();
        var ids = await q.PostAsync(T, "jobs", Poster, [Body(1, ttl: Minute), Body(2, ttl: Minute)]);
        f.Chaos!.FailWhen = op => op == "write";
        await Assert.ThrowsAnyAsync<Exception>(() => q.ClaimAsync(T, "jobs", Seconds(300), Minute, 1));
        f.Chaos.FailWhen = null;
        var one = await OneAsync(f, "jobs", ids[0]);
        Assert.Equal((t0 + Minute, (TimeSpan?)Minute, (Guid?)null), (one.ExpiresAt, one.Ttl, one.ClaimId));

        // A claim that was made, and a renewal that failed: the claim's own extension stays, the renewal's never came.
        var claim = (await q.ClaimAsync(T, "jobs", Minute, Minute, 1)).Claim!;
        f.Chaos.FailWhen = op => op == "write";
        await Assert.ThrowsAnyAsync<Exception>(() => q.RenewClaimAsync(T, "jobs", claim.Id, Seconds(600), Minute));
        f.Chaos.FailWhen = null;
        Assert.Equal(t0 + Seconds(120), (await OneAsync(f, "jobs", ids[0])).ExpiresAt);

        f.Time.Advance(Minute); // 2's own TTL passed; 1 lives on to the first claim's end plus grace, no further
        Assert.Equal([1], await ListedAsync(f, "jobs", claimed: true));
        f.Time.Advance(Minute);
        Assert.Empty(await ListedAsync(f, "jobs", claimed: true));
    }
}
