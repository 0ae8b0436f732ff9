using Daakia.Core;
using Daakia.Core.Storage;
using Xunit;

namespace Daakia.Testing.StoreContract;

/// <summary>The store's side of quotas: usage accounting and refusals checked atomically with the append.</summary>
public abstract partial class StoreContractTests
{
    private static readonly string Kb = "\"" + new string('x', 998) + "\""; // 1000 bytes of payload

    [Fact]
    public async Task Quota_AppendPastMaxLetters_IsRefusedAndStoresNothing()
    {
        var quota = new InboxQuota(2, long.MaxValue, long.MaxValue);
        await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob]), [Bob], quota);
        await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob]), [Bob], quota);
        var third = NewLetter(T1, Alice, [Bob]);
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => Store.AppendLetterAsync(third, [Bob], quota).AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        Assert.Equal(2, await Store.CountInboxAsync(T1, Bob));
        Assert.DoesNotContain(third.Id, (await Store.ReadInboxAsync(T1, Bob, 0, 10)).Select(l => l.Id));
        Assert.Equal(new InboxUsage(2, 2 * (4 + InboxQuota.EntryOverhead)), await Store.GetInboxUsageAsync(T1, Bob));
    }

    [Fact]
    public async Task Quota_ByBytes_MulticastIsAllOrNothing()
    {
        var quota = new InboxQuota(long.MaxValue, 2500, long.MaxValue);
        await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob], Kb), [Bob], quota);
        await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob], Kb), [Bob], quota);
        var both = NewLetter(T1, Alice, [Carol, Bob], Kb);
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => Store.AppendLetterAsync(both, [Carol, Bob], quota).AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        Assert.Equal(0, await Store.CountInboxAsync(T1, Carol));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetInboxUsageAsync(T1, Carol));
        Assert.Equal(2, (await Store.GetInboxUsageAsync(T1, Bob)).Letters);
    }

    [Fact]
    public async Task Quota_TenantBytes_CountAllInboxes_OtherTenantsAreSeparate()
    {
        // A tenant's bytes count a payload once however many of its inboxes hold it, plus each entry.
        var multicast = 1000 + (2 * InboxQuota.EntryOverhead);
        var unicast = 1000 + InboxQuota.EntryOverhead;
        var quota = new InboxQuota(long.MaxValue, long.MaxValue, multicast + unicast + 500);
        await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob, Carol], Kb), [Bob, Carol], quota);
        await Store.AppendLetterAsync(NewLetter(T1, Alice, [Alice], Kb), [Alice], quota);
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob], Kb), [Bob], quota).AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        Assert.Equal(new InboxUsage(3, multicast + unicast), await Store.GetTenantUsageAsync(T1));
        Assert.Equal(new InboxUsage(1, unicast), await Store.GetInboxUsageAsync(T1, Carol));
        await Store.AppendLetterAsync(NewLetter(T2, Alice, [Bob], Kb), [Bob], quota);
        Assert.Equal(1, (await Store.GetTenantUsageAsync(T2)).Letters);
    }

    [Fact]
    public async Task Quota_UsageFallsWithAcksAndExpiry_AndSurvivesReopen()
    {
        var quota = new InboxQuota(3, long.MaxValue, long.MaxValue);
        var now = DateTimeOffset.UtcNow;
        var a = NewLetter(T1, Alice, [Bob], Kb);
        var b = NewLetter(T1, Alice, [Bob], Kb, expires: now.AddSeconds(-1));
        var c = NewLetter(T1, Alice, [Bob], Kb);
        foreach (var l in new[] { a, b, c })
        {
            await Store.AppendLetterAsync(l, [Bob], quota);
        }

        Assert.Equal(3, (await Store.GetInboxUsageAsync(T1, Bob)).Letters);
        Assert.Equal(1, await Store.DeleteLettersAsync(T1, Bob, [a.Id]));
        Assert.Single(await Store.RemoveExpiredAsync(now, 100));
        var expected = new InboxUsage(1, 1000 + InboxQuota.EntryOverhead);
        Assert.Equal(expected, await Store.GetInboxUsageAsync(T1, Bob));
        Assert.Equal(expected, await Store.GetTenantUsageAsync(T1));
        if (IsDurable)
        {
            await ReopenAsync();
            Assert.Equal(expected, await Store.GetInboxUsageAsync(T1, Bob));
        }

        // Room for two more after the ack and the expiry, not three.
        await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob]), [Bob], quota);
        await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob]), [Bob], quota);
        await Assert.ThrowsAsync<DaakiaException>(() => Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob]), [Bob], quota).AsTask());
    }

    [Fact]
    public async Task Quota_ConcurrentAppends_ExactlyTheQuotaIsAccepted()
    {
        var quota = new InboxQuota(5, long.MaxValue, long.MaxValue);
        var appends = Enumerable.Range(0, 12).Select(_ => NewLetter(T1, Alice, [Bob])).Select(l => Store.AppendLetterAsync(l, [Bob], quota).AsTask()).ToList();
        var outcomes = await Task.WhenAll(appends.Select(async t =>
        {
            try
            {
                await t;
                return true;
            }
            catch (DaakiaException ex) when (ex.Code == DaakiaErrorCode.QuotaExceeded)
            {
                return false;
            }
        }));
        Assert.Equal(5, outcomes.Count(o => o));
        Assert.Equal(5, await Store.CountInboxAsync(T1, Bob));
        Assert.Equal(5, (await Store.GetInboxUsageAsync(T1, Bob)).Letters);
    }

    [Fact]
    public async Task ReadInbox_StopsBeforeMaxBytes_ButAlwaysReturnsTheFirstLetter()
    {
        for (var i = 0; i < 5; i++)
        {
            await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob], Kb), [Bob]);
        }

        Assert.Equal(2, (await Store.ReadInboxAsync(T1, Bob, 0, 10, 2500)).Count);
        Assert.Single(await Store.ReadInboxAsync(T1, Bob, 0, 10, 10));
        Assert.Equal(5, (await Store.ReadInboxAsync(T1, Bob, 0, 10, long.MaxValue)).Count);
    }

    [Fact]
    public async Task Usage_AMulticastPayloadLeavesTheTenantTotalOnlyWithItsLastEntry()
    {
        var letter = NewLetter(T1, Alice, [Bob, Carol], Kb);
        await Store.AppendLetterAsync(letter, [Bob, Carol]);
        Assert.Equal(new InboxUsage(2, 1000 + (2 * InboxQuota.EntryOverhead)), await Store.GetTenantUsageAsync(T1));
        Assert.Equal(1, await Store.DeleteLettersAsync(T1, Bob, [letter.Id]));
        Assert.Equal(new InboxUsage(1, 1000 + InboxQuota.EntryOverhead), await Store.GetTenantUsageAsync(T1));
        Assert.Equal(letter.Payload.ToArray(), (await Store.ReadInboxAsync(T1, Carol, 0, 10)).Single().Message.Payload.ToArray());
        Assert.Equal(1, await Store.DeleteLettersAsync(T1, Carol, [letter.Id]));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetTenantUsageAsync(T1));
    }
}
