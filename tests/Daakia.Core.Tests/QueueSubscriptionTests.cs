using System.Collections.Concurrent;
using System.Text;
using Daakia.Testing;

namespace Daakia.Core.Tests;

/// <summary>
/// Queue subscriptions and their durable notification outboxes through <see cref="QueueService"/>: notified in order
/// once the post is durable, retried on the subscription's policy (fake clock), given up, dropped when the outbox is
/// full, kept across a restart, confirmation, expiry, live connections, failed writes. On the in-memory store and on
/// the chaos store (late, out-of-order completions).
/// </summary>
public abstract class QueueSubscriptionTests
{
    protected abstract bool OnChaosStore { get; }

    private protected static readonly TenantId T = EngineFixture.Tenant;
    private static readonly ClientId Poster = EngineFixture.Id("poster");
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    private protected EngineFixture New(ScriptedSender sender, Action<DaakiaCoreOptions>? configure = null) =>
        new(configure, OnChaosStore, senders: [sender]);

    private protected static NewQueueSubscription Hook(string uri = "http://127.0.0.1:1/hook", TimeSpan? ttl = null, NotificationRetryPolicy? policy = null) =>
        new(uri, SubscriberKind.Webhook, ttl ?? Hour, EngineFixture.Json("{}")) { RetryPolicy = policy ?? NotificationRetryPolicy.Default };

    private protected static Task<IReadOnlyList<Guid>> PostAsync(EngineFixture f, string queue, params int[] ns) =>
        f.Engine.Queues.PostAsync(T, queue, Poster, [.. ns.Select(n => new NewQueueMessage(Encoding.UTF8.GetBytes($"{{\"n\":{n}}}")))]);

    private protected static int N(QueueNotification n) => int.Parse(Encoding.UTF8.GetString(n.Message.Payload.Span)[5..^1], System.Globalization.CultureInfo.InvariantCulture);

    private protected static SubscriptionDeliveryStats Stats(EngineFixture f, string queue, Guid id) => f.Engine.Queues.GetSubscription(T, queue, id)!.Stats;

    [Fact]
    public async Task EveryPostedMessage_IsNotified_InOrder_WithItsId_AndCountedDelivered()
    {
        var sender = new ScriptedSender();
        await using var f = await New(sender, o => o.NotificationConcurrency = 1).StartAsync();
        var (view, outcome) = await f.Engine.Queues.SubscribeAsync(T, "jobs", Hook());
        Assert.Equal(SubscribeOutcome.Created, outcome);
        Assert.True(view.Subscription.Confirmed);
        Assert.Equal(64, view.Subscription.Secret.Length);

        var ids = (await PostAsync(f, "jobs", 1, 2)).Concat(await PostAsync(f, "jobs", 3)).ToList();
        await Eventually.True(() => sender.Sent.Count == 3, "three notifications are sent");
        var sent = sender.Sent.ToList();
        Assert.Equal([1, 2, 3], sent.Select(N));
        Assert.Equal(ids, sent.Select(n => n.Message.Id));
        Assert.All(sent, n => Assert.Equal((1, NotificationKind.Message, view.Subscription.Id, "jobs"), (n.Attempt, n.Kind, n.Subscription.Id, n.Subscription.Queue)));
        await Eventually.True(() => Stats(f, "jobs", view.Subscription.Id) is { Delivered: 3, Pending: 0 }, "all three are counted delivered and none pend");

        // The messages are the queue's as well: the outbox referenced them.
        Assert.Equal(3, (await f.Engine.Queues.ListAsync(T, "jobs", Poster, null, 10, echo: true, includeClaimed: false, includeDelayed: false)).Messages.Count);
    }

