using System.Text;
using Daakia.Core.Storage;
using Daakia.Testing;

namespace Daakia.Core.Tests;

/// <summary>
/// Named queues (Zaqar's semantics) through <see cref="QueueService"/>: queues, posts, listing by marker, claims and
/// their expiry on a fake clock, deletes under claims, dead letters, pop, stats, tenancy, and a restart. Runs on the
/// in-memory store and on the chaos store (late, out-of-order completions).
/// </summary>
public abstract class NamedQueueTests
{
    protected abstract bool OnChaosStore { get; }

    private EngineFixture New(Action<DaakiaCoreOptions>? configure = null) => new(configure, OnChaosStore);

    private static readonly TenantId T = EngineFixture.Tenant;
    private static readonly TenantId Other = TenantId.Parse("other-project");
    private static readonly ClientId Poster = EngineFixture.Id("poster");
    private static readonly ClientId Worker = EngineFixture.Id("worker");
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    private static NewQueueMessage Body(int n, TimeSpan? ttl = null, TimeSpan? delay = null) =>
        new(Encoding.UTF8.GetBytes($"{{\"n\":{n}}}"), ttl, delay);

    private static int N(QueueMessage m) => int.Parse(Encoding.UTF8.GetString(m.Body.Span)[5..^1], System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<IReadOnlyList<Guid>> PostAsync(EngineFixture f, string queue, params int[] ns) =>
        await f.Engine.Queues.PostAsync(T, queue, Poster, [.. ns.Select(n => Body(n))]);

    private static Task<QueueMessagePage> ListAsync(EngineFixture f, string queue, long? marker = null, int limit = 20, bool echo = true, bool claimed = false, bool delayed = false) =>
        f.Engine.Queues.ListAsync(T, queue, Worker, marker, limit, echo, claimed, delayed);

    [Fact]
    public async Task Queues_AreMadeOnce_Listed_ByNameAfterAMarker_TheirMetadataReplaced_AndDeleted()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        Assert.True(await q.CreateAsync(T, "b-jobs", EngineFixture.Json("{\"a\":1}"), new NamedQueueSettings { MaxClaimCount = 3 }));
        Assert.False(await q.CreateAsync(T, "b-jobs", EngineFixture.Json("{\"a\":2}"), NamedQueueSettings.None)); // kept as it was
        Assert.True(await q.CreateAsync(T, "a.jobs", EngineFixture.Json("{}"), NamedQueueSettings.None));
        await PostAsync(f, "c_lazy", 1); // made by its first post
        Assert.Equal(["a.jobs", "b-jobs", "c_lazy"], q.List(T, null, 10).Select(i => i.Name));
        Assert.Equal(["b-jobs"], q.List(T, "a.jobs", 1).Select(i => i.Name));
        Assert.Equal("{\"a\":1}", Encoding.UTF8.GetString(q.Get(T, "b-jobs")!.Metadata.Span));
        Assert.Equal(3, q.Get(T, "b-jobs")!.Settings.MaxClaimCount);

        Assert.True(await q.SetMetadataAsync(T, "b-jobs", EngineFixture.Json("{\"b\":2}"), NamedQueueSettings.None));
        Assert.False(await q.SetMetadataAsync(T, "never", EngineFixture.Json("{}"), NamedQueueSettings.None));
        Assert.Equal("{\"b\":2}", Encoding.UTF8.GetString(q.Get(T, "b-jobs")!.Metadata.Span));

        await q.DeleteAsync(T, "c_lazy");
        await q.DeleteAsync(T, "never"); // nothing to delete is no error
        Assert.Null(q.Get(T, "c_lazy"));
        Assert.Empty((await ListAsync(f, "c_lazy")).Messages);
        Assert.Equal(["a.jobs", "b-jobs"], q.List(T, null, 10).Select(i => i.Name));

        var bad = await Assert.ThrowsAsync<DaakiaException>(() => q.CreateAsync(T, "no spaces", EngineFixture.Json("{}"), NamedQueueSettings.None));
        Assert.Equal(DaakiaErrorCode.InvalidArgument, bad.Code);
        await Assert.ThrowsAsync<DaakiaException>(() => q.CreateAsync(T, new string('x', 65), EngineFixture.Json("{}"), NamedQueueSettings.None));
    }

    [Fact]
    public async Task Posted_AreListedOldestFirst_ByMarker_WithoutTheirOwnUnlessEcho_AndExpiredOrDelayedOnesHidden()
    {
        await using var f = await New().StartAsync();
        await PostAsync(f, "jobs", 1, 2, 3);
        await f.Engine.Queues.PostAsync(T, "jobs", Worker, [Body(4)]); // the lister's own
        await f.Engine.Queues.PostAsync(T, "jobs", Poster, [Body(5, ttl: Minute), Body(6, delay: TimeSpan.FromSeconds(30))]);

        var first = await ListAsync(f, "jobs", limit: 2);
        Assert.Equal([1, 2], first.Messages.Select(N));
        var rest = await ListAsync(f, "jobs", marker: first.NextMarker);
        Assert.Equal([3, 4, 5], rest.Messages.Select(N));
        Assert.Equal([1, 2, 3, 5], (await ListAsync(f, "jobs", echo: false)).Messages.Select(N));
        Assert.Equal([1, 2, 3, 4, 5, 6], (await ListAsync(f, "jobs", delayed: true)).Messages.Select(N));

        f.Time.Advance(TimeSpan.FromSeconds(31)); // 6 is due
        Assert.Equal([1, 2, 3, 4, 5, 6], (await ListAsync(f, "jobs")).Messages.Select(N));
        f.Time.Advance(Minute); // 5's TTL passed
        Assert.Equal([1, 2, 3, 4, 6], (await ListAsync(f, "jobs")).Messages.Select(N));
        Assert.Empty((await ListAsync(f, "jobs", marker: (await ListAsync(f, "jobs")).NextMarker)).Messages);
    }

