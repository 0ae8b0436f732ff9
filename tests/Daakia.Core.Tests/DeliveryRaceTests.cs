using Daakia.Core.Storage;
using Daakia.Testing;

namespace Daakia.Core.Tests;

/// <summary>
/// Interleavings a synchronous store never produces, forced on the chaos store: a page read that took its snapshot
/// before an ack or a sweep and answers after it, failed reads, failed writes, a spent write budget.
/// </summary>
public sealed class DeliveryRaceTests
{
    private static async Task<EngineFixture> ChaosAsync(Action<DaakiaCoreOptions>? configure = null) =>
        await new EngineFixture(configure, chaos: true).StartAsync();

    [Fact]
    public async Task AckWhileThePageLoads_TheAckedLetterIsNotDeliveredAgain()
    {
        await using var f = await ChaosAsync();
        var store = f.Chaos!;
        var sent = await f.SendAsync("alice", "bob", "1");

        // The page read takes its snapshot (the letter is there) and is slow to answer; meanwhile an ack (say over
        // REST, by the id from the receipt) removes the letter.
        store.HoldReads = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var target = new RecordingTarget();
        var c = await f.Engine.ConnectAsync(EngineFixture.Tenant, EngineFixture.Id("bob"), target, new ConnectOptions("test"));
        f.Engine.Start(c);
        Assert.Equal(1, await f.Engine.Letters.AckAsync(EngineFixture.Tenant, EngineFixture.Id("bob"), [sent.MessageId]));

        var hold = store.HoldReads;
        store.HoldReads = null;
        hold.SetResult();
        await f.SettleAsync();

        Assert.Empty(target.Letters);
        Assert.Equal(0, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));
        // And the window is not jammed by a ghost: the next letter arrives.
        await f.SendAsync("alice", "bob", "2");
        Assert.Equal([2], target.Numbers());
    }

    [Fact]
    public async Task SweepWhileThePageLoads_TheExpiredLetterNeitherReturnsNorBlocksTheWindow()
    {
        await using var f = await ChaosAsync(o => o.MaxInflightPerConnection = 1);
        var store = f.Chaos!;
        await f.SendAsync("alice", "bob", "1", TimeSpan.FromSeconds(5));

        store.HoldReads = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var target = new RecordingTarget();
        var c = await f.Engine.ConnectAsync(EngineFixture.Tenant, EngineFixture.Id("bob"), target, new ConnectOptions("test"));
        f.Engine.Start(c);
        f.Time.Advance(TimeSpan.FromSeconds(6));
        await f.Engine.SweepExpiredAsync();

        var hold = store.HoldReads;
        store.HoldReads = null;
        hold.SetResult();
        await f.SettleAsync();
        Assert.Equal(0, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));

        // One in flight at most: an expired ghost in the window would take the only slot forever.
        await f.SendAsync("alice", "bob", "2");
        Assert.Equal([2], target.Numbers());
    }

    [Fact]
    public async Task ExpiredLettersInTheWindow_DoNotTakeInflightSlots_InAllMode()
    {
        await using var f = await ChaosAsync(o => o.MaxInflightPerConnection = 2);
        var (_, bob) = await f.ConnectAsync("bob");
        await f.SendAsync("alice", "bob", "1");
        await f.SendAsync("alice", "bob", "2");
        for (var i = 3; i <= 6; i++)
        {
            await f.SendAsync("alice", "bob", i.ToString(System.Globalization.CultureInfo.InvariantCulture), TimeSpan.FromSeconds(5));
        }

        await f.SendAsync("alice", "bob", "7");
        Assert.Equal([1, 2], bob.Numbers());
        // The four expire while waiting; no sweep runs (say it is failing): they still must not hold the window.
        store(f).FailWhen = op => op == "expire";
        f.Time.Advance(TimeSpan.FromSeconds(6));
        await f.AckAsync("bob", bob.Letters.ToArray());
        Assert.Equal([1, 2, 7], bob.Numbers());

        static ChaosStore store(EngineFixture f) => f.Chaos!;
    }

    [Fact]
    public async Task FailedPageRead_IsRetried_AndLiveDeliveryResumes()
    {
        await using var f = await ChaosAsync();
        await f.SendAsync("alice", "bob", "1");
        var failures = 2;
        f.Chaos!.FailWhen = op => op == "read-inbox" && Interlocked.Decrement(ref failures) >= 0;
        var (_, bob) = await f.ConnectAsync("bob");
        Assert.Empty(bob.Letters);
        await f.SendAsync("alice", "bob", "2");

        // Retries back off on the engine's clock; advancing it lets them run.
        for (var i = 0; i < 50 && bob.Letters.Count < 2; i++)
        {
            f.Time.Advance(TimeSpan.FromMilliseconds(100));
            await f.SettleAsync();
        }

        Assert.Equal([1, 2], bob.Numbers());
        await f.SendAsync("alice", "bob", "3");
        Assert.Equal([1, 2, 3], bob.Numbers());
    }

    [Fact]
    public async Task APageReadThatFailsWhileTheCoreStops_IsNeitherAFaultNorRetried()
    {
        // At shutdown the store closes under page reads still in flight: that is not a fault to log as an error.
        await using var f = await ChaosAsync();
        await f.SendAsync("alice", "bob", "1");
        var reads = 0;
        f.Chaos!.FailWhen = op => op == "read-inbox" && Interlocked.Increment(ref reads) > 0;
        f.Chaos.HoldReads = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var target = new RecordingTarget();
        var c = await f.Engine.ConnectAsync(EngineFixture.Tenant, EngineFixture.Id("bob"), target, new ConnectOptions("test"));
        f.Engine.Start(c);
        await Eventually.True(() => Volatile.Read(ref reads) == 1, "the page read was called");
        var faults = f.Engine.InboxLoadsFailed;

        await f.Engine.StopAsync();
        var hold = f.Chaos.HoldReads;
        f.Chaos.HoldReads = null;
        hold.SetResult();
        for (var i = 0; i < 10; i++)
        {
            f.Time.Advance(TimeSpan.FromSeconds(1));
            await f.SettleAsync();
        }

        Assert.Equal(faults, f.Engine.InboxLoadsFailed);
        Assert.Equal(1, Volatile.Read(ref reads));
        Assert.Empty(target.Letters);
    }

    [Fact]
    public async Task FailedStoreWrite_TheLetterLeavesTheWindows_ASecondConnectionNeverSeesIt()
    {
        await using var f = await ChaosAsync();
        var (_, phone) = await f.ConnectAsync("bob");
        f.Chaos!.FailWhen = op => op == "append";
        var failed = await Assert.ThrowsAsync<DaakiaException>(() => f.SendAsync("alice", "bob", "1").AsTask());
        Assert.Equal(DaakiaErrorCode.Unavailable, failed.Code);
        f.Chaos.FailWhen = null;
        await f.SettleAsync();

        // Live delivery may have raced ahead of the failed write; nothing else may still hold it.
        var (_, laptop) = await f.ConnectAsync("bob");
        Assert.Empty(laptop.Letters);
        await f.SendAsync("alice", "bob", "2");
        Assert.Equal([2], laptop.Numbers());
        Assert.Equal(1, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));
    }

    [Fact]
    public async Task FailedAck_OnlyThatLetterComesBackOnce_OnTheSameConnection_WithItsDeliveryCount()
    {
        await using var f = await ChaosAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        for (var i = 1; i <= 3; i++)
        {
            await f.SendAsync("alice", "bob", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal([1, 2, 3], bob.Numbers());
        var second = bob.Letters.ElementAt(1);
        f.Chaos!.FailWhen = op => op == "delete";
        var failed = await Assert.ThrowsAsync<DaakiaException>(() => f.AckAsync("bob", second).AsTask());
        Assert.Equal(DaakiaErrorCode.Unavailable, failed.Code);
        f.Chaos.FailWhen = null;
        await f.SettleAsync();

        // Still in the store, so it comes back on this connection, behind what was there, as a release would; nothing
        // else is delivered again.
        Assert.Equal([1, 2, 3, 2], bob.Numbers());
        var stored = await f.Engine.Letters.ReadInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob"), 0, 10);
        Assert.Equal(1, stored.Single(e => e.Id == second.Id).Deliveries);

        await f.AckAsync("bob", bob.Letters.DistinctBy(l => l.Id).ToArray());
        await f.SendAsync("alice", "bob", "4");
        Assert.Equal([1, 2, 3, 2, 4], bob.Numbers());
        Assert.Equal(1, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));
    }

    [Fact]
    public async Task FailedAck_IntoAFullWindow_TheLetterIsReadAgain_EvenWhenALiveLetterCommitsAfter()
    {
        // A window of four letters. The ack of 1 frees a slot at once, a live letter (5) takes it, and then the ack's
        // delete fails: 1 is still in the store, has no room, and is left to it, the cursor going back to it. The live
        // letter's position arrives only afterwards and must not move the cursor past 1 again.
        await using var f = await ChaosAsync(o => o.InboxPageSize = 2);
        var (_, bob) = await f.ConnectAsync("bob");
        for (var i = 1; i <= 4; i++)
        {
            await f.SendAsync("alice", "bob", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal([1, 2, 3, 4], bob.Numbers());
        var first = bob.Letters.First();
        var deleteHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var appendHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        f.Chaos!.FailWhen = op => op == "delete";
        f.Chaos.HoldWhen = op => op switch { "delete" => deleteHeld.Task, "append" => appendHeld.Task, _ => null };
        var ack = f.Engine.Letters.AckAsync(EngineFixture.Tenant, EngineFixture.Id("bob"), [first.Id]).AsTask();
        var send = f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [EngineFixture.Id("bob")], EngineFixture.Json("5")).AsTask();
        f.Chaos.FailWhen = null;
        f.Chaos.HoldWhen = null;
        Assert.Equal([1, 2, 3, 4, 5], bob.Numbers());

        deleteHeld.SetResult();
        var failed = await Assert.ThrowsAsync<DaakiaException>(() => ack);
        Assert.Equal(DaakiaErrorCode.Unavailable, failed.Code);
        appendHeld.SetResult();
        await send;
        await f.SettleAsync();

        // Once the others are acknowledged, 1 comes back from the store, with the count of its failed delivery.
        foreach (var two in bob.Letters.Skip(1).Chunk(2).ToList())
        {
            await f.AckAsync("bob", two);
        }

        Assert.Equal([1, 2, 3, 4, 5, 1], bob.Numbers());
        Assert.Equal(2, bob.DeliveryCounts.Last());
        await f.AckAsync("bob", first);
        Assert.Equal(0, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));
    }

    [Fact]
    public async Task FailedAck_RacingAPageReadAndASecondAck_TheLetterComesBackAtMostOnce_AndNeverAfterTheSecondAckRemovedIt()
    {
        // A window of four letters whose cursor went back behind them (a failed ack of 1 into a full window, as above).
        await using var f = await ChaosAsync(o => o.InboxPageSize = 2);
        var bobId = EngineFixture.Id("bob");
        var (_, bob) = await f.ConnectAsync("bob");
        for (var i = 1; i <= 4; i++)
        {
            await f.SendAsync("alice", "bob", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var letters = bob.Letters.ToArray();
        var appendHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        f.Chaos!.FailWhen = op => op == "delete";
        f.Chaos.HoldWhen = op => op switch { "delete" => firstHeld.Task, "append" => appendHeld.Task, _ => null };
        var ackOfOne = f.Engine.Letters.AckAsync(EngineFixture.Tenant, bobId, [letters[0].Id]).AsTask();
        var send = f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [bobId], EngineFixture.Json("5")).AsTask();
        f.Chaos.FailWhen = null;
        f.Chaos.HoldWhen = null;
        firstHeld.SetResult();
        Assert.Equal(DaakiaErrorCode.Unavailable, (await Assert.ThrowsAsync<DaakiaException>(() => ackOfOne)).Code);
        appendHeld.SetResult();
        await send;
        await f.SettleAsync();
        Assert.Equal([1, 2, 3, 4, 5], bob.Numbers());

        // The ack of 2 and 3 (say over the JSON API) fails, but the client does not know yet: its delete is held. The
        // slots it freed make the window page in, and the page read (called after the failed delete) still finds 1 and
        // 2 in the store: both are delivered again.
        var ackHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        f.Chaos.FailWhen = op => op == "delete";
        f.Chaos.HoldWhen = op => op == "delete" ? ackHeld.Task : null;
        var failing = f.Engine.Letters.AckAsync(EngineFixture.Tenant, bobId, [letters[1].Id, letters[2].Id]).AsTask();
        f.Chaos.FailWhen = null;
        f.Chaos.HoldWhen = null;
        await Eventually.True(() => bob.Numbers().Count >= 7, $"the page read brings 1 and 2 back (chaos seed {f.Chaos.Seed})");
        Assert.Equal([1, 2, 3, 4, 5, 1, 2], bob.Numbers());

        // A second ack of 2 (say over REST, by its id) succeeds; the slot it frees starts a page read, slow to answer;
        // only then does the first ack's failure arrive.
        f.Chaos.HoldReads = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.Equal(1, await f.Engine.Letters.AckAsync(EngineFixture.Tenant, bobId, [letters[1].Id]));
        ackHeld.SetResult();
        Assert.Equal(DaakiaErrorCode.Unavailable, (await Assert.ThrowsAsync<DaakiaException>(() => failing)).Code);
        var reads = f.Chaos.HoldReads;
        f.Chaos.HoldReads = null;
        reads.SetResult();
        await f.SettleAsync();

        // 2 was delivered again once for its failed ack, and is gone: it must not come a third time. 3, whose failed ack
        // no page read covered, comes back once.
        var delivered = bob.Numbers();
        Assert.Equal(2, delivered.Count(n => n == 2));
        Assert.Equal(2, delivered.Count(n => n == 3));
        Assert.All(delivered.GroupBy(n => n), g => Assert.True(g.Count() <= 2, $"letter {g.Key} was delivered {g.Count()} times"));
        Assert.Equal(4, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, bobId));

        // Nothing is jammed: everything else can be acknowledged (2 is not among it), and the next letter arrives live.
        IReadOnlyList<QueueEntry> page;
        while ((page = await f.Engine.Letters.ReadInboxAsync(EngineFixture.Tenant, bobId, 0, 2)).Count > 0)
        {
            Assert.DoesNotContain(letters[1].Id, page.Select(e => e.Id));
            Assert.Equal(page.Count, await f.Engine.Letters.AckAsync(EngineFixture.Tenant, bobId, page.Select(e => e.Id).ToList()));
            await f.SettleAsync();
        }

        Assert.Equal(0, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, bobId));
        await f.SendAsync("alice", "bob", "6");
        Assert.Equal(6, bob.Numbers().Last());
    }

    [Fact]
    public async Task FailedAck_WhoseFailureArrivesAfterASecondAckSucceeded_DoesNotBringTheRemovedLetterBack()
    {
        await using var f = await ChaosAsync();
        var bobId = EngineFixture.Id("bob");
        var (_, bob) = await f.ConnectAsync("bob");
        await f.SendAsync("alice", "bob", "1");
        await f.SendAsync("alice", "bob", "2");
        var first = bob.Letters.First();

        // The ack over the JSON API fails, late; meanwhile the client acks the same letter again over REST, by its id,
        // and that delete (called after the failed one) removes it and completes first.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        f.Chaos!.FailWhen = op => op == "delete";
        f.Chaos.HoldWhen = op => op == "delete" ? held.Task : null;
        var failing = f.Engine.Letters.AckAsync(EngineFixture.Tenant, bobId, [first.Id]).AsTask();
        f.Chaos.FailWhen = null;
        f.Chaos.HoldWhen = null;
        Assert.Equal(1, await f.Engine.Letters.AckAsync(EngineFixture.Tenant, bobId, [first.Id]));
        held.SetResult();
        Assert.Equal(DaakiaErrorCode.Unavailable, (await Assert.ThrowsAsync<DaakiaException>(() => failing)).Code);
        await f.SettleAsync();

        Assert.Equal([1, 2], bob.Numbers());
        Assert.Equal(1, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, bobId));
        await f.SendAsync("alice", "bob", "3");
        Assert.Equal([1, 2, 3], bob.Numbers());
    }

    [Fact]
    public async Task InflightBytes_BoundWhatOneConnectionHolds_OneLetterAlwaysFits()
    {
        var big = "\"" + new string('x', 1000) + "\"";
        await using var f = await ChaosAsync(o => o.MaxInflightBytesPerConnection = 2500);
        var (_, bob) = await f.ConnectAsync("bob");
        for (var i = 0; i < 5; i++)
        {
            await f.SendAsync("alice", "bob", big);
        }

        Assert.Equal(2, bob.Letters.Count);
        await f.AckAsync("bob", bob.Letters.ToArray());
        Assert.Equal(4, bob.Letters.Count);

        await using var g = await ChaosAsync(o => o.MaxInflightBytesPerConnection = 10);
        var (_, carol) = await g.ConnectAsync("carol");
        await g.SendAsync("alice", "carol", big);
        await g.SendAsync("alice", "carol", big);
        Assert.Single(carol.Letters);
    }

    [Fact]
    public async Task WindowBytes_LettersBeyondWaitInTheStore_AndArriveInOrder()
    {
        var payload = (int i) => "[" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + ",\"" + new string('x', 1000) + "\"]";
        await using var f = await ChaosAsync(o => { o.MaxWindowBytesPerClient = 4000; o.InboxPageSize = 64; });
        for (var i = 0; i < 20; i++)
        {
            await f.SendAsync("alice", "bob", payload(i));
        }

        var target = new RecordingTarget();
        var (c, bob) = await f.ConnectAsync("bob", target: target);
        var seen = new List<int>();
        var next = 20;
        for (var round = 0; round < 60 && seen.Count < 30; round++)
        {
            var batch = bob.Letters.Skip(seen.Count).ToArray();
            Assert.True(batch.Length is >= 1 and <= 3, $"round {round}: {batch.Length} new letters after {seen.Count}; at most ~4000 bytes of 1 KB letters may be in memory at once");
            seen.AddRange(batch.Select(l => System.Text.Json.JsonDocument.Parse(l.Payload).RootElement[0].GetInt32()));
            if (seen.Count >= 15 && next < 30)
            {
                // Live sends while the older letters still page in from the store: they queue behind them.
                await f.SendAsync("alice", "bob", payload(next++));
                await f.SendAsync("alice", "bob", payload(next++));
            }

            await f.AckAsync("bob", batch);
        }

        Assert.Equal(Enumerable.Range(0, 30), seen);
        GC.KeepAlive(c);
    }

    [Fact]
    public async Task SpentWriteBudget_RefusesWithOverloaded_AndRoomReturnsWhenWritesCommit()
    {
        await using var f = await ChaosAsync(o => o.MaxPendingWrites = 2);
        var store = f.Chaos!;
        store.HoldWrites = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [EngineFixture.Id("bob")], EngineFixture.Json("1"));
        var second = f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [EngineFixture.Id("bob")], EngineFixture.Json("2"));
        Assert.True(f.Engine.IsWriteBudgetSpent);
        var refused = await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [EngineFixture.Id("bob")], EngineFixture.Json("3")).AsTask());
        Assert.Equal(DaakiaErrorCode.Overloaded, refused.Code);
        var room = f.Engine.WaitForWriteRoomAsync().AsTask();
        Assert.False(room.IsCompleted);

        var hold = store.HoldWrites;
        store.HoldWrites = null;
        hold.SetResult();
        await first;
        await second;
        await room.WaitAsync(Eventually.DefaultTimeout);
        Assert.False(f.Engine.IsWriteBudgetSpent);
        await f.SendAsync("alice", "bob", "3");
        Assert.Equal(3, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public async Task RandomFailuresAndLateCompletions_NothingAcceptedIsLost_NothingIsDeliveredTwice_OrderHolds(int seed)
    {
        await using var f = new EngineFixture(o => { o.InboxPageSize = 8; o.MaxInflightPerConnection = 4; o.MaxWindowBytesPerClient = 3000; }, chaos: true);
        var store = f.Chaos!;
        await f.StartAsync();
        var random = new Random(seed);
        var (phoneConnection, phone) = await f.ConnectAsync("bob");
        var (laptopConnection, laptop) = await f.ConnectAsync("bob");
        store.FailureRate = 0.1;

        var accepted = new System.Collections.Concurrent.ConcurrentDictionary<Guid, int>();
        var senders = Enumerable.Range(0, 4).Select(s => Task.Run(async () =>
        {
            for (var i = 0; i < 60; i++)
            {
                var n = (s * 1000) + i;
                try
                {
                    var r = await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id($"s{s}"), [EngineFixture.Id("bob")], EngineFixture.Json(n.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                    accepted[r.MessageId] = n;
                }
                catch (DaakiaException)
                {
                    // Refused: not accepted, so it may or may not reach bob, but never twice.
                }
            }
        })).ToArray();

        var acked = new HashSet<Guid>();
        var failedAcks = new Dictionary<Guid, int>(); // id -> acks of it that failed (each brings it back once)
        var ackedById = new Dictionary<Guid, int>(); // id -> letters phone had when the ack completed
        while (!senders.All(t => t.IsCompleted))
        {
            // Both clients keep heartbeating: the fake clock moves 200 ms a round, and a slow run has thousands of rounds.
            phoneConnection.Touch(f.Time);
            laptopConnection.Touch(f.Time);
            var seen = phone.Letters.Where(l => !acked.Contains(l.Id)).Select(l => l.Id).Distinct().ToArray();
            var pick = seen.Where(_ => random.Next(2) == 0).Take(f.Options.InboxPageSize).ToList();
            if (pick.Count > 0)
            {
                try
                {
                    await f.Engine.Letters.AckAsync(EngineFixture.Tenant, EngineFixture.Id("bob"), pick);
                    acked.UnionWith(pick);
                }
                catch (DaakiaException ex) when (ex.Code == DaakiaErrorCode.Unavailable)
                {
                    // Not acknowledged: each comes back once more, as if released.
                    foreach (var id in pick)
                    {
                        failedAcks[id] = failedAcks.GetValueOrDefault(id) + 1;
                    }
                }
            }

            // Now and then an ack by id of a letter bob may not have seen yet (as REST allows), racing its page load.
            if (random.Next(4) == 0 && accepted.Keys.Where(id => !acked.Contains(id)).ToList() is { Count: > 0 } unseen)
            {
                var id = unseen[random.Next(unseen.Count)];
                try
                {
                    await f.Engine.Letters.AckAsync(EngineFixture.Tenant, EngineFixture.Id("bob"), [id]);
                    acked.Add(id);
                    ackedById[id] = phone.Letters.Count;
                }
                catch (DaakiaException ex) when (ex.Code == DaakiaErrorCode.Unavailable)
                {
                    // If bob had it already, it comes back once more, as for any failed ack.
                    failedAcks[id] = failedAcks.GetValueOrDefault(id) + 1;
                }
            }

            // Failed reads retry on the engine's clock.
            f.Time.Advance(TimeSpan.FromMilliseconds(200));
            await Task.Yield(); // let the senders and the store's completions run between rounds

        }

        await Task.WhenAll(senders);
        store.FailureRate = 0;
        for (var round = 0; round < 500; round++)
        {
            phoneConnection.Touch(f.Time);
            laptopConnection.Touch(f.Time);
            f.Time.Advance(TimeSpan.FromSeconds(1));
            await f.SettleAsync();
            var rest = phone.Letters.Where(l => !acked.Contains(l.Id)).Select(l => l.Id).ToList();
            if (rest.Count == 0 && accepted.Keys.All(id => ackedById.ContainsKey(id) || phone.Letters.Any(l => l.Id == id)))
            {
                break;
            }

            foreach (var chunk in rest.Distinct().Chunk(f.Options.InboxPageSize))
            {
                await f.Engine.Letters.AckAsync(EngineFixture.Tenant, EngineFixture.Id("bob"), chunk);
                acked.UnionWith(chunk);
            }
        }

        var why = $"seed {seed}, chaos seed {store.Seed}";
        Assert.True(phone.Closed is null && laptop.Closed is null, $"a connection was closed ({phone.Closed}, {laptop.Closed}); " + why);
        foreach (var target in new[] { phone, laptop })
        {
            var all = target.Letters.ToList();
            // Each connection sees each letter once, in store order (so in each sender's order), and once more for each of
            // its acks that failed (that redelivery comes behind what was waiting, as a release does).
            var twice = all.GroupBy(l => l.Id).Where(g => g.Count() > 1 + failedAcks.GetValueOrDefault(g.Key)).Select(g => Number(g.First())).ToList();
            Assert.True(twice.Count == 0, $"delivered more often than once plus its failed acks: {string.Join(",", twice)}; " + why);
            var letters = all.DistinctBy(l => l.Id).ToList();
            foreach (var bySender in letters.GroupBy(l => l.Author))
            {
                var numbers = bySender.Select(Number).ToList();
                Assert.True(numbers.Zip(numbers.Skip(1)).All(p => p.First < p.Second), $"delivery order of {bySender.Key} on a connection: {string.Join(",", numbers)}; " + why);
            }
        }

        var onPhone = phone.Letters.Select(l => l.Id).ToHashSet();
        var late = phone.Letters.Select((l, i) => (l, i)).Where(x => ackedById.TryGetValue(x.l.Id, out var at) && x.i >= at).Select(x => Number(x.l)).ToList();
        Assert.True(late.Count == 0, $"letters delivered after their ack completed: {string.Join(",", late)}; " + why);
        var missing = accepted.Keys.Where(id => !onPhone.Contains(id) && !ackedById.ContainsKey(id)).Select(id => accepted[id]).Order().ToList();
        Assert.True(missing.Count == 0, $"accepted letters never delivered: {string.Join(",", missing)}; " + why);
        Assert.True(accepted.Count > 100, $"only {accepted.Count} of 240 sends were accepted; " + why);
        Assert.Equal(0, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));
        var (_, tablet) = await f.ConnectAsync("bob");
        Assert.Empty(tablet.Letters);
    }

    /// <summary>An adapter whose outbox is full and whose Close throws (a session already disposed).</summary>
    private sealed class ThrowingTarget : IDeliveryTarget
    {
        public bool TryDeliver(Letter letter, int deliveries) => false;

        public bool TryPublish(Publication publication) => false;

        public void Close(CloseReason reason) => throw new ObjectDisposedException("session");
    }

    [Fact]
    public async Task AdapterThatThrowsOnClose_NeitherFailsTheStoredSend_NorLeaksTheWriteBudget()
    {
        await using var f = await ChaosAsync(o => o.MaxPendingWrites = 2);
        var c = await f.Engine.ConnectAsync(EngineFixture.Tenant, EngineFixture.Id("bob"), new ThrowingTarget(), new ConnectOptions("test"));
        f.Engine.Start(c);
        await f.SettleAsync(); // the connection's own activity records count against the budget until committed
        for (var i = 0; i < 3; i++)
        {
            // Stored, so acknowledged: the adapter's fault is logged, not thrown at the sender.
            await f.SendAsync("alice", "bob", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal(3, await f.Engine.Letters.CountInboxAsync(EngineFixture.Tenant, EngineFixture.Id("bob")));
        Assert.Equal(0, f.Engine.PendingWrites);
        Assert.False(f.Engine.IsWriteBudgetSpent);
    }

    [Fact]
    public async Task PagesCutByBytes_WithStoredLettersLargerThanTodaysMaxPayload_NothingIsStranded()
    {
        // Letters stored under an earlier, larger MaxPayloadBytes; the operator has since lowered it.
        await using var f = new EngineFixture(o => { o.MaxPayloadBytes = 1000; o.MaxWindowBytesPerClient = 10_000; o.MaxInflightBytesPerConnection = 10_000; }, chaos: true);
        var big = "\"" + new string('x', 2998) + "\"";
        var stored = new List<Guid>();
        for (var i = 1; i <= 5; i++)
        {
            stored.Add(Guid.NewGuid());
            await f.Store.AppendLetterAsync(new Letter
            {
                Id = stored[^1],
                Tenant = EngineFixture.Tenant,
                Author = EngineFixture.Id("alice"),
                Recipients = [EngineFixture.Id("bob")],
                Payload = EngineFixture.Json(big),
                Timestamp = f.Time.GetUtcNow(),
            }, [EngineFixture.Id("bob")]);
        }

        await f.StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        Assert.Equal(3, bob.Letters.Count); // three of 3000 bytes fill the 10,000-byte window
        await f.AckAsync("bob", bob.Letters.ToArray());
        Assert.Equal(5, bob.Letters.Count);
        Assert.Equal(stored, bob.Letters.Select(l => l.Id));
    }

    [Fact]
    public async Task ConnectionNotReadBecauseOfBackpressure_IsNotClosedForMissedHeartbeats()
    {
        await using var f = await ChaosAsync();
        var (c, bob) = await f.ConnectAsync("bob", heartbeat: TimeSpan.FromSeconds(10));
        c.PauseHeartbeat(true);
        f.Time.Advance(TimeSpan.FromSeconds(60));
        f.Engine.CheckHeartbeats();
        Assert.Null(bob.Closed);
        c.PauseHeartbeat(false);
        c.Touch(f.Time);
        f.Time.Advance(TimeSpan.FromSeconds(21));
        f.Engine.CheckHeartbeats();
        Assert.Equal(CloseReason.HeartbeatTimeout, bob.Closed);
    }

    [Fact]
    public async Task WriteBudget_WaitersThatGiveUp_LeaveNothingBehind_AndLaterWaitersAreWoken()
    {
        var budget = new WriteBudget(maxBytes: 100, maxCount: 1);
        Assert.True(budget.TryTake(1));
        for (var i = 0; i < 1000; i++)
        {
            using var cts = new CancellationTokenSource();
            var gaveUp = budget.WaitForRoomAsync(cts.Token).AsTask();
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gaveUp);
        }

        var waiting = budget.WaitForRoomAsync(CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);
        budget.Give(1);
        await waiting.WaitAsync(Eventually.DefaultTimeout);
        Assert.True(budget.TryTake(1));
    }

    /// <summary>The number a test letter carries as its payload.</summary>
    private static int Number(Letter letter) =>
        int.Parse(System.Text.Encoding.UTF8.GetString(letter.Payload.Span), System.Globalization.CultureInfo.InvariantCulture);
}