    [Fact]
    public async Task Subscriptions_AreUniqueBySubscriber_Listed_Changed_AndRemoved_ThenNothingMoreIsSent()
    {
        var sender = new ScriptedSender();
        await using var f = await New(sender).StartAsync();
        var q = f.Engine.Queues;
        var (a, _) = await q.SubscribeAsync(T, "jobs", Hook("http://127.0.0.1:1/a"));
        var (b, _) = await q.SubscribeAsync(T, "jobs", Hook("http://127.0.0.1:1/b"));
        var again = await q.SubscribeAsync(T, "jobs", Hook("http://127.0.0.1:1/a")); // as Zaqar: the same subscription again
        Assert.Equal((SubscribeOutcome.Existing, a.Subscription.Id), (again.Outcome, again.View.Subscription.Id));
        Assert.NotNull(q.Get(T, "jobs")); // the subscribe made the queue

        var all = q.ListSubscriptions(T, "jobs", null, 10);
        Assert.Equal([.. new[] { a, b }.Select(v => v.Subscription.Id.ToString()).Order(StringComparer.Ordinal)], all.Select(v => v.Subscription.Id.ToString()));
        Assert.Single(q.ListSubscriptions(T, "jobs", all[0].Subscription.Id.ToString(), 10));
        Assert.Empty(q.ListSubscriptions(TenantId.Parse("other-project"), "jobs", null, 10));
        Assert.Null(q.GetSubscription(TenantId.Parse("other-project"), "jobs", a.Subscription.Id));

        Assert.Equal(SubscriptionUpdate.Conflict, await q.UpdateSubscriptionAsync(T, "jobs", a.Subscription.Id, "http://127.0.0.1:1/b", null, null, null, null));
        f.Time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(SubscriptionUpdate.Updated, await q.UpdateSubscriptionAsync(T, "jobs", a.Subscription.Id, "http://127.0.0.1:1/c", null, TimeSpan.FromMinutes(2), null, null));
        var changed = q.GetSubscription(T, "jobs", a.Subscription.Id)!.Subscription;
        Assert.Equal(("http://127.0.0.1:1/c", f.Time.GetUtcNow() + TimeSpan.FromMinutes(2)), (changed.Subscriber, changed.ExpiresAt)); // a new TTL starts now
        Assert.Equal(SubscriptionUpdate.NotFound, await q.UpdateSubscriptionAsync(T, "jobs", Guid.NewGuid(), null, null, Hour, null, null));

        await q.UnsubscribeAsync(T, "jobs", b.Subscription.Id);
        await q.UnsubscribeAsync(T, "jobs", b.Subscription.Id); // nothing to remove is no error
        await PostAsync(f, "jobs", 1);
        await Eventually.True(() => sender.Sent.Count == 1, "the remaining subscription is notified");
        Assert.Equal(a.Subscription.Id, sender.Sent.Single().Subscription.Id);
        Assert.Equal("http://127.0.0.1:1/c", sender.Sent.Single().Subscription.Subscriber);

        await q.DeleteAsync(T, "jobs"); // a queue's subscriptions go with it
        Assert.Empty(q.ListSubscriptions(T, "jobs", null, 10));
    }

    [Fact]
    public async Task AFailedTry_IsRetried_AtOnceThenAfterTheMinimumDelay_OnTheSubscriptionsPolicy()
    {
        var sender = new ScriptedSender();
        var answers = new ConcurrentQueue<NotificationOutcome>([NotificationOutcome.Retry, NotificationOutcome.Retry]);
        sender.Answer = _ => Task.FromResult(answers.TryDequeue(out var o) ? new NotificationResult(o, "503 Service Unavailable") : NotificationResult.Delivered);
        await using var f = await New(sender).StartAsync();
        var policy = new NotificationRetryPolicy { RetriesWithNoDelay = 1, MinimumDelayRetries = 2, MinimumDelay = TimeSpan.FromSeconds(5), MaximumDelay = TimeSpan.FromSeconds(20) };
        var (s, _) = await f.Engine.Queues.SubscribeAsync(T, "jobs", Hook(policy: policy));
        await PostAsync(f, "jobs", 7);

        await Eventually.True(() => sender.Sent.Count == 2, "the first try and its retry at once");
        await Eventually.True(() => Stats(f, "jobs", s.Subscription.Id).Retried == 2, "both failures are counted");
        Assert.Equal(2, sender.Sent.Count); // the third waits for the minimum delay
        Assert.Equal("503 Service Unavailable", Stats(f, "jobs", s.Subscription.Id).LastError);

        f.Time.Advance(TimeSpan.FromSeconds(5));
        await Eventually.True(() => sender.Sent.Count == 3, "the third try after the minimum delay");
        Assert.Equal([1, 2, 3], sender.Sent.Select(n => n.Attempt));
        Assert.All(sender.Sent, n => Assert.Equal(sender.Sent.First().Message.Id, n.Message.Id)); // one delivery id on every try
        await Eventually.True(() => Stats(f, "jobs", s.Subscription.Id) is { Delivered: 1, Retried: 2, Pending: 0 }, "delivered on the third try");
    }

