using Daakia.Testing;

namespace Daakia.Core.Tests;

/// <summary>Runs on every store variant (see <see cref="LetterTestsOnMemoryStore"/> and <see cref="LetterTestsOnChaosStore"/>).</summary>
public abstract class LetterTests
{
    /// <summary>True: the chaos store (late, out-of-order completions); false: the synchronous in-memory store.</summary>
    protected abstract bool OnChaosStore { get; }

    private EngineFixture New(Action<DaakiaCoreOptions>? configure = null) => new(configure, OnChaosStore);

    [Fact]
    public async Task Send_ToOnlineClient_DeliversAtOnceAndReturnsReceipt()
    {
        await using var f = await New().StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        var receipt = await f.SendAsync("alice", "bob", "7");
        var letter = Assert.Single(bob.Letters);
        Assert.Equal(receipt.MessageId, letter.Id);
        Assert.Equal(EngineFixture.Id("alice"), letter.Author);
        Assert.Equal(1, receipt.Recipients);
    }

    [Fact]
    public async Task Send_ToOfflineClient_IsReplayedInOrderOnConnect()
    {
        await using var f = await New().StartAsync();
        for (var i = 0; i < 10; i++)
        {
            await f.SendAsync("alice", "bob", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var (_, bob) = await f.ConnectAsync("bob");
        Assert.Equal(Enumerable.Range(0, 10), bob.Numbers());
    }

    [Fact]
    public async Task Connect_BeforeStart_DeliversNothing()
    {
        await using var f = await New().StartAsync();
        await f.SendAsync("alice", "bob");
        var target = new RecordingTarget();
        var c = await f.Engine.ConnectAsync(EngineFixture.Tenant, EngineFixture.Id("bob"), target, new ConnectOptions("test"));
        await f.SettleAsync();
        Assert.Empty(target.Letters);
        f.Engine.Start(c);
        await f.SettleAsync();
        Assert.Single(target.Letters);
    }

    [Fact]
    public async Task Letter_StaysUntilAcked_AndIsRedeliveredOnReconnect()
    {
        await using var f = await New().StartAsync();
        await f.SendAsync("alice", "bob", "1");
        var (c1, t1) = await f.ConnectAsync("bob");
        f.Engine.Disconnect(c1);
        await f.SettleAsync();
        var (c2, t2) = await f.ConnectAsync("bob");
        Assert.Equal(t1.Letters.Single().Id, t2.Letters.Single().Id);

        Assert.Equal(1, await f.AckAsync("bob", t2.Letters.Single()));
        f.Engine.Disconnect(c2);
        var (_, t3) = await f.ConnectAsync("bob");
        Assert.Empty(t3.Letters);
        Assert.Equal(0, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));
    }

    [Fact]
    public async Task Multicast_SameIdForEveryRecipient_UnknownRecipientsAndDuplicatesAreFine()
    {
        await using var f = await New().StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        var (_, carol) = await f.ConnectAsync("carol");
        var receipt = await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"),
            [EngineFixture.Id("bob"), EngineFixture.Id("carol"), EngineFixture.Id("bob"), EngineFixture.Id("stranger")], EngineFixture.Json("1"));
        await f.SettleAsync();
        Assert.Equal(3, receipt.Recipients);
        Assert.Equal(receipt.MessageId, bob.Letters.Single().Id);
        Assert.Equal(receipt.MessageId, carol.Letters.Single().Id);
        Assert.Equal(1, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("stranger")));
    }

    [Fact]
    public async Task Send_BeyondLimits_IsRefusedWithTheRightCode()
    {
        await using var f = await New(o => { o.MaxRecipients = 2; o.MaxPayloadBytes = 10; }).StartAsync();
        var tooMany = await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("a"),
            [EngineFixture.Id("b"), EngineFixture.Id("c"), EngineFixture.Id("d")], EngineFixture.Json("1")).AsTask());
        Assert.Equal(DaakiaErrorCode.TooManyRecipients, tooMany.Code);
        var tooBig = await Assert.ThrowsAsync<DaakiaException>(() => f.SendAsync("a", "b", "\"0123456789\"").AsTask());
        Assert.Equal(DaakiaErrorCode.PayloadTooLarge, tooBig.Code);
        var badTtl = await Assert.ThrowsAsync<DaakiaException>(() => f.SendAsync("a", "b", "1", TimeSpan.FromSeconds(-1)).AsTask());
        Assert.Equal(DaakiaErrorCode.InvalidArgument, badTtl.Code);
        var none = await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("a"), [], EngineFixture.Json("1")).AsTask());
        Assert.Equal(DaakiaErrorCode.InvalidArgument, none.Code);
    }

    [Fact]
    public async Task InflightWindow_HoldsBackLettersUntilAcksArrive_InOrder()
    {
        await using var f = await New(o => o.MaxInflightPerConnection = 3).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        for (var i = 0; i < 10; i++)
        {
            await f.SendAsync("alice", "bob", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal([0, 1, 2], bob.Numbers());
        await f.AckAsync("bob", bob.Letters.Take(2).ToArray());
        Assert.Equal([0, 1, 2, 3, 4], bob.Numbers());
        await f.AckAsync("bob", bob.Letters.ToArray());
        Assert.Equal(Enumerable.Range(0, 8), bob.Numbers());
    }

    [Fact]
    public async Task Paging_ManyOfflineLettersAndLettersSentMeanwhile_AllArriveInOrder()
    {
        await using var f = await New(o => { o.InboxPageSize = 4; o.MaxInflightPerConnection = 3; }).StartAsync();
        for (var i = 0; i < 25; i++)
        {
            await f.SendAsync("alice", "bob", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var (_, bob) = await f.ConnectAsync("bob");
        var next = 25;
        var acked = 0;
        while (acked < 40)
        {
            var unacked = bob.Letters.Skip(acked).ToArray();
            Assert.NotEmpty(unacked);
            acked += await f.AckAsync("bob", unacked);
            if (next < 40)
            {
                await f.SendAsync("alice", "bob", (next++).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        Assert.Equal(Enumerable.Range(0, 40), bob.Numbers());
    }

    [Fact]
    public async Task ConcurrentSenders_ToOneReceiver_AllArriveOnce_PerSenderOrderKept()
    {
        await using var f = await New(o => { o.MaxInflightPerConnection = 10_000; o.InboxPageSize = 4096; }).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        await Task.WhenAll(Enumerable.Range(0, 8).Select(s => Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++)
            {
                await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id($"s{s}"), [EngineFixture.Id("bob")], EngineFixture.Json((s * 1000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
        })));
        await f.SettleAsync();
        var numbers = bob.Numbers();
        Assert.Equal(1600, numbers.Distinct().Count());
        for (var s = 0; s < 8; s++)
        {
            var mine = numbers.Where(n => n / 1000 == s).ToList();
            Assert.Equal(mine.Order(), mine);
        }
    }

    [Fact]
    public async Task Ack_UnknownId_CountsZero()
    {
        await using var f = await New().StartAsync();
        Assert.Equal(0, await f.Engine.Letters.AckAsync(EngineFixture.Tenant, EngineFixture.Id("bob"), [Guid.NewGuid()]));
    }

    [Fact]
    public async Task Tenants_DoNotShareInboxes()
    {
        await using var f = await New().StartAsync();
        var other = TenantId.Parse("other");
        var (_, bobOther) = await f.ConnectAsync("bob", tenant: other);
        var (_, bob) = await f.ConnectAsync("bob");
        await f.SendAsync("alice", "bob");
        Assert.Single(bob.Letters);
        Assert.Empty(bobOther.Letters);
        await Eventually.True(() => f.Engine.Presence.GetOnline(other).Count == 1, "bob is online in the other tenant");
    }

    [Fact]
    public async Task InboxQuota_PastMaxLetters_IsRefusedWithQuotaExceeded_AndRoomReturnsAfterAcks()
    {
        await using var f = await New(o => o.MaxInboxLetters = 3).StartAsync();
        for (var i = 0; i < 3; i++)
        {
            await f.SendAsync("alice", "bob", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var full = await Assert.ThrowsAsync<DaakiaException>(() => f.SendAsync("alice", "bob", "3").AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, full.Code);
        Assert.Contains("bob", full.Message, StringComparison.Ordinal);
        Assert.Equal(3, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));

        var (_, bob) = await f.ConnectAsync("bob");
        Assert.Equal([0, 1, 2], bob.Numbers());
        await f.AckAsync("bob", bob.Letters.First());
        await f.SendAsync("alice", "bob", "3");
        Assert.Equal([0, 1, 2, 3], bob.Numbers());
    }

    [Fact]
    public async Task InboxQuota_ByBytes_AndMulticastIsAllOrNothing()
    {
        var kb = "\"" + new string('x', 1000) + "\"";
        await using var f = await New(o => o.MaxInboxBytes = 2500).StartAsync();
        await f.SendAsync("alice", "bob", kb);
        await f.SendAsync("alice", "bob", kb);
        var refused = await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"),
            [EngineFixture.Id("carol"), EngineFixture.Id("bob")], EngineFixture.Json(kb)).AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, refused.Code);
        await f.SettleAsync();
        Assert.Equal(0, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("carol")));
        Assert.Equal(2, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));
    }

    [Fact]
    public async Task TenantQuota_BoundsAllInboxesOfATenant_OtherTenantsUnaffected_RefusedLetterNotKeptLive()
    {
        var kb = "\"" + new string('x', 1000) + "\"";
        await using var f = await New(o => o.MaxTenantStoredBytes = 3500).StartAsync();
        var (_, dave) = await f.ConnectAsync("dave");
        for (var i = 0; i < 3; i++)
        {
            await f.SendAsync("alice", $"r{i}", kb);
        }

        var refused = await Assert.ThrowsAsync<DaakiaException>(() => f.SendAsync("alice", "dave", kb).AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, refused.Code);
        await f.SettleAsync();
        // Whatever live delivery raced ahead, the refused letter is in no window: the online recipient never saw it,
        // and a new connection does not get it.
        Assert.Empty(dave.Letters);
        var (_, laptop) = await f.ConnectAsync("dave");
        Assert.Empty(laptop.Letters);
        Assert.Empty(dave.Letters);

        var other = TenantId.Parse("other");
        await f.Engine.Letters.SendAsync(other, EngineFixture.Id("alice"), [EngineFixture.Id("dave")], EngineFixture.Json(kb));
        Assert.Equal(1, await f.Engine.Letters.CountInboxAsync(other, EngineFixture.Id("dave")));
    }

    [Fact]
    public async Task DefaultLetterTtl_LettersWithoutTtlExpire_ZeroKeepsThemUntilAcked()
    {
        await using var f = await New(o => o.DefaultLetterTtl = TimeSpan.FromHours(1)).StartAsync();
        await f.SendAsync("alice", "bob", "1");
        await f.SendAsync("alice", "bob", "2", TimeSpan.FromHours(2));
        f.Time.Advance(TimeSpan.FromMinutes(61));
        await f.Engine.SweepExpiredAsync();
        await f.SettleAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        Assert.Equal([2], bob.Numbers());

        await using var g = await New(o => o.DefaultLetterTtl = TimeSpan.Zero).StartAsync();
        await g.SendAsync("alice", "bob", "1");
        g.Time.Advance(TimeSpan.FromDays(400));
        await g.Engine.SweepExpiredAsync();
        await g.SettleAsync();
        Assert.Equal(1, await g.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));
    }
}