    [Fact]
    public async Task Posts_AreCheckedWhole_ATtlOrDelayOutOfRange_OrAPostTooLarge_StoresNothing()
    {
        await using var f = await New(o => o.MaxQueuePostBytes = 1024).StartAsync();
        var q = f.Engine.Queues;
        await Assert.ThrowsAsync<DaakiaException>(() => q.PostAsync(T, "jobs", Poster, [Body(1), Body(2, ttl: TimeSpan.FromSeconds(59))]));
        await Assert.ThrowsAsync<DaakiaException>(() => q.PostAsync(T, "jobs", Poster, [Body(1, delay: TimeSpan.FromSeconds(901))]));
        var large = await Assert.ThrowsAsync<DaakiaException>(() => q.PostAsync(T, "jobs", Poster, [new NewQueueMessage(new byte[1025])]));
        Assert.Equal(DaakiaErrorCode.PayloadTooLarge, large.Code);
        await Assert.ThrowsAsync<DaakiaException>(() => q.PostAsync(T, "jobs", Poster, []));
        Assert.Null(q.Get(T, "jobs")); // a refused first post makes no queue
        Assert.Equal(0, (await q.StatsAsync(T, "jobs")).Total);
    }

    [Fact]
    public async Task AClaim_TakesTheOldestClaimable_HidesThemFromOtherClaims_UntilItExpires_ThenTheyComeBackCountedTwice()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        await PostAsync(f, "jobs", 1, 2, 3);
        var a = await q.ClaimAsync(T, "jobs", Minute, Minute, 2);
        Assert.Equal([1, 2], a.Messages.Select(N));
        Assert.All(a.Messages, m => Assert.Equal((1, a.Claim!.Id), (m.ClaimCount, m.ClaimId)));
        var b = await q.ClaimAsync(T, "jobs", Minute, Minute, 5);
        Assert.Equal([3], b.Messages.Select(N));
        var none = await q.ClaimAsync(T, "jobs", Minute, Minute, 5);
        Assert.Null(none.Claim);
        Assert.Empty(none.Messages);

        // Listing: claimed ones only when asked for.
        Assert.Empty((await ListAsync(f, "jobs")).Messages);
        Assert.Equal([1, 2, 3], (await ListAsync(f, "jobs", claimed: true)).Messages.Select(N));
        var got = await q.GetClaimAsync(T, "jobs", a.Claim!.Id);
        Assert.Equal([1, 2], got!.Messages.Select(N));