    [Fact]
    public void TheRetryPolicy_GoesThroughZaqarsPhases_ThenGivesUp()
    {
        var p = NotificationRetryPolicy.Default; // 3 at once, 3 after 5 s, linear 10..25 s, 3 after 30 s
        var delays = Enumerable.Range(1, 14).Select(p.DelayAfter).ToList();
        Assert.Equal([0, 0, 0, 5, 5, 5, 10, 15, 20, 25, 30, 30, 30], delays.Take(13).Select(d => d!.Value.TotalSeconds));
        Assert.Null(delays[13]);
        var geometric = p with { Backoff = RetryBackoff.Geometric };
        Assert.Equal([10, 20], Enumerable.Range(7, 2).Select(n => geometric.DelayAfter(n)!.Value.TotalSeconds));
        Assert.Equal(TimeSpan.FromSeconds(30), geometric.DelayAfter(9));
    }

    [Fact]
    public async Task ARefusedNotification_OrOneOutOfRetries_IsGivenUp_Counted_AndGone()
    {
        var sender = new ScriptedSender();
        sender.Answer = n => Task.FromResult(N(n) == 1 ? new NotificationResult(NotificationOutcome.Rejected, "410 Gone") : new NotificationResult(NotificationOutcome.Retry, "connection refused"));
        await using var f = await New(sender).StartAsync();
        var none = new NotificationRetryPolicy { RetriesWithNoDelay = 1, MinimumDelayRetries = 0, MaximumDelayRetries = 0, MinimumDelay = TimeSpan.FromSeconds(5), MaximumDelay = TimeSpan.FromSeconds(15) };
        var (s, _) = await f.Engine.Queues.SubscribeAsync(T, "jobs", Hook(policy: none));
        await PostAsync(f, "jobs", 1, 2);

        // 1 is refused at once; 2 is tried, retried at once, retried after the backoff phase's one step (10 s), then given up.
        await Eventually.True(() => Stats(f, "jobs", s.Subscription.Id) is { Failed: 1, Retried: 2, Pending: 1 }, "one refused, one retried twice");
        Assert.Equal(3, sender.Sent.Count);
        f.Time.Advance(TimeSpan.FromSeconds(10));
        await Eventually.True(() => Stats(f, "jobs", s.Subscription.Id) is { Failed: 2, Pending: 0 }, "the other given up after its retries");
        Assert.Equal([1, 2, 2, 2], sender.Sent.Select(N).Order());
        Assert.Equal(0, await f.Store.CountAsync(new QueueKey(T, QueueKind.Notifications, $"jobs/{s.Subscription.Id:N}")));
    }

    [Fact]
    public async Task AFullOutbox_DropsTheNotification_NotThePost()
    {
        var sender = new ScriptedSender();
        var hold = new TaskCompletionSource();
        sender.Answer = async _ =>
        {
            await hold.Task;
            return NotificationResult.Delivered;
        };
        await using var f = await New(sender, o => o.MaxPendingNotifications = 2).StartAsync();
        var (s, _) = await f.Engine.Queues.SubscribeAsync(T, "jobs", Hook());
        await PostAsync(f, "jobs", 1, 2);
        Assert.Equal(4, (await PostAsync(f, "jobs", 3, 4, 5, 6)).Count); // the post succeeds
        Assert.Equal(4, Stats(f, "jobs", s.Subscription.Id).Dropped);
        Assert.Equal(2, Stats(f, "jobs", s.Subscription.Id).Pending);

        hold.SetResult();
        await Eventually.True(() => Stats(f, "jobs", s.Subscription.Id) is { Delivered: 2, Pending: 0 }, "the two kept are delivered");
        Assert.Equal([1, 2], sender.Sent.Select(N).Order());
        await PostAsync(f, "jobs", 7);
        await Eventually.True(() => sender.Sent.Count == 3, "room again: the next post is notified");
    }

