using Daakia.Testing;

namespace Daakia.Core.Tests;

/// <summary>
/// The delivery engine's leases, release, delay and dead letters, through the engine's public surface. Runs on every
/// store variant (see <see cref="QueueDeliveryTestsOnMemoryStore"/> and <see cref="QueueDeliveryTestsOnChaosStore"/>).
/// </summary>
public abstract class QueueDeliveryTests
{
    /// <summary>True: the chaos store (late, out-of-order completions); false: the synchronous in-memory store.</summary>
    protected abstract bool OnChaosStore { get; }

    private EngineFixture New(Action<DaakiaCoreOptions>? configure = null) => new(configure, OnChaosStore);

    private static readonly ClientId Bob = EngineFixture.Id("bob");

    [Fact]
    public async Task PoisonLetter_HandedOutMaxDeliveriesTimesWithoutAck_GoesToDeadLetters_AndNoLongerBlocksTheInbox()
    {
        await using var f = await New(o => o.MaxDeliveries = 3).StartAsync();
        var poison = await f.SendAsync("alice", "bob", "1");
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            // Each connection receives it and dies before acking (a client that cannot handle it).
            var (c, t) = await f.ConnectAsync("bob");
            Assert.Equal([poison.MessageId], t.Letters.Select(l => l.Id));
            f.Engine.Disconnect(c);
            await f.SettleAsync();
            var stored = Assert.Single(await f.Engine.Letters.ReadInboxAsync(EngineFixture.Tenant, Bob, 0, 10));
            Assert.Equal(attempt, stored.Deliveries); // the count is durable, so it survives a restart too
        }

