using System.Collections.Concurrent;
using System.Text;
using Daakia.Testing;

namespace Daakia.Core.Tests;

/// <summary>
/// Persistent sessions in the core, on the chaos store: appends complete late and out of order, some fail. What the
/// publisher was told is stored reaches the session once, in its publisher's order; what failed is not kept.
/// </summary>
public sealed class SessionTests
{
    private static readonly TenantId T = EngineFixture.Tenant;

    private static int Number(Letter l) => int.Parse(Encoding.UTF8.GetString(l.Payload.Span), System.Globalization.CultureInfo.InvariantCulture);

    private static Task Publish(EngineFixture f, string author, string topic, int n, QualityOfService qos = QualityOfService.AtLeastOnce)
    {
        f.Engine.Topics.Publish(T, EngineFixture.Id(author), topic, Encoding.UTF8.GetBytes(n.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            "text/plain", qos, retain: false, out var stored);
        return stored;
    }

    private static async Task<(ClientConnection Connection, RecordingTarget Target, PersistentSession Session, bool Present)> OpenAsync(EngineFixture f, string client, uint expiry = 3600)
    {
        var target = new RecordingTarget();
        var c = await f.Engine.ConnectAsync(T, EngineFixture.Id(client), target, new ConnectOptions("test"));
        var opened = await f.Engine.Sessions.OpenAsync(c, cleanStart: false, expiry);
        f.Engine.Sessions.Start(opened.Session!, c);
        return (c, target, opened.Session!, opened.Present);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task WhileOfflineAndOnline_EverySucceededPublishArrivesOnce_InPublisherOrder_AndNoFailedOneIsKept(int seed)
    {
        await using var f = await new EngineFixture(chaos: true, seed: seed).StartAsync();
        var chaos = f.Chaos!;
        var (c, _, session, present) = await OpenAsync(f, "dev");
        Assert.False(present);
        f.Engine.Sessions.Subscribe(session, c, [new SubscriptionRequest("a/#", new SubscriptionOptions { MaxQos = QualityOfService.AtLeastOnce })], out var subscribed);
        await subscribed;
        f.Engine.Disconnect(c);

        // Offline: three publishers at once; about one append in five fails.
        var random = new Random(seed);
        chaos.FailWhen = op => op == "append" && random.Next(5) == 0;
        var results = new ConcurrentDictionary<(string Author, int N), bool>();
        async Task PublishAll(string author, int from)
        {
            for (var n = from; n < from + 40; n++)
            {
                var stored = Publish(f, author, "a/" + author, n);
                try
                {
                    await stored;
                    results[(author, n)] = true;
                }
                catch (DaakiaException)
                {
                    results[(author, n)] = false;
                }
            }
        }

        await Task.WhenAll(PublishAll("p1", 0), PublishAll("p2", 1000), PublishAll("p3", 2000));
        await f.SettleAsync();

        // Back online, and the same again while attached, acking as it goes.
        var (c2, target, session2, present2) = await OpenAsync(f, "dev");
        Assert.True(present2);
        Assert.Same(session, session2);
        await Task.WhenAll(PublishAll("p1", 40), PublishAll("p2", 1040), PublishAll("p3", 2040));
        chaos.FailWhen = null;
        await f.SettleAsync();

        var succeeded = results.Where(r => r.Value).Select(r => r.Key).ToHashSet();
        Assert.InRange(succeeded.Count, 100, 230); // some failed, most did not
        await Eventually.True(() => target.Letters.Count >= succeeded.Count, $"every stored publication ({target.Letters.Count} of {succeeded.Count})");
        var got = target.Letters.Select(l => (l.Envelope!.Topic[2..], Number(l))).ToList();
        Assert.Equal(got.Count, got.Distinct().Count()); // once each
        Assert.All(succeeded, s => Assert.Contains(s, got));
        // Published while offline and not stored: never delivered. (Online, a failed one may have gone out live before
        // its append failed, as a letter may; it is withdrawn from the window and not kept.)
        var failedOffline = results.Where(r => !r.Value && r.Key.N % 1000 < 40).Select(r => r.Key).ToList();
        Assert.NotEmpty(failedOffline);
        Assert.All(failedOffline, s => Assert.DoesNotContain(s, got));
        foreach (var author in new[] { "p1", "p2", "p3" })
        {
            var mine = got.Where(g => g.Item1 == author).Select(g => g.Item2).ToList();
            Assert.Equal(mine.Order().ToList(), mine); // the publisher's order
        }

        // A failed one that reached the window live was withdrawn from it; none of them is in the store.
        await f.Engine.Sessions.AckAsync(session2, c2, [.. target.Letters.Select(l => l.Id)]);
        await f.SettleAsync();
        Assert.Equal(0, await f.Store.CountAsync(new QueueKey(T, QueueKind.Session, "dev")));
        Assert.Equal(0, f.Engine.Sessions.QueuedFor(T, EngineFixture.Id("dev")));
    }

    [Fact]
    public async Task WhatWasHandedOutAndNotAcked_ComesAgainOnTheNextAttach_WithItsCount_AndAckedOnesDoNot()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var (c, target, session, _) = await OpenAsync(f, "dev");
        f.Engine.Sessions.Subscribe(session, c, [new SubscriptionRequest("x", new SubscriptionOptions { MaxQos = QualityOfService.ExactlyOnce })], out var subscribed);
        await subscribed;
        for (var n = 0; n < 6; n++)
        {
            await Publish(f, "pub", "x", n, QualityOfService.ExactlyOnce);
        }

        await Eventually.True(() => target.Letters.Count == 6, "six delivered");
        Assert.All(target.DeliveryCounts, d => Assert.Equal(1, d));
        Assert.All(target.Letters, l => Assert.Equal(QualityOfService.ExactlyOnce, l.Envelope!.Qos));
        await f.Engine.Sessions.AckAsync(session, c, [.. target.Letters.Take(2).Select(l => l.Id)]);
        f.Engine.Disconnect(c);
        await f.SettleAsync();

        var (_, again, _, present) = await OpenAsync(f, "dev");
        Assert.True(present);
        await Eventually.True(() => again.Letters.Count == 4, "the four not acknowledged");
        await f.SettleAsync();
        Assert.Equal([2, 3, 4, 5], again.Letters.Select(Number).ToList());
        Assert.All(again.DeliveryCounts, d => Assert.Equal(2, d));
    }

    [Fact]
    public async Task QoS0_GoesLiveOnly_ASharedPublicationIsStoredOnce_AndAnExpiredSessionIsGoneWithItsQueue()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var (c1, t1, s1, _) = await OpenAsync(f, "one", expiry: 60);
        var (c2, _, s2, _) = await OpenAsync(f, "two", expiry: 60);
        foreach (var s in new[] { s1, s2 })
        {
            f.Engine.Sessions.Subscribe(s, s == s1 ? c1 : c2, [new SubscriptionRequest("t", new SubscriptionOptions { MaxQos = QualityOfService.AtLeastOnce })], out var stored);
            await stored;
        }

        await Publish(f, "pub", "t", 0, QualityOfService.AtMostOnce);
        await Eventually.True(() => t1.Publications.Count == 1, "QoS 0 live");
        Assert.Empty(t1.Letters);
        f.Engine.Disconnect(c1);
        f.Engine.Disconnect(c2);
        await Publish(f, "pub", "t", 1, QualityOfService.AtMostOnce); // offline: not kept
        await Publish(f, "pub", "t", 2);
        await f.SettleAsync();
        Assert.Equal(1, await f.Store.CountAsync(new QueueKey(T, QueueKind.Session, "one")));
        Assert.Equal(1, await f.Store.CountAsync(new QueueKey(T, QueueKind.Session, "two")));
        var usage = await f.Store.GetTenantUsageAsync(T);
        Assert.Equal(2, usage.Letters);

        f.Time.Advance(TimeSpan.FromSeconds(61));
        await f.Engine.SweepExpiredAsync();
        await f.SettleAsync();
        Assert.Equal(0, f.Engine.Sessions.Count(T));
        Assert.Equal(0, await f.Store.CountAsync(new QueueKey(T, QueueKind.Session, "one")));
        Assert.Empty(await f.Store.ReadSessionsAsync(null, 10));
        await Publish(f, "pub", "t", 3); // nobody subscribed any more
        await f.SettleAsync();
        Assert.Equal(0, (await f.Store.GetTenantUsageAsync(T)).Letters);
    }