    [Fact]
    public async Task TheTenantsOutboxes_ShareOneByteBudget_PastWhichNotificationsAreDropped_NotPosts()
    {
        var sender = new ScriptedSender();
        var hold = new TaskCompletionSource<NotificationResult>();
        sender.Answer = _ => hold.Task;
        // One 1 KiB message counts ~1.2 KiB per outbox: two subscriptions' copies fit in 3 KiB, a third does not.
        await using var f = await New(sender, o => o.MaxTenantPendingNotificationBytes = 3 * 1024).StartAsync();
        var subs = new List<Guid>();
        foreach (var n in new[] { "a", "b", "c" })
        {
            subs.Add((await f.Engine.Queues.SubscribeAsync(T, "jobs", Hook("http://127.0.0.1:1/" + n))).View.Subscription.Id);
        }

        var big = new NewQueueMessage(Encoding.UTF8.GetBytes("\"" + new string('x', 1024) + "\""));
        Assert.Single(await f.Engine.Queues.PostAsync(T, "jobs", Poster, [big]));
        var stats = subs.Select(id => Stats(f, "jobs", id)).ToList();
        Assert.Equal(2, stats.Sum(s => s.Pending));
        Assert.Equal(1, stats.Sum(s => s.Dropped));
        hold.SetResult(NotificationResult.Delivered);
        await Eventually.True(() => subs.Sum(id => Stats(f, "jobs", id).Delivered) == 2, "the two kept are delivered");
        await Eventually.True(() => subs.Sum(id => Stats(f, "jobs", id).Pending) == 0, "the outboxes are empty again");
        Assert.Single(await f.Engine.Queues.PostAsync(T, "jobs", Poster, [big])); // room again
    }

    [Fact]
    public async Task PointingAConfirmedSubscriptionElsewhere_MakesItUnconfirmedAgain_WhenConfirmationIsRequired()
    {
        var sender = new ScriptedSender();
        await using var f = await New(sender, o => o.RequireSubscriptionConfirmation = true).StartAsync();
        var q = f.Engine.Queues;
        var (s, _) = await q.SubscribeAsync(T, "jobs", Hook("http://127.0.0.1:1/mine"));
        Assert.True(await q.ConfirmSubscriptionAsync(T, "jobs", s.Subscription.Id, confirmed: true));
        Assert.Equal(SubscriptionUpdate.Updated, await q.UpdateSubscriptionAsync(T, "jobs", s.Subscription.Id, "http://127.0.0.1:1/someone-else", null, null, null, null));
        Assert.False(q.GetSubscription(T, "jobs", s.Subscription.Id)!.Subscription.Confirmed);
        await Eventually.True(() => sender.Sent.Count(n => n.Kind == NotificationKind.ConfirmationRequest) == 2, "the new subscriber is asked to confirm");
        Assert.Equal("http://127.0.0.1:1/someone-else", sender.Sent.Last().Subscription.Subscriber);
        await PostAsync(f, "jobs", 1);
        await f.SettleAsync();
        Assert.DoesNotContain(sender.Sent, n => n.Kind == NotificationKind.Message);
    }

    [Fact]
    public async Task NotificationsNotYetSent_SurviveARestart_AndAreSentThen()
    {
        var stuck = new ScriptedSender();
        var never = new TaskCompletionSource<NotificationResult>();
        stuck.Answer = _ => never.Task;
        var f = await New(stuck).StartAsync();
        var (s, _) = await f.Engine.Queues.SubscribeAsync(T, "jobs", Hook());
        var ids = await PostAsync(f, "jobs", 1, 2, 3);
        await Eventually.True(() => !stuck.Sent.IsEmpty, "a try is in flight when the engine stops");
        await f.Engine.StopAsync();
        await f.Engine.DisposeAsync();

        var sender = new ScriptedSender();
        await using var restarted = new DaakiaEngine(f.Store, f.Options, f.Time, senders: [sender]);
        await restarted.StartAsync();
        await Eventually.True(() => sender.Sent.Count == 3, "every notification is sent after the restart");
        Assert.Equal(ids.Order(), sender.Sent.Select(n => n.Message.Id).Order());
        Assert.Equal(s.Subscription.Id, sender.Sent.First().Subscription.Id);
        Assert.Equal(s.Subscription.Secret, sender.Sent.First().Subscription.Secret);
        await Eventually.True(() => restarted.Queues.GetSubscription(T, "jobs", s.Subscription.Id)!.Stats is { Delivered: 3, Pending: 0 }, "counted after the restart");
        never.SetResult(NotificationResult.Delivered);
    }