        f.Time.Advance(Minute + TimeSpan.FromSeconds(1));
        Assert.Null(await q.GetClaimAsync(T, "jobs", a.Claim.Id));
        var again = await q.ClaimAsync(T, "jobs", Minute, Minute, 5);
        Assert.Equal([1, 2, 3], again.Messages.Select(N));
        Assert.All(again.Messages, m => Assert.Equal(2, m.ClaimCount));
    }

    [Fact]
    public async Task AClaim_Renewed_LastsFromTheRenewal_AndReleased_LeavesItsMessagesClaimable()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        await PostAsync(f, "jobs", 1, 2);
        var a = await q.ClaimAsync(T, "jobs", Minute, Minute, 1);
        f.Time.Advance(TimeSpan.FromSeconds(50));
        Assert.True(await q.RenewClaimAsync(T, "jobs", a.Claim!.Id, TimeSpan.FromMinutes(2), Minute));
        f.Time.Advance(TimeSpan.FromSeconds(70)); // past the first ttl, within the renewed one
        Assert.NotNull(await q.GetClaimAsync(T, "jobs", a.Claim.Id));
        Assert.Equal([2], (await q.ClaimAsync(T, "jobs", Minute, Minute, 5)).Messages.Select(N));

        await q.ReleaseClaimAsync(T, "jobs", a.Claim.Id);
        await q.ReleaseClaimAsync(T, "jobs", Guid.NewGuid()); // none: no error
        Assert.False(await q.RenewClaimAsync(T, "jobs", a.Claim.Id, Minute, Minute));
        var back = await q.ClaimAsync(T, "jobs", Minute, Minute, 5);
        Assert.Equal([1], back.Messages.Select(N));
        Assert.Equal(2, back.Messages[0].ClaimCount); // a release keeps the count

        await Assert.ThrowsAsync<DaakiaException>(() => q.ClaimAsync(T, "jobs", TimeSpan.FromSeconds(59), Minute, 1));
        await Assert.ThrowsAsync<DaakiaException>(() => q.ClaimAsync(T, "jobs", Minute, Minute, 21));
    }

    [Fact]
    public async Task AClaimedMessage_IsDeletedOnlyWithItsClaim_AsZaqarAnswers_ButByIdsWithoutAsking()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        var ids = await PostAsync(f, "jobs", 1, 2, 3, 4);
        var a = await q.ClaimAsync(T, "jobs", Minute, Minute, 2);
        var b = await q.ClaimAsync(T, "jobs", Minute, Minute, 1);

        var noClaim = await Assert.ThrowsAsync<DaakiaException>(() => q.DeleteMessagesAsync(T, "jobs", [ids[0]]));
        Assert.Equal(DaakiaErrorCode.Forbidden, noClaim.Code);
        var wrong = await Assert.ThrowsAsync<DaakiaException>(() => q.DeleteMessagesAsync(T, "jobs", [ids[0]], b.Claim!.Id));
        Assert.Equal(DaakiaErrorCode.Forbidden, wrong.Code);
        var unknown = await Assert.ThrowsAsync<DaakiaException>(() => q.DeleteMessagesAsync(T, "jobs", [ids[0]], Guid.NewGuid()));
        Assert.Equal(DaakiaErrorCode.InvalidArgument, unknown.Code);
        var unclaimed = await Assert.ThrowsAsync<DaakiaException>(() => q.DeleteMessagesAsync(T, "jobs", [ids[3]], a.Claim!.Id));
        Assert.Equal(DaakiaErrorCode.InvalidArgument, unclaimed.Code);

        await q.DeleteMessagesAsync(T, "jobs", [ids[0]], a.Claim!.Id);
        await q.DeleteMessagesAsync(T, "jobs", [ids[0]], a.Claim.Id); // gone already: a retried delete is no error
        await q.DeleteMessagesAsync(T, "jobs", [ids[2], ids[3]], ignoreClaims: true); // Zaqar's delete by ids
        await q.DeleteMessagesAsync(T, "jobs", [Guid.NewGuid()]); // not there: no error
        Assert.Equal([2], (await ListAsync(f, "jobs", claimed: true)).Messages.Select(N));
        Assert.Equal([2], (await q.GetClaimAsync(T, "jobs", a.Claim.Id))!.Messages.Select(N));
        Assert.Null(await q.GetClaimAsync(T, "jobs", b.Claim!.Id)); // it held only what was deleted
        var stats = await q.StatsAsync(T, "jobs");
        Assert.Equal((0L, 1L, 1L), (stats.Free, stats.Claimed, stats.Total));
    }

    [Fact]
    public async Task AMessageClaimedMaxClaimCountTimes_MovesToTheDeadLetterQueue_OnTheNextClaim()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        await q.CreateAsync(T, "jobs", EngineFixture.Json("{}"), new NamedQueueSettings { MaxClaimCount = 2, DeadLetterQueue = "jobs-dead" });
        await PostAsync(f, "jobs", 1, 2);
        for (var round = 1; round <= 2; round++)
        {
            var c = await q.ClaimAsync(T, "jobs", Minute, Minute, 1);
            Assert.Equal([1], c.Messages.Select(N));
            Assert.Equal(round, c.Messages[0].ClaimCount);
            await q.ReleaseClaimAsync(T, "jobs", c.Claim!.Id);
        }

        // 1 moves in the same write, and the claim takes the next claimable message instead (Zaqar's would come back
        // empty).
        var next = await q.ClaimAsync(T, "jobs", Minute, Minute, 1);
        Assert.Equal([2], next.Messages.Select(N));
        Assert.Empty((await q.ClaimAsync(T, "jobs", Minute, Minute, 5)).Messages);
        Assert.Equal([1], (await ListAsync(f, "jobs-dead")).Messages.Select(N));
        Assert.NotNull(q.Get(T, "jobs-dead"));
    }

    [Fact]
    public async Task APop_TakesTheOldestClaimable_AndTheyAreGone()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        await PostAsync(f, "jobs", 1, 2, 3);
        await q.ClaimAsync(T, "jobs", Minute, Minute, 1);
        Assert.Equal([2, 3], (await q.PopAsync(T, "jobs", 5)).Select(N));
        Assert.Empty(await q.PopAsync(T, "jobs", 5));
        Assert.Empty(await q.PopAsync(T, "never", 5));
        Assert.Equal(1, (await q.StatsAsync(T, "jobs")).Total);
    }

    [Fact]
    public async Task Stats_CountFreeClaimedAndTotal_WithTheOldestAndNewest_AndPurge_EmptiesTheQueueAndItsClaims()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        await PostAsync(f, "jobs", 1, 2, 3);
        await q.ClaimAsync(T, "jobs", Minute, Minute, 1);
        var s = await q.StatsAsync(T, "jobs");
        Assert.Equal((2L, 1L, 3L, 1, 3), (s.Free, s.Claimed, s.Total, N(s.Oldest!), N(s.Newest!)));
        Assert.NotNull(s.Oldest!.ClaimId);

        await q.PurgeAsync(T, "jobs");
        Assert.Equal(0, (await q.StatsAsync(T, "jobs")).Total);
        Assert.NotNull(q.Get(T, "jobs")); // the queue stays
        await PostAsync(f, "jobs", 4);
        Assert.Equal([4], (await q.ClaimAsync(T, "jobs", Minute, Minute, 5)).Messages.Select(N));
    }

    [Fact]
    public async Task NothingOfOneTenant_IsReachableFromAnother_NotEvenByItsIds()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        var ids = await PostAsync(f, "jobs", 1);
        var claim = await q.ClaimAsync(T, "jobs", Minute, Minute, 1);

        Assert.Empty(q.List(Other, null, 10));
        Assert.Null(q.Get(Other, "jobs"));
        Assert.Empty(await q.GetAsync(Other, "jobs", ids));
        Assert.Empty((await q.ListAsync(Other, "jobs", Worker, null, 10, true, true, true)).Messages);
        Assert.Null(await q.GetClaimAsync(Other, "jobs", claim.Claim!.Id));
        Assert.False(await q.RenewClaimAsync(Other, "jobs", claim.Claim.Id, Minute, Minute));
        await q.ReleaseClaimAsync(Other, "jobs", claim.Claim.Id);
        await q.DeleteMessagesAsync(Other, "jobs", ids, ignoreClaims: true);
        await q.PurgeAsync(Other, "jobs");
        await q.DeleteAsync(Other, "jobs");
        Assert.Empty(await q.PopAsync(Other, "jobs", 5));
        Assert.Equal(0, (await q.StatsAsync(Other, "jobs")).Total);

        // All of it still there, still claimed, for its own tenant.
        Assert.Equal([1], (await q.GetAsync(T, "jobs", ids)).Select(N));
        Assert.NotNull(await q.GetClaimAsync(T, "jobs", claim.Claim.Id));
    }

    [Fact]
    public async Task APostRepeatedWithItsIdempotencyKey_StoresNothingAgain_AndAnswersTheFirstIds_AlsoAfterARestart()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        var first = await q.PostAsync(T, "jobs", Poster, [Body(1), Body(2)], "order-17");
        var again = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => q.PostAsync(T, "jobs", Poster, [Body(1), Body(2)], "order-17")));
        Assert.All(again, ids => Assert.Equal(first, ids));
        var other = await q.PostAsync(T, "jobs", Poster, [Body(3)], "order-18");
        Assert.Equal(3, (await q.StatsAsync(T, "jobs")).Total);
        await Assert.ThrowsAsync<DaakiaException>(() => q.PostAsync(T, "jobs", Poster, [Body(4)], "has space"));

        await using var restarted = new DaakiaEngine(f.Store, f.Options, f.Time);
        await restarted.StartAsync();
        Assert.Equal(first, await restarted.Queues.PostAsync(T, "jobs", Poster, [Body(1), Body(2)], "order-17"));
        Assert.Equal(3, (await restarted.Queues.StatsAsync(T, "jobs")).Total);

        // Past the window the key is forgotten (swept): the same key posts anew.
        f.Time.Advance(f.Options.QueueIdempotencyWindow + TimeSpan.FromSeconds(2));
        await f.SettleAsync();
        await using var later = new DaakiaEngine(f.Store, f.Options, f.Time);
        await later.StartAsync();
        Assert.NotEqual(first, await later.Queues.PostAsync(T, "jobs", Poster, [Body(1)], "order-17"));
        Assert.NotEqual(other, first);
    }

    [Fact]
    public async Task IdempotencyKeys_AreBoundedInBytes_AndFreedWhenTheirWindowEnds()
    {
        // 1,024 bytes: two 128-character keys of one id each (2 × 368 B) fit, a third does not.
        await using var f = await New(o => (o.MaxIdempotencyBytesPerQueue, o.MaxMessagesPerPost) = (1024, 10)).StartAsync();
        var q = f.Engine.Queues;
        string Key(char c) => new(c, 128);
        var a = await q.PostAsync(T, "jobs", Poster, [Body(1)], Key('a'));
        await q.PostAsync(T, "jobs", Poster, [Body(2)], Key('b'));
        var refused = await Assert.ThrowsAsync<DaakiaException>(() => q.PostAsync(T, "jobs", Poster, [Body(3)], Key('c')));
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, refused.Code);
        Assert.Equal(2, (await q.StatsAsync(T, "jobs")).Total); // the refused post stored nothing

        // A remembered key still answers, and a post without a key is not held to the bound.
        Assert.Equal(a, await q.PostAsync(T, "jobs", Poster, [Body(1)], Key('a')));
        await q.PostAsync(T, "jobs", Poster, [Body(4)]);
        Assert.Equal(3, (await q.StatsAsync(T, "jobs")).Total);

        // Past the window the swept keys give their bytes back: a new key fits again.
        f.Time.Advance(f.Options.QueueIdempotencyWindow + TimeSpan.FromSeconds(2));
        await f.SettleAsync();
        await Eventually.True(async () =>
        {
            try
            {
                await q.PostAsync(T, "jobs", Poster, [Body(5)], Key('c'));
                return true;
            }
            catch (DaakiaException ex) when (ex.Code == DaakiaErrorCode.QuotaExceeded)
            {
                f.Time.Advance(TimeSpan.FromSeconds(1));
                return false;
            }
        }, "the expired keys are swept and their bytes freed");
    }

    [Fact]
    public void RemovedIdsRememberedForCandidateReads_StayBounded_WhenReadsOverlapWithoutEnd()
    {
        // Claims read their candidates outside the lock; ids removed meanwhile are remembered for them. With reads that
        // always overlap (never none in flight), what is remembered is let go by generations, not kept for ever.
        var q = new NamedQueueState(new NamedQueueInfo("jobs", "{}"u8.ToArray(), NamedQueueSettings.None, DateTimeOffset.UnixEpoch));
        var previous = q.BeginRead();
        var peak = 0;
        for (var round = 0; round < 200; round++)
        {
            var current = q.BeginRead(); // starts before the previous one ends: the two overlap
            var removed = Enumerable.Range(0, 100).Select(_ => Guid.NewGuid()).ToList();
            q.Removing(removed);
            Assert.All(removed, id => Assert.True(q.RemovedDuring(current, id))); // a read sees what went while it ran
            Assert.All(removed, id => Assert.True(q.RemovedDuring(previous, id)));
            q.EndRead(previous);
            Assert.True(q.Reading);
            Assert.All(removed, id => Assert.True(q.RemovedDuring(current, id))); // still, after the older one ended
            peak = Math.Max(peak, q.RemovedCount);
            previous = current;
        }

        // 20,000 ids removed under reads that never all ended: only what the two reads in flight overlap on stayed.
        Assert.InRange(peak, 100, 200);
        var late = q.BeginRead();
        Assert.False(q.RemovedDuring(late, Guid.NewGuid())); // an id never removed
        var released = Guid.NewGuid();
        q.Removing([released]); // noted for the reads in flight…
        Assert.True(q.RemovedDuring(late, released));
        Assert.False(q.RemovedDuring(q.BeginRead(), released)); // …not for one that began after (a release: claimable again)
        q.EndRead(previous);
        q.EndRead(late);
        Assert.True(q.Reading); // the read begun after the release, which needs none of them
        Assert.Equal(0, q.RemovedCount);
    }

    [Fact]
    public void AnIdempotencyKeyReplacingItself_FitsOnlyIfItsGrowthFits()
    {
        // An expired or failed key not yet swept is replaced by the next post with it: it takes no new place, but a
        // larger one may not push the bytes past the bound.
        var keys = new IdempotencyKeys();
        var ids = Task.FromResult<IReadOnlyList<Guid>>([]);
        var one = IdempotencyKeys.SizeOf("a", 1);
        keys.Set("a", DateTimeOffset.UnixEpoch, ids, one);
        keys.Set("b", DateTimeOffset.UnixEpoch, ids, one);
        var max = 2L * one;

        Assert.False(keys.Fits("c", one, maxKeys: 10, max)); // a new key past the bytes
        Assert.False(keys.Fits("c", 1, maxKeys: 2, maxBytes: long.MaxValue)); // a new key past the count
        Assert.True(keys.Fits("a", one, maxKeys: 2, max)); // the same size replaces itself
        Assert.False(keys.Fits("a", IdempotencyKeys.SizeOf("a", 5), maxKeys: 10, max)); // grown past the bytes
        Assert.True(keys.Fits("a", IdempotencyKeys.SizeOf("a", 5), maxKeys: 10, max + (4 * 16)));

        keys.Set("a", DateTimeOffset.UnixEpoch, ids, IdempotencyKeys.SizeOf("a", 5));
        Assert.Equal(one + IdempotencyKeys.SizeOf("a", 5), keys.Bytes);
        Assert.Equal(2, keys.Count);
    }

    private static Task<QueueMessagePage> WaitingListAsync(EngineFixture f, string queue, TimeSpan wait, bool echo = false, long? marker = null, CancellationToken cancellationToken = default) =>
        f.Engine.Queues.ListAsync(T, queue, Worker, marker, 20, echo, false, false, wait, cancellationToken);

    /// <summary>Whether a long-poll on the queue waits for its next post.</summary>
    private static bool Awaited(EngineFixture f, string queue)
    {
        var t = f.Engine.TryTenant(T)!;
        lock (t.Gate)
        {
            return t.NamedQueues.TryGetValue(queue, out var q) && q.Awaited;
        }
    }

    /// <summary>Advances the fake clock a second at a time until <paramref name="task"/> completes.</summary>
    private static async Task<TResult> UntilDoneAsync<TResult>(EngineFixture f, Task<TResult> task)
    {
        await Eventually.True(() =>
        {
            f.Time.Advance(TimeSpan.FromSeconds(1));
            return task.IsCompleted;
        }, "the wait ends");
        return await task;
    }

    [Fact]
    public async Task AListingWithWait_IsAnsweredByAPostOfAnother_NotByTheListersOwn_AndEmptyWhenTheWaitIsOver()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        var waiting = WaitingListAsync(f, "later", TimeSpan.FromSeconds(10)); // no queue yet: a post makes it
        await q.PostAsync(T, "later", Worker, [Body(1)]); // the lister's own: not listed (no echo), so it waits on
        await Eventually.True(() => Awaited(f, "later"), "the listing woke, and waits again");
        Assert.False(waiting.IsCompleted);
        await q.PostAsync(T, "later", Poster, [Body(2)]);
        var page = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal([2], page.Messages.Select(N));

        // Nothing after the marker: empty once the wait is over on the clock.
        var empty = await UntilDoneAsync(f, WaitingListAsync(f, "later", TimeSpan.FromSeconds(3), marker: page.NextMarker));
        Assert.Empty(empty.Messages);
        Assert.False(empty.More);

        // With echo, the lister's own post answers it.
        var echo = WaitingListAsync(f, "later", TimeSpan.FromSeconds(10), echo: true, marker: page.NextMarker);
        await q.PostAsync(T, "later", Worker, [Body(3)]);
        Assert.Equal([3], (await echo.WaitAsync(TimeSpan.FromSeconds(30))).Messages.Select(N));

        await Assert.ThrowsAsync<DaakiaException>(() => WaitingListAsync(f, "later", TimeSpan.FromSeconds(21)));
        var negative = await Assert.ThrowsAsync<DaakiaException>(() => WaitingListAsync(f, "later", TimeSpan.FromSeconds(-1)));
        Assert.Equal(DaakiaErrorCode.InvalidArgument, negative.Code);
    }

    [Fact]
    public async Task AListingWithWait_IsAnsweredWhenAClaimOnItsMessagesExpires_AndEndsAtOnceWhenCancelled()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        await PostAsync(f, "jobs", 1);
        Assert.NotNull((await q.ClaimAsync(T, "jobs", Minute, Minute, 5)).Claim);
        f.Time.Advance(TimeSpan.FromSeconds(50));
        await f.SettleAsync();

        // The claim ends 10 s into a 20 s wait: the listing looks again every second, and shows the message then.
        var start = f.Time.GetUtcNow();
        var page = await UntilDoneAsync(f, WaitingListAsync(f, "jobs", TimeSpan.FromSeconds(20)));
        Assert.Equal([1], page.Messages.Select(N));
        Assert.True(f.Time.GetUtcNow() - start < TimeSpan.FromSeconds(20), "answered before the wait was over");

        using var cancel = new CancellationTokenSource();
        var waiting = WaitingListAsync(f, "empty", TimeSpan.FromSeconds(20), cancellationToken: cancel.Token);
        await cancel.CancelAsync();
        Assert.Empty((await waiting.WaitAsync(TimeSpan.FromSeconds(30))).Messages); // without the clock moving
    }

    [Fact]
    public async Task AClaimWithWait_IsMadeByAPostToAQueueThatDidNotExist_AndNoneIsMadeOnceCancelled()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        var waiting = q.ClaimAsync(T, "later", Minute, Minute, 5, TimeSpan.FromSeconds(10));
        await PostAsync(f, "later", 1);
        Assert.Equal([1], (await waiting.WaitAsync(TimeSpan.FromSeconds(30))).Messages.Select(N));

        using var cancel = new CancellationTokenSource();
        var gone = q.ClaimAsync(T, "later", Minute, Minute, 5, TimeSpan.FromSeconds(20), cancel.Token);
        await cancel.CancelAsync();
        Assert.Null((await gone.WaitAsync(TimeSpan.FromSeconds(30))).Claim);
        await PostAsync(f, "later", 2);
        Assert.Equal([2], (await q.ClaimAsync(T, "later", Minute, Minute, 5)).Messages.Select(N)); // claimable: the cancelled wait took nothing
        await Assert.ThrowsAsync<DaakiaException>(() => q.ClaimAsync(T, "later", Minute, Minute, 5, TimeSpan.FromSeconds(21)));
    }

    [Fact]
    public async Task RequestsNamingProjectsNeverSeen_LeaveNoStateBehind_UnlessTheyMakeSomething()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        for (var i = 0; i < 50; i++)
        {
            var stranger = TenantId.Parse($"stranger-{i}");
            Assert.Empty(q.List(stranger, null, 10));
            Assert.Empty((await q.ListAsync(stranger, "jobs", Worker, null, 10, true, true, true)).Messages);
            Assert.Null((await q.ClaimAsync(stranger, "jobs", Minute, Minute, 5)).Claim);
            Assert.Empty(await q.PopAsync(stranger, "jobs", 5));
            Assert.Equal(0, (await q.StatsAsync(stranger, "jobs")).Total);
            await q.DeleteMessagesAsync(stranger, "jobs", [Guid.NewGuid()], ignoreClaims: true);
            Assert.Null(f.Engine.TryTenant(stranger));
        }

        await q.PostAsync(TenantId.Parse("stranger-0"), "jobs", Poster, [Body(1)]);
        Assert.NotNull(f.Engine.TryTenant(TenantId.Parse("stranger-0"))); // a post makes its tenant, as it must
    }

    [Fact]
    public async Task ManyConcurrentClaims_NeverHandOneMessageToTwoClaims()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        await PostAsync(f, "jobs", [.. Enumerable.Range(1, 100)]);
        var claims = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(() => q.ClaimAsync(T, "jobs", Minute, Minute, 5))));
        var taken = claims.SelectMany(c => c.Messages.Select(N)).ToList();
        Assert.Equal(taken.Count, taken.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, 100), taken.Order());
    }

    [Fact]
    public async Task QueuesAndLiveClaims_SurviveARestart_OnTheSameStore_AndExpiredClaimsAreDropped()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        await q.CreateAsync(T, "jobs", EngineFixture.Json("{\"k\":\"v\"}"), new NamedQueueSettings { DefaultMessageTtl = TimeSpan.FromHours(2) });
        await PostAsync(f, "jobs", 1, 2, 3);
        var live = await q.ClaimAsync(T, "jobs", TimeSpan.FromMinutes(10), Minute, 1);
        await q.ClaimAsync(T, "jobs", Minute, Minute, 1);
        f.Time.Advance(TimeSpan.FromMinutes(2)); // the second claim expired
        await f.SettleAsync();

        await using var restarted = new DaakiaEngine(f.Store, f.Options, f.Time);
        await restarted.StartAsync();
        var info = restarted.Queues.Get(T, "jobs");
        Assert.Equal(("{\"k\":\"v\"}", (TimeSpan?)TimeSpan.FromHours(2)), (Encoding.UTF8.GetString(info!.Metadata.Span), info.Settings.DefaultMessageTtl));
        Assert.Equal([1], (await restarted.Queues.GetClaimAsync(T, "jobs", live.Claim!.Id))!.Messages.Select(N));
        // The expired claim's record is gone (swept, or dropped at start): only the live one is stored.
        var claims = (await f.Store.ReadRecordsAsync(null, 100)).Where(r => r.Kind == RecordKind.Claim).ToList();
        Assert.Equal([NamedQueueRecords.ClaimKey("jobs", live.Claim.Id)], claims.Select(r => r.Key));
        Assert.Equal([2, 3], (await restarted.Queues.ClaimAsync(T, "jobs", Minute, Minute, 5)).Messages.Select(N));
    }
}