    [Fact]
    public async Task ANewSessionWhoseRecordFailed_IsNotEnded_WhenAnotherConnectionTookItOverMeanwhile()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var chaos = f.Chaos!;
        var firstWrite = new TaskCompletionSource();
        var writes = 0;
        chaos.FailWhen = op => op == "write" && Interlocked.Increment(ref writes) == 1;
        chaos.HoldWhen = op => op == "write" && Volatile.Read(ref writes) == 1 ? firstWrite.Task : null;

        // A makes the session; its record's write fails, but only after B took the session over.
        var a = await f.Engine.ConnectAsync(T, EngineFixture.Id("dev"), new RecordingTarget(), new ConnectOptions("test"));
        var opening = f.Engine.Sessions.OpenAsync(a, cleanStart: false, 3600).AsTask();
        var (b, target, session, present) = await OpenAsync(f, "dev");
        Assert.True(present);
        firstWrite.SetResult();
        await Assert.ThrowsAnyAsync<DaakiaException>(() => opening);

        // B's session goes on: subscribing stores its record, and a QoS 1 publication reaches it.
        Assert.Equal(1, f.Engine.Sessions.Count(T));
        f.Engine.Sessions.Subscribe(session, b, [new SubscriptionRequest("t", new SubscriptionOptions { MaxQos = QualityOfService.AtLeastOnce })], out var subscribed);
        await subscribed;
        await Publish(f, "pub", "t", 7);
        await Eventually.True(() => target.Letters.Count == 1, "B's session delivers");
        Assert.Single(await f.Store.ReadSessionsAsync(null, 10));
    }

    private sealed class RemovedRecorder : ISessionAdapterState
    {
        public ConcurrentQueue<Guid> Removed { get; } = new();

        void ISessionAdapterState.Removed(Guid messageId) => Removed.Enqueue(messageId);
    }

    [Fact]
    public async Task AQueuedMessageThatExpires_IsReportedToTheAdapterState_SoItsPacketIdCanBeFreed()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var (c, target, session, _) = await OpenAsync(f, "dev");
        var recorder = new RemovedRecorder();
        session.AdapterState = recorder;
        f.Engine.Sessions.Subscribe(session, c, [new SubscriptionRequest("t", new SubscriptionOptions { MaxQos = QualityOfService.AtLeastOnce })], out var subscribed);
        await subscribed;

        f.Engine.Topics.Publish(T, EngineFixture.Id("pub"), "t", "1"u8.ToArray(), "text/plain", QualityOfService.AtLeastOnce, retain: false, out var stored,
            expiry: TimeSpan.FromSeconds(10));
        await stored;
        await Eventually.True(() => target.Letters.Count == 1, "sent once, never acknowledged");
        var id = target.Letters.Single().Id;
        f.Engine.Disconnect(c);

        f.Time.Advance(TimeSpan.FromSeconds(11));
        await f.Engine.SweepExpiredAsync();
        await f.SettleAsync();
        Assert.Equal([id], recorder.Removed.ToArray());
        Assert.Equal(0, await f.Store.CountAsync(new QueueKey(T, QueueKind.Session, "dev")));
    }
}