    [Fact]
    public async Task WithConfirmationRequired_ASubscriberIsSentOnlyItsConfirmationRequest_UntilItConfirms()
    {
        var sender = new ScriptedSender();
        await using var f = await New(sender, o => o.RequireSubscriptionConfirmation = true).StartAsync();
        var q = f.Engine.Queues;
        var (s, _) = await q.SubscribeAsync(T, "jobs", Hook());
        Assert.False(s.Subscription.Confirmed);
        await Eventually.True(() => sender.Sent.Count == 1, "the confirmation request is sent");
        Assert.Equal(NotificationKind.ConfirmationRequest, sender.Sent.Single().Kind);

        var again = await q.SubscribeAsync(T, "jobs", Hook()); // unconfirmed: the same subscription, the request again
        Assert.Equal((SubscribeOutcome.Existing, s.Subscription.Id), (again.Outcome, again.View.Subscription.Id));
        await Eventually.True(() => sender.Sent.Count == 2, "the request is sent again");

        await PostAsync(f, "jobs", 1); // not notified: unconfirmed
        Assert.True(await q.ConfirmSubscriptionAsync(T, "jobs", s.Subscription.Id, confirmed: true));
        Assert.Equal(SubscribeOutcome.Conflict, (await q.SubscribeAsync(T, "jobs", Hook())).Outcome);
        await PostAsync(f, "jobs", 2);
        await Eventually.True(() => sender.Sent.Count == 3, "the post after the confirmation is notified");
        Assert.Equal(2, N(sender.Sent.Last()));

        Assert.True(await q.ConfirmSubscriptionAsync(T, "jobs", s.Subscription.Id, confirmed: false));
        await Eventually.True(() => sender.Sent.Count == 4, "the unsubscribe notice is sent");
        Assert.Equal(NotificationKind.Unsubscribed, sender.Sent.Last().Kind);
        Assert.False(await q.ConfirmSubscriptionAsync(T, "jobs", Guid.NewGuid(), confirmed: true));
    }

    [Fact]
    public async Task AnExpiredSubscription_IsGone_AndNotifiedOfNothing()
    {
        var sender = new ScriptedSender();
        await using var f = await New(sender).StartAsync();
        var (s, _) = await f.Engine.Queues.SubscribeAsync(T, "jobs", Hook(ttl: TimeSpan.FromMinutes(1)));
        var bad = await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Queues.SubscribeAsync(T, "jobs", Hook("http://127.0.0.1:1/x", ttl: TimeSpan.FromSeconds(59))));
        Assert.Equal(DaakiaErrorCode.InvalidArgument, bad.Code);

