using Daakia.Core.Storage;
using Daakia.Testing;

namespace Daakia.Core.Tests;

/// <summary>
/// Quotas before live delivery: a send the store refuses for a quota reaches nobody, not even an online recipient for a
/// moment. Runs on every store variant (see <see cref="QuotaTestsOnMemoryStore"/> and <see cref="QuotaTestsOnChaosStore"/>).
/// </summary>
public abstract class QuotaTests
{
    /// <summary>True: the chaos store (late, out-of-order completions); false: the synchronous in-memory store.</summary>
    protected abstract bool OnChaosStore { get; }

    private EngineFixture New(Action<DaakiaCoreOptions>? configure = null) => new(configure, OnChaosStore);

    private static readonly TenantId Tenant = EngineFixture.Tenant;

    private static ClientId Id(string name) => EngineFixture.Id(name);

    private static string N(int i) => i.ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task InboxFull_TheOnlineRecipientNeverSeesTheRefusedLetter_AndRoomReturnsAfterAnAck()
    {
        await using var f = await New(o => o.MaxInboxLetters = 2).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        await f.SendAsync("alice", "bob", "0");
        await f.SendAsync("alice", "bob", "1");
        Assert.Equal([0, 1], bob.Numbers()); // within the quota: live, at once

        var refused = await Assert.ThrowsAsync<DaakiaException>(() => f.SendAsync("alice", "bob", "2").AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, refused.Code);
        await f.SettleAsync();
        Assert.Equal([0, 1], bob.Numbers());

        await f.AckAsync("bob", bob.Letters.First());
        await f.SendAsync("alice", "bob", "3");
        var again = await Assert.ThrowsAsync<DaakiaException>(() => f.SendAsync("alice", "bob", "4").AsTask()); // full again
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, again.Code);
        await f.SettleAsync();
        Assert.Equal([0, 1, 3], bob.Numbers());
        Assert.Equal(2, await f.Engine.Letters.CountInboxAsync(Tenant, Id("bob")));
    }

    [Fact]
    public async Task Headers_CountInTheInboxBytes_ALetterThatFitsOnlyWithoutThemNeverReachesTheOnlineRecipient()
    {
        // Room for two letters of payload 1 byte and 1000 header bytes each (plus the per-letter overhead), no more.
        var headers = new[] { new KeyValuePair<string, string>("k", new string('v', 999)) };
        await using var f = await New(o => o.MaxInboxBytes = 2 * (1 + 1000 + InboxQuota.EntryOverhead)).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        async Task<SendReceipt> Send(string n) => await f.Engine.Letters.SendAsync(Tenant, Id("alice"), [Id("bob")], EngineFixture.Json(n), headers: headers);
        await Send("0");
        await Send("1");
        await f.SettleAsync();
        Assert.Equal([0, 1], bob.Numbers());
        Assert.Equal(new InboxUsage(2, 2 * (1 + 1000 + InboxQuota.EntryOverhead)), await f.Store.GetInboxUsageAsync(Tenant, Id("bob")));

        // Its payload alone would fit many times over; with its headers it does not.
        var refused = await Assert.ThrowsAsync<DaakiaException>(() => Send("2"));
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, refused.Code);
        await f.SettleAsync();
        Assert.Equal([0, 1], bob.Numbers());

        // An ack frees exactly one such letter's room (payload and headers), in the store and in the engine's bound.
        await f.AckAsync("bob", bob.Letters.First());
        await Send("3");
        var again = await Assert.ThrowsAsync<DaakiaException>(() => Send("4"));
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, again.Code);
        await f.SettleAsync();
        Assert.Equal([0, 1, 3], bob.Numbers());
        await f.AckAsync("bob", [.. bob.Letters.Skip(1)]);
        Assert.Equal(new InboxUsage(0, 0), await f.Store.GetInboxUsageAsync(Tenant, Id("bob")));
        Assert.Equal(new InboxUsage(0, 0), await f.Store.GetTenantUsageAsync(Tenant));
    }

    [Fact]
    public async Task Multicast_PastAnOfflineRecipientsQuota_IsRefusedWhole_AndNoOnlineRecipientSeesIt()
    {
        await using var f = await New(o => o.MaxInboxLetters = 1).StartAsync();
        await f.SendAsync("alice", "carol", "0"); // carol, offline, is full
        var (_, bob) = await f.ConnectAsync("bob");
        var refused = await Assert.ThrowsAsync<DaakiaException>(async () =>
            await f.Engine.Letters.SendAsync(Tenant, Id("alice"), [Id("bob"), Id("carol")], EngineFixture.Json("1")));
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, refused.Code);
        await f.SettleAsync();
        Assert.Empty(bob.Letters);
        Assert.Equal(0, await f.Engine.Letters.CountInboxAsync(Tenant, Id("bob")));

        // The refusal left bob's window working: the next letter is live.
        await f.SendAsync("alice", "bob", "2");
        Assert.Equal([2], bob.Numbers());
    }

    [Fact]
    public async Task AfterARestart_UsageIsReadFromTheStore_AndARefusedLetterIsNotSeen()
    {
        await using var f = new EngineFixture(o => o.MaxInboxLetters = 2, OnChaosStore);
        await f.StartAsync();
        await f.SendAsync("alice", "bob", "0");
        await f.SendAsync("alice", "bob", "1");
        await f.Engine.StopAsync();

        // A new core on the same store knows nothing of what the old one counted.
        await using var again = new DaakiaEngine(f.Store, f.Options, f.Time);
        await again.StartAsync();
        var bob = new RecordingTarget();
        again.Start(await again.ConnectAsync(Tenant, Id("bob"), bob, new ConnectOptions("test")));
        var refused = await Assert.ThrowsAsync<DaakiaException>(async () => await again.Letters.SendAsync(Tenant, Id("alice"), [Id("bob")], EngineFixture.Json("2")));
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, refused.Code);
        await Eventually.True(() => bob.Letters.Count == 2, "bob gets what is stored");
        await f.SettleAsync();
        Assert.Equal([0, 1], bob.Numbers());
    }

    [Fact]
    public async Task ConcurrentSends_AtTheLimit_TheOnlineRecipientSeesExactlyTheStoredOnes()
    {
        await using var f = await New(o => o.MaxInboxLetters = 5).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        var sends = Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
        {
            try
            {
                return (await f.Engine.Letters.SendAsync(Tenant, Id($"s{i}"), [Id("bob")], EngineFixture.Json(N(i)))).MessageId;
            }
            catch (DaakiaException ex) when (ex.Code == DaakiaErrorCode.QuotaExceeded)
            {
                return Guid.Empty;
            }
        })).ToArray();
        var accepted = (await Task.WhenAll(sends)).Where(id => id != Guid.Empty).ToHashSet();
        await f.SettleAsync();

        Assert.Equal(5, accepted.Count);
        await Eventually.True(() => bob.Letters.Count == 5, "bob gets the five stored letters");
        await f.SettleAsync();
        Assert.Equal(accepted, bob.Letters.Select(l => l.Id).ToHashSet());
        Assert.Equal(5, bob.Letters.Count);
    }

    [Fact]
    public async Task StoreRefusesWhatTheBoundsAllowed_TheLetterIsWithdrawn_AndNeverRedelivered()
    {
        // Writes the core did not make (another process on the same store, say) fill the inbox behind its back: its
        // bounds say the next letter fits, the store says no. The store is the authority; the letter is withdrawn.
        await using var f = await New(o => o.MaxInboxLetters = 2).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        await f.SendAsync("alice", "bob", "0");
        await f.Store.AppendLetterAsync(new Letter
        {
            Id = Guid.NewGuid(),
            Tenant = Tenant,
            Author = Id("alice"),
            Recipients = [Id("bob")],
            Payload = EngineFixture.Json("1"),
            Timestamp = f.Time.GetUtcNow(),
        }, [Id("bob")]);

        var refused = await Assert.ThrowsAsync<DaakiaException>(() => f.SendAsync("alice", "bob", "2").AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, refused.Code);
        await f.SettleAsync();
        var (_, laptop) = await f.ConnectAsync("bob");
        Assert.DoesNotContain(2, laptop.Numbers());
        Assert.Equal(2, await f.Engine.Letters.CountInboxAsync(Tenant, Id("bob")));
        GC.KeepAlive(bob);
    }

    [Fact]
    public async Task UsageRecordsOfOfflineInboxes_AreBounded()
    {
        await using var f = await New(o => o.QuotaCacheSize = 8).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        for (var i = 0; i < 40; i++)
        {
            await f.Engine.Letters.SendAsync(Tenant, Id("alice"), [Id("bob"), Id($"offline{i}")], EngineFixture.Json(N(i)));
        }

        await f.SettleAsync();
        Assert.Equal(40, bob.Letters.Count);
        Assert.InRange(f.Engine.Letters.UsageRecords(Tenant), 1, 8 + 1); // the offline ones, plus bob's while he is online
    }
}

public sealed class QuotaTestsOnMemoryStore : QuotaTests
{
    protected override bool OnChaosStore => false;
}

public sealed class QuotaTestsOnChaosStore : QuotaTests
{
    protected override bool OnChaosStore => true;
}