public sealed class NamedQueueTestsOnMemoryStore : NamedQueueTests
{
    protected override bool OnChaosStore => false;
}

public sealed class NamedQueueTestsOnChaosStore : NamedQueueTests
{
    protected override bool OnChaosStore => true;

    /// <summary>Posts two messages to the queue "jobs" and returns their ids.</summary>
    private static Task<IReadOnlyList<Guid>> PostTwoAsync(EngineFixture f) =>
        f.Engine.Queues.PostAsync(EngineFixture.Tenant, "jobs", EngineFixture.Id("p"), [new NewQueueMessage("1"u8.ToArray()), new NewQueueMessage("2"u8.ToArray())]);

    [Fact]
    public async Task AClaimWhoseWriteFails_LeavesItsMessagesClaimable()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var q = f.Engine.Queues;
        await f.Engine.Queues.PostAsync(EngineFixture.Tenant, "jobs", EngineFixture.Id("p"), [new NewQueueMessage("1"u8.ToArray())]);
        f.Chaos!.FailWhen = op => op == "write";
        await Assert.ThrowsAnyAsync<Exception>(() => q.ClaimAsync(EngineFixture.Tenant, "jobs", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), 1));
        f.Chaos.FailWhen = null;
        var c = await q.ClaimAsync(EngineFixture.Tenant, "jobs", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), 1);
        Assert.Single(c.Messages);
        Assert.Equal(1, c.Messages[0].ClaimCount); // the failed claim left no trace
    }

    [Fact]
    public async Task AClaimTheStoreRefusesAtOnce_LeavesNoClaimBehind()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var q = f.Engine.Queues;
        var t = EngineFixture.Tenant;
        await q.PostAsync(t, "jobs", EngineFixture.Id("p"), [new NewQueueMessage("1"u8.ToArray())]);
        f.Chaos!.RefuseWrites = true; // the write call throws (a faulted or closed store), the read before it works
        await Assert.ThrowsAsync<DaakiaException>(() => q.ClaimAsync(t, "jobs", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), 1));
        f.Chaos.RefuseWrites = false;
        Assert.Equal(0, (await q.StatsAsync(t, "jobs")).Claimed); // no claim in memory without its record
        var c = await q.ClaimAsync(t, "jobs", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), 1);
        Assert.Single(c.Messages);
        Assert.Equal(1, c.Messages[0].ClaimCount);

        // A renewal and a release refused at once leave the claim as it was: its end, and its messages held.
        f.Chaos.RefuseWrites = true;
        await Assert.ThrowsAsync<DaakiaException>(() => q.RenewClaimAsync(t, "jobs", c.Claim!.Id, TimeSpan.FromHours(1), TimeSpan.Zero));
        await Assert.ThrowsAsync<DaakiaException>(() => q.ReleaseClaimAsync(t, "jobs", c.Claim!.Id));
        f.Chaos.RefuseWrites = false;
        var kept = await q.GetClaimAsync(t, "jobs", c.Claim!.Id);
        Assert.Equal(c.Claim.ExpiresAt, kept!.Claim!.ExpiresAt);
        Assert.Single(kept.Messages);
        Assert.Null((await q.ClaimAsync(t, "jobs", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), 1)).Claim); // still held
    }

    [Fact]
    public async Task ADeleteUnderAClaimWhoseWriteFails_LeavesTheClaimHoldingItsMessages_SoTheRetryWorks()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var q = f.Engine.Queues;
        var t = EngineFixture.Tenant;
        var ids = await PostTwoAsync(f);
        var c = await q.ClaimAsync(t, "jobs", TimeSpan.FromMinutes(5), TimeSpan.Zero, 2);

        f.Chaos!.RefuseWrites = true; // refused at once
        await Assert.ThrowsAsync<DaakiaException>(() => q.DeleteMessagesAsync(t, "jobs", [ids[0]], c.Claim!.Id));
        f.Chaos.RefuseWrites = false;
        f.Chaos.FailWhen = op => op == "write"; // failed later
        await Assert.ThrowsAsync<DaakiaException>(() => q.DeleteMessagesAsync(t, "jobs", ids, c.Claim!.Id));
        f.Chaos.FailWhen = null;

        Assert.Equal(2, (await q.GetClaimAsync(t, "jobs", c.Claim!.Id))!.Messages.Count); // the claim still holds both
        Assert.Equal(2, (await q.StatsAsync(t, "jobs")).Claimed);
        await q.DeleteMessagesAsync(t, "jobs", ids, c.Claim!.Id); // the client's retry
        Assert.Equal(0, (await q.StatsAsync(t, "jobs")).Total);
    }

    [Fact]
    public async Task ADeleteWhoseWriteFailsAfterTheClaimWasRenewed_LeavesTheRenewedClaimAsTheStoreHasIt()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var q = f.Engine.Queues;
        var t = EngineFixture.Tenant;
        var ids = await PostTwoAsync(f);
        var c = await q.ClaimAsync(t, "jobs", TimeSpan.FromMinutes(5), TimeSpan.Zero, 2);

        // The delete's write fails, but only after the claim was renewed (without the message being deleted).
        var hold = new TaskCompletionSource();
        f.Chaos!.FailWhen = op => op == "write";
        f.Chaos.HoldWhen = op => hold.Task;
        var delete = q.DeleteMessagesAsync(t, "jobs", [ids[0]], c.Claim!.Id);
        f.Chaos.FailWhen = null;
        f.Chaos.HoldWhen = null;
        Assert.True(await q.RenewClaimAsync(t, "jobs", c.Claim.Id, TimeSpan.FromMinutes(10), TimeSpan.Zero));
        hold.SetResult();
        await Assert.ThrowsAsync<DaakiaException>(() => delete);

        // The renewed claim holds what the store says it holds: the second message only (the first was hidden only
        // until the first lease), and the first is not reported as held by it.
        Assert.Equal([ids[1]], (await q.GetClaimAsync(t, "jobs", c.Claim.Id))!.Messages.Select(m => m.Id));
        await q.DeleteMessagesAsync(t, "jobs", [ids[0]]); // under no live claim now: no claim id needed
        Assert.Equal(1, (await q.StatsAsync(t, "jobs")).Total);
    }

    [Fact]
    public async Task AReleaseTheStoreRefusesAtOnce_OfAnExpiredClaim_LeavesItsMessageWithTheClaimThatTookItSince()
    {
        // No sweep of expired claims during the test: the expired claim stays in memory, as it does until its sweep.
        await using var f = await new EngineFixture(o => o.ExpirySweepInterval = TimeSpan.FromDays(1), chaos: true).StartAsync();
        var q = f.Engine.Queues;
        var t = EngineFixture.Tenant;
        var ids = await q.PostAsync(t, "jobs", EngineFixture.Id("p"), [new NewQueueMessage("1"u8.ToArray())]);
        var a = await q.ClaimAsync(t, "jobs", TimeSpan.FromMinutes(1), TimeSpan.Zero, 1);
        f.Time.Advance(TimeSpan.FromMinutes(2)); // a expired; b takes its message
        var b = await q.ClaimAsync(t, "jobs", TimeSpan.FromMinutes(5), TimeSpan.Zero, 1);
        Assert.Equal(ids, b.Messages.Select(m => m.Id));
        f.Chaos!.RefuseWrites = true;
        await Assert.ThrowsAsync<DaakiaException>(() => q.ReleaseClaimAsync(t, "jobs", a.Claim!.Id));
        f.Chaos.RefuseWrites = false;
        await q.DeleteMessagesAsync(t, "jobs", ids, b.Claim!.Id); // still b's to delete
        Assert.Equal(0, (await q.StatsAsync(t, "jobs")).Total);
    }

    [Fact]
    public async Task AMessageDeletedWhileAClaimOrAPopReadsItsCandidates_IsNeitherClaimedNorPopped()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var q = f.Engine.Queues;
        var t = EngineFixture.Tenant;
        var ids = await PostTwoAsync(f);
        var hold = new TaskCompletionSource();
        f.Chaos!.HoldReads = hold;
        var claim = q.ClaimAsync(t, "jobs", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), 1);
        var pop = q.PopAsync(t, "jobs", 1);
        await Eventually.True(() => f.Chaos.Calls.GetValueOrDefault("read-queue") >= 2, "both have read their candidates");
        await q.DeleteMessagesAsync(t, "jobs", [ids[0]], ignoreClaims: true); // a write: not held
        f.Chaos.HoldReads = null;
        hold.SetResult();

        var claimed = await claim;
        var popped = await pop;
        Assert.DoesNotContain(ids[0], claimed.Messages.Select(m => m.Id).Concat(popped.Select(m => m.Id)));
        var all = claimed.Messages.Select(m => m.Id).Concat(popped.Select(m => m.Id)).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
    }

    [Fact]
    public async Task ACreateWhoseWriteFailed_IsMadeByTheNextCreate_WithItsMetadata()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var q = f.Engine.Queues;
        var t = EngineFixture.Tenant;
        f.Chaos!.FailWhen = op => op == "write";
        await Assert.ThrowsAnyAsync<Exception>(() => q.CreateAsync(t, "jobs", EngineFixture.Json("{\"a\":1}"), NamedQueueSettings.None));
        f.Chaos.FailWhen = null;
        Assert.True(await q.CreateAsync(t, "jobs", EngineFixture.Json("{\"a\":2}"), new NamedQueueSettings { MaxClaimCount = 4 }));
        var stored = Assert.Single(await f.Store.ReadRecordsAsync(null, 10));
        Assert.Equal(4, NamedQueueRecords.DecodeQueue("jobs", stored.Value.Span).Settings.MaxClaimCount);
        Assert.False(await q.CreateAsync(t, "jobs", EngineFixture.Json("{}"), NamedQueueSettings.None));
    }
}