        f.Time.Advance(TimeSpan.FromSeconds(61));
        Assert.Null(f.Engine.Queues.GetSubscription(T, "jobs", s.Subscription.Id));
        await PostAsync(f, "jobs", 1);
        await f.Engine.SweepExpiredAsync();
        await f.SettleAsync();
        Assert.Empty(sender.Sent);
        Assert.Empty(f.Engine.Queues.ListSubscriptions(T, "jobs", null, 10));
    }

    [Fact]
    public async Task ALiveConnection_IsToldOfEachDurablePost_UntilItUnsubscribes()
    {
        var sender = new ScriptedSender();
        await using var f = await New(sender).StartAsync();
        var watcher = new Watcher();
        var (s, _) = await f.Engine.Queues.SubscribeAsync(T, "jobs", new NewQueueSubscription("websocket:conn-1", SubscriberKind.Connection, Hour, EngineFixture.Json("{}")), watcher);
        Assert.Equal(SubscribeOutcome.Conflict, (await f.Engine.Queues.SubscribeAsync(T, "jobs", new NewQueueSubscription("websocket:conn-1", SubscriberKind.Connection, Hour, EngineFixture.Json("{}")), watcher)).Outcome);
        var ids = await PostAsync(f, "jobs", 1, 2);
        Assert.Equal(ids, watcher.Told.Select(m => m.Id)); // told before the post returned
        Assert.Equal(2, Stats(f, "jobs", s.Subscription.Id).Delivered);

        watcher.Full = true;
        await PostAsync(f, "jobs", 3);
        Assert.Equal(1, Stats(f, "jobs", s.Subscription.Id).Dropped);
        await f.Engine.Queues.UnsubscribeAsync(T, "jobs", s.Subscription.Id);
        watcher.Full = false;
        await PostAsync(f, "jobs", 4);
        Assert.Equal(2, watcher.Told.Count);
        Assert.Empty(sender.Sent);
    }

    [Fact]
    public async Task ASubscriberNoSenderServes_IsRefused()
    {
        await using var f = await New(new ScriptedSender()).StartAsync();
        var mail = new NewQueueSubscription("mailto:ops@example.com", SubscriberKind.Mail, Hour, EngineFixture.Json("{}"));
        var bad = await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Queues.SubscribeAsync(T, "jobs", mail));
        Assert.Contains("E-mail", bad.Message, StringComparison.Ordinal);
    }

    private sealed class Watcher : IQueueWatcher
    {
        public List<Letter> Told { get; } = [];

        public bool Full { get; set; }

        public bool Notify(TenantId tenant, string queue, Letter message)
        {
            if (Full)
            {
                return false;
            }

            lock (Told)
            {
                Told.Add(message);
            }

            return true;
        }
    }
}

/// <summary>A webhook sender that records what it is given and answers as the test says (delivered by default).</summary>
internal sealed class ScriptedSender(SubscriberKind kind = SubscriberKind.Webhook) : INotificationSender
{
    public SubscriberKind Kind => kind;

    public ConcurrentQueue<QueueNotification> Sent { get; } = new();

    public Func<QueueNotification, Task<NotificationResult>>? Answer { get; set; }

    public async ValueTask<NotificationResult> SendAsync(QueueNotification notification, CancellationToken cancellationToken)
    {
        Sent.Enqueue(notification);
        return Answer is null ? NotificationResult.Delivered : await Answer(notification);
    }
}

public sealed class QueueSubscriptionTestsOnMemoryStore : QueueSubscriptionTests
{
    protected override bool OnChaosStore => false;
}

public sealed class QueueSubscriptionTestsOnChaosStore : QueueSubscriptionTests
{
    protected override bool OnChaosStore => true;

    [Fact]
    public async Task APostWhoseWriteFails_IsNotNotified_AndLeavesNothingPending()
    {
        var sender = new ScriptedSender();
        await using var f = await New(sender).StartAsync();
        var (s, _) = await f.Engine.Queues.SubscribeAsync(T, "jobs", Hook());
        f.Chaos!.FailWhen = op => op == "write";
        await Assert.ThrowsAnyAsync<Exception>(() => PostAsync(f, "jobs", 1));
        f.Chaos.FailWhen = null;
        Assert.Equal(0, Stats(f, "jobs", s.Subscription.Id).Pending);
        await PostAsync(f, "jobs", 2);
        await Eventually.True(() => sender.Sent.Count == 1, "the next post is notified");
        Assert.Equal(2, N(sender.Sent.Single()));
    }

    [Fact]
    public async Task AnUnsubscribeWhoseWriteFailed_StillDeletes_WhenRetried()
    {
        var sender = new ScriptedSender();
        var f = await New(sender).StartAsync();
        var (s, _) = await f.Engine.Queues.SubscribeAsync(T, "jobs", Hook());
        f.Chaos!.FailWhen = op => op == "write";
        await Assert.ThrowsAnyAsync<Exception>(() => f.Engine.Queues.UnsubscribeAsync(T, "jobs", s.Subscription.Id));
        f.Chaos.FailWhen = null;
        Assert.False(await f.Engine.Queues.UnsubscribeAsync(T, "jobs", s.Subscription.Id)); // gone from memory, deleted in the store now
        await f.Engine.StopAsync();
        await f.Engine.DisposeAsync();

        await using var restarted = new DaakiaEngine(f.Store, f.Options, f.Time, senders: [sender]);
        await restarted.StartAsync();
        Assert.Null(restarted.Queues.GetSubscription(T, "jobs", s.Subscription.Id));
    }
}