        await f.SendAsync("alice", "bob", "2");
        var (_, last) = await f.ConnectAsync("bob");
        Assert.Equal([2], last.Numbers()); // the poison letter is not delivered a fourth time, and does not hold up the next
        await f.SettleAsync();
        Assert.Equal(1, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, Bob));
        var dead = Assert.Single(await f.Engine.Letters.ReadDeadLettersAsync(EngineFixture.Tenant, Bob, 0, 10));
        Assert.Equal(poison.MessageId, dead.Id);
        Assert.Equal(3, dead.Deliveries);
        var activity = await f.Engine.Activity.ReadAsync(EngineFixture.Tenant, 0, 100);
        Assert.Contains(activity, a => a.Kind == ActivityKinds.DeadLettered && a.Detail == poison.MessageId.ToString() && a.Subject == "bob");

        Assert.Equal(1, await f.Engine.Letters.DeleteDeadLettersAsync(EngineFixture.Tenant, Bob, [poison.MessageId]));
        Assert.Equal(0, await f.Engine.Letters.CountDeadLettersAsync(EngineFixture.Tenant, Bob));
    }

    [Fact]
    public async Task Release_RedeliversBehindWhatIsWaiting_AndRecordsTheDeliveryCount()
    {
        await using var f = await New().StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        var first = await f.SendAsync("alice", "bob", "1");
        await f.SendAsync("alice", "bob", "2");
        Assert.Equal([1, 2], bob.Numbers());

        Assert.Equal(1, await f.Engine.Letters.ReleaseAsync(EngineFixture.Tenant, Bob, [first.MessageId]));
        await f.SettleAsync();
        Assert.Equal([1, 2, 1], bob.Numbers());
        var stored = await f.Engine.Letters.ReadInboxAsync(EngineFixture.Tenant, Bob, 0, 10);
        Assert.Equal(1, stored.Single(e => e.Id == first.MessageId).Deliveries);

        // A letter not handed out (unknown here) is left alone.
        Assert.Equal(0, await f.Engine.Letters.ReleaseAsync(EngineFixture.Tenant, Bob, [Guid.NewGuid()]));
    }

    [Fact]
    public async Task ReleaseWithDelay_IsRedeliveredOnlyWhenTheDelayHasPassed()
    {
        await using var f = await New().StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        var letter = await f.SendAsync("alice", "bob", "1");
        Assert.Equal(1, await f.Engine.Letters.ReleaseAsync(EngineFixture.Tenant, Bob, [letter.MessageId], TimeSpan.FromSeconds(30)));
        await f.SettleAsync();
        f.Time.Advance(TimeSpan.FromSeconds(29));
        await f.SettleAsync();
        Assert.Equal([1], bob.Numbers());
        f.Time.Advance(TimeSpan.FromSeconds(1));
        await f.SettleAsync();
        Assert.Equal([1, 1], bob.Numbers());
    }

    [Fact]
    public async Task DelayedSend_IsHeldBack_OnlineAndAcrossReconnects_ThenDelivered()
    {
        await using var f = await New().StartAsync();
        var (c, bob) = await f.ConnectAsync("bob");
        await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [Bob], EngineFixture.Json("1"), delay: TimeSpan.FromSeconds(10));
        await f.SendAsync("alice", "bob", "2");
        await f.SettleAsync();
        Assert.Equal([2], bob.Numbers()); // the undelayed letter is not held up behind it

        f.Engine.Disconnect(c);
        f.Time.Advance(TimeSpan.FromSeconds(5));
        var (_, again) = await f.ConnectAsync("bob");
        Assert.Equal([2], again.Numbers()); // read back from the store, still not due
        f.Time.Advance(TimeSpan.FromSeconds(5));
        await f.SettleAsync();
        Assert.Equal([2, 1], again.Numbers());
    }

    [Fact]
    public async Task DelayOutOfRange_IsRefused()
    {
        await using var f = await New(o => o.MaxDelay = TimeSpan.FromMinutes(1)).StartAsync();
        var ex = await Assert.ThrowsAsync<DaakiaException>(async () =>
            await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [Bob], EngineFixture.Json("1"), delay: TimeSpan.FromMinutes(2)));
        Assert.Equal(DaakiaErrorCode.InvalidArgument, ex.Code);
    }

    [Fact]
    public async Task LeaseTimeout_RedeliversToAnotherConnection_AndCountsEachDelivery_UntilDeadLettered()
    {
        await using var f = await New(o => { o.LeaseTimeout = TimeSpan.FromSeconds(10); o.MaxDeliveries = 2; }).StartAsync();
        var (_, phone) = await f.ConnectAsync("bob", DeliveryMode.Any, heartbeat: TimeSpan.FromHours(1));
        var (_, laptop) = await f.ConnectAsync("bob", DeliveryMode.Any, heartbeat: TimeSpan.FromHours(1));
        var letter = await f.SendAsync("alice", "bob", "1");
        Assert.Equal(1, phone.Letters.Count + laptop.Letters.Count);

        f.Time.Advance(TimeSpan.FromSeconds(11)); // the heartbeat scan finds the lease expired
        await f.SettleAsync();
        Assert.Equal(2, phone.Letters.Count + laptop.Letters.Count);
        // The store holds what came back: one delivery; the one in flight now is recorded when it comes back.
        Assert.Equal(1, (await f.Engine.Letters.ReadInboxAsync(EngineFixture.Tenant, Bob, 0, 10)).Single().Deliveries);

        f.Time.Advance(TimeSpan.FromSeconds(11)); // delivered twice without an ack: dead-lettered, not a third time
        await f.SettleAsync();
        Assert.Equal(2, phone.Letters.Count + laptop.Letters.Count);
        Assert.Equal(0, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, Bob));
        Assert.Equal(letter.MessageId, Assert.Single(await f.Engine.Letters.ReadDeadLettersAsync(EngineFixture.Tenant, Bob, 0, 10)).Id);
    }

    [Fact]
    public async Task AckedWithinTheLease_IsNotRedelivered()
    {
        await using var f = await New(o => o.LeaseTimeout = TimeSpan.FromSeconds(10)).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob", heartbeat: TimeSpan.FromHours(1));
        await f.SendAsync("alice", "bob", "1");
        await f.AckAsync("bob", bob.Letters.ToArray());
        f.Time.Advance(TimeSpan.FromSeconds(30));
        await f.SettleAsync();
        Assert.Equal([1], bob.Numbers());
    }

    [Fact]
    public async Task Positions_ArePerInbox_AndGiveTheReadOrder()
    {
        await using var f = await New().StartAsync();
        await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [Bob, EngineFixture.Id("carol")], EngineFixture.Json("1"));
        await f.SendAsync("alice", "bob", "2");
        await f.SendAsync("alice", "carol", "3");
        await f.SettleAsync();
        Assert.Equal([1L, 2], (await f.Engine.Letters.ReadInboxAsync(EngineFixture.Tenant, Bob, 0, 10)).Select(e => e.Position));
        Assert.Equal([1L, 2], (await f.Engine.Letters.ReadInboxAsync(EngineFixture.Tenant, EngineFixture.Id("carol"), 0, 10)).Select(e => e.Position));
        Assert.Equal(["2"], (await f.Engine.Letters.ReadInboxAsync(EngineFixture.Tenant, Bob, 1, 10)).Select(e => System.Text.Encoding.UTF8.GetString(e.Message.Payload.Span)));
    }

    [Fact]
    public async Task HeadersAndContentType_TravelWithTheLetter()
    {
        await using var f = await New().StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        KeyValuePair<string, string>[] headers = [new("trace", "abc"), new("trace", "def"), new("lang", "de")];
        await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [Bob], EngineFixture.Json("1"), headers: headers);
        await f.SettleAsync();
        Assert.Equal(headers, Assert.Single(bob.Letters).Headers);
        Assert.Equal(headers, (await f.Engine.Letters.ReadInboxAsync(EngineFixture.Tenant, Bob, 0, 10)).Single().Message.Headers);
        Assert.Equal(Letter.JsonContentType, bob.Letters.Single().ContentType);
    }

    [Fact]
    public async Task DuplicateRecipients_AreMergedBeforeTheyAreCounted()
    {
        await using var f = await New(o => o.MaxRecipients = 100).StartAsync();
        var receipt = await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), Enumerable.Repeat(Bob, 101).ToList(), EngineFixture.Json("1"));
        Assert.Equal(1, receipt.Recipients);
        var many = Enumerable.Range(0, 101).Select(i => EngineFixture.Id($"c{i}")).ToList();
        var ex = await Assert.ThrowsAsync<DaakiaException>(async () => await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), many, EngineFixture.Json("1")));
        Assert.Equal(DaakiaErrorCode.TooManyRecipients, ex.Code);
    }

    [Fact]
    public async Task DelayLongerThanATimerCanWait_IsHeldAndDeliveredWhenDue()
    {
        await using var f = await New(o =>
        {
            o.MaxDelay = TimeSpan.FromDays(365);
            o.DefaultLetterTtl = TimeSpan.Zero; // no default TTL: it must not expire while it waits
            o.MaxHeartbeat = TimeSpan.FromDays(100);
            o.HeartbeatCheckInterval = o.ExpirySweepInterval = TimeSpan.FromHours(1); // the fake clock fires every period
        }).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob", heartbeat: TimeSpan.FromDays(100));
        await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [Bob], EngineFixture.Json("1"), delay: TimeSpan.FromDays(60));
        await f.SendAsync("alice", "bob", "2");
        Assert.Equal([2], bob.Numbers());
        f.Time.Advance(TimeSpan.FromDays(59)); // past every limit of a single timer: it re-arms, at most a day ahead

        await f.SettleAsync();
        Assert.Equal([2], bob.Numbers());
        f.Time.Advance(TimeSpan.FromDays(1));
        await f.SettleAsync();
        Assert.Equal([2, 1], bob.Numbers());
    }

    [Fact]
    public async Task BacklogOfDelayedLetters_DoesNotHoldUpLettersThatAreDue_AndEachComesWhenDue()
    {
        await using var f = await New(o => o.InboxPageSize = 8).StartAsync();
        for (var i = 0; i < 20; i++)
        {
            await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [Bob], EngineFixture.Json((100 + i).ToString(System.Globalization.CultureInfo.InvariantCulture)), delay: TimeSpan.FromMinutes(10));
        }

        await f.SendAsync("alice", "bob", "1");
        var (_, bob) = await f.ConnectAsync("bob", heartbeat: TimeSpan.FromHours(1));
        Assert.Equal([1], bob.Numbers()); // 20 delayed letters ahead of it in the inbox do not hold it back
        await f.SendAsync("alice", "bob", "2");
        Assert.Equal([1, 2], bob.Numbers());

        f.Time.Advance(TimeSpan.FromMinutes(10));
        await f.SettleAsync();
        await Eventually.True(async () =>
        {
            await AckAllAsync(f, bob);
            return bob.Letters.Count == 22;
        }, "every delayed letter arrives once due");
        Assert.Equal(Enumerable.Range(100, 20).Order(), bob.Numbers().Where(n => n >= 100).Order());
        Assert.Equal(22, bob.Letters.Select(l => l.Id).Distinct().Count());
    }

    [Fact]
    public async Task AnyMode_ConnectionsThatNeverAck_DoNotStarveTheOneThatDoes()
    {
        await using var f = await New(o => { o.InboxPageSize = 8; o.MaxInflightPerConnection = 4; }).StartAsync();
        for (var i = 0; i < 40; i++)
        {
            await f.SendAsync("alice", "bob", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var (_, a) = await f.ConnectAsync("bob", DeliveryMode.Any, heartbeat: TimeSpan.FromHours(1));
        var (_, b) = await f.ConnectAsync("bob", DeliveryMode.Any, heartbeat: TimeSpan.FromHours(1));
        var (_, c) = await f.ConnectAsync("bob", DeliveryMode.Any, heartbeat: TimeSpan.FromHours(1));
        await Eventually.True(async () =>
        {
            await AckAllAsync(f, c);

            return a.Letters.Count + b.Letters.Count + c.Letters.Count == 40;
        }, "the acking connection gets everything the others hold back from");
        Assert.Equal(40, a.Letters.Concat(b.Letters).Concat(c.Letters).Select(l => l.Id).Distinct().Count());
    }

    [Fact]
    public async Task AnyMode_AClosedConnectionsLetters_AreRedeliveredBeforeLettersNotYetSent_ButAfterWhatTheOtherHolds()
    {
        // The documented order across reassignment (as RabbitMQ redelivers a closed channel's unacknowledged messages):
        // a reassigned letter is a redelivery. It keeps its place among the letters still waiting, so it comes before
        // every letter not yet handed out; it cannot come before what the other connection already has.
        await using var f = await New(o => o.MaxInflightPerConnection = 2).StartAsync();
        var (a, first) = await f.ConnectAsync("bob", DeliveryMode.Any, heartbeat: TimeSpan.FromHours(1));
        var (_, second) = await f.ConnectAsync("bob", DeliveryMode.Any, heartbeat: TimeSpan.FromHours(1));
        for (var i = 1; i <= 6; i++)
        {
            await f.SendAsync("alice", "bob", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal(4, first.Letters.Count + second.Letters.Count); // two in flight on each; 5 and 6 wait
        var reassigned = first.Numbers();
        var held = second.Numbers();
        f.Engine.Disconnect(a);
        await f.SettleAsync();
        Assert.Equal(held, second.Numbers()); // the second connection is full: nothing moves yet

        await f.AckAsync("bob", second.Letters.ToArray());
        Assert.Equal([.. held, .. reassigned], second.Numbers()); // the closed connection's letters, in their order
        await f.AckAsync("bob", second.Letters.Skip(2).ToArray());
        Assert.Equal([.. held, .. reassigned, 5, 6], second.Numbers()); // then those never handed out
        Assert.Equal(6, second.Letters.Select(l => l.Id).Distinct().Count());
    }

    [Fact]
    public async Task ReleasedPastMaxDeliveries_TheDeadLetterCarriesItsCount()
    {
        await using var f = await New(o => o.MaxDeliveries = 1).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        var letter = await f.SendAsync("alice", "bob", "1");
        Assert.Equal(1, await f.Engine.Letters.ReleaseAsync(EngineFixture.Tenant, Bob, [letter.MessageId]));
        await f.SettleAsync();
        Assert.Equal([1], bob.Numbers());
        var dead = Assert.Single(await f.Engine.Letters.ReadDeadLettersAsync(EngineFixture.Tenant, Bob, 0, 10));
        Assert.Equal(1, dead.Deliveries);
    }

    [Fact]
    public async Task ChangingTheDeliveryMode_IsNotAFailedDelivery()
    {
        await using var f = await New(o => o.MaxDeliveries = 2).StartAsync();
        var (c, bob) = await f.ConnectAsync("bob");
        await f.SendAsync("alice", "bob", "1");
        for (var i = 0; i < 4; i++)
        {
            f.Engine.SetDeliveryMode(c, i % 2 == 0 ? DeliveryMode.Any : DeliveryMode.All);
            await f.SettleAsync();
        }

        Assert.Equal(5, bob.Letters.Count); // redelivered on every change
        f.Engine.Disconnect(c);
        await f.SettleAsync();
        Assert.Equal(1, (await f.Engine.Letters.ReadInboxAsync(EngineFixture.Tenant, Bob, 0, 10)).Single().Deliveries);
        Assert.Equal(0, await f.Engine.Letters.CountDeadLettersAsync(EngineFixture.Tenant, Bob));
    }

    /// <summary>Acks everything a connection got, a page of ids at a time (an ack carries at most a page).</summary>
    private static async Task AckAllAsync(EngineFixture f, RecordingTarget target)
    {
        foreach (var chunk in target.Letters.ToArray().Chunk(f.Options.InboxPageSize))
        {
            await f.AckAsync("bob", chunk);
        }
    }

    [Fact]
    public async Task EveryConnectionEnd_IsCountedOnce_ByReason()
    {
        await using var f = await New().StartAsync();
        var (a, _) = await f.ConnectAsync("bob", heartbeat: TimeSpan.FromSeconds(10));
        var (b, _) = await f.ConnectAsync("carol", heartbeat: TimeSpan.FromHours(1));
        f.Engine.Disconnect(b); // the client went away
        f.Engine.Disconnect(b);
        f.Time.Advance(TimeSpan.FromSeconds(21)); // bob misses his heartbeats: the engine closes him
        await f.SettleAsync();
        f.Engine.Disconnect(a); // the adapter reports the close the engine asked for: not counted again
        Assert.Equal(1, f.Engine.ClosedConnections(CloseReason.Normal));
        Assert.Equal(1, f.Engine.ClosedConnections(CloseReason.HeartbeatTimeout));
    }

    [Fact]
    public async Task EveryHandOut_TellsTheConnectionItsDeliveryCount()
    {
        await using var f = await New(o => o.MaxDeliveries = 0).StartAsync();
        var (_, one) = await f.ConnectAsync("bob");
        var (_, two) = await f.ConnectAsync("bob"); // mode `all`: both get it, and it counts once per round
        var letter = await f.SendAsync("alice", "bob", "1");
        Assert.Equal(1, await f.Engine.Letters.ReleaseAsync(EngineFixture.Tenant, Bob, [letter.MessageId]));
        await f.SettleAsync();
        Assert.Equal([1, 2], one.DeliveryCounts);
        Assert.Equal([1, 2], two.DeliveryCounts);

        // Across a reconnect the stored count goes on.
        await using var g = await New(o => o.MaxDeliveries = 0).StartAsync();
        var sent = await g.SendAsync("alice", "bob", "1");
        var (c, first) = await g.ConnectAsync("bob", DeliveryMode.Any);
        g.Engine.Disconnect(c);
        await g.SettleAsync();
        var (_, again) = await g.ConnectAsync("bob", DeliveryMode.Any);
        Assert.Equal([1], first.DeliveryCounts);
        Assert.Equal([2], again.DeliveryCounts);
        Assert.Equal(sent.MessageId, again.Letters.Single().Id);
    }

    [Fact]
    public async Task Headers_AreKeptWithTheLetter_AndBadOnesAreRefusedWithNothingStored()
    {
        await using var f = await New(o =>
        {
            o.MaxHeadersPerLetter = 2;
            o.MaxHeaderBytes = 16;
        }).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        KeyValuePair<string, string>[] headers = [new("k", "v"), new("é", "😀")];
        var sent = await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [Bob], EngineFixture.Json("1"), headers: headers);
        await f.SettleAsync();
        Assert.Equal(headers, bob.Letters.Single().Headers);
        Assert.Equal(headers, (await f.Engine.Letters.ReadInboxAsync(EngineFixture.Tenant, Bob, 0, 10)).Single(e => e.Id == sent.MessageId).Message.Headers);

        KeyValuePair<string, string>[][] bad =
        [
            [new("a", "1"), new("b", "2"), new("c", "3")], // too many
            [new("a", new string('x', 16))],                // 17 bytes
            [new("a", "\ud800")],                            // a lone surrogate
            [new("\udc00", "v")],
            [new("a", "\ud83d")],                            // a high surrogate at the end
            [new("a", null!)],
        ];
        foreach (var h in bad)
        {
            var ex = await Assert.ThrowsAsync<DaakiaException>(async () => await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [Bob], EngineFixture.Json("2"), headers: h));
            Assert.Equal(DaakiaErrorCode.InvalidArgument, ex.Code);
        }

        await f.SettleAsync();
        Assert.Equal(1, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, Bob));
        Assert.Single(bob.Letters);
    }

    [Fact]
    public async Task DeadLetterPages_HonourAByteBound_TheFirstAlwaysComes()
    {
        await using var f = await New(o => o.MaxDeliveries = 1).StartAsync();
        var (c, _) = await f.ConnectAsync("bob");
        for (var i = 0; i < 3; i++)
        {
            await f.SendAsync("alice", "bob", "\"" + new string('x', 100) + "\"");
        }

        f.Engine.Disconnect(c); // each was handed out once: all three are dead letters on the next hand-out
        await f.SettleAsync();
        await f.ConnectAsync("bob");
        await f.SettleAsync();
        Assert.Equal(3, await f.Engine.Letters.CountDeadLettersAsync(EngineFixture.Tenant, Bob));
        Assert.Single(await f.Engine.Letters.ReadDeadLettersAsync(EngineFixture.Tenant, Bob, 0, 10, maxBytes: 1));
        Assert.Equal(2, (await f.Engine.Letters.ReadDeadLettersAsync(EngineFixture.Tenant, Bob, 0, 10, maxBytes: 210)).Count);
        Assert.Equal(3, (await f.Engine.Letters.ReadDeadLettersAsync(EngineFixture.Tenant, Bob, 0, 10)).Count);
    }
}
