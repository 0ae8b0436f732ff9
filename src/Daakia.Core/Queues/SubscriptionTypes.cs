namespace Daakia.Core;

/// <summary>How a queue subscription is notified: by the durable outbox (a webhook, an e-mail address) or on a live
/// connection (a WebSocket that subscribed without a subscriber URI; gone with the connection).</summary>
public enum SubscriberKind : byte
{
    /// <summary>An <c>http://</c> or <c>https://</c> URI: each notification is a POST.</summary>
    Webhook = 0,

    /// <summary>A <c>mailto:</c> URI: each notification is an e-mail.</summary>
    Mail = 1,

    /// <summary>A live connection (<see cref="IQueueWatcher"/>); not stored.</summary>
    Connection = 2,
}

/// <summary>
/// When a failed notification is tried again, after Zaqar's <c>_retry_policy</c>: first <see cref="RetriesWithNoDelay"/>
/// tries at once, then <see cref="MinimumDelayRetries"/> after <see cref="MinimumDelay"/>, then delays growing by
/// <see cref="Backoff"/> from the minimum to <see cref="MaximumDelay"/>, then <see cref="MaximumDelayRetries"/> after the
/// maximum; then the notification has failed.
/// </summary>
public sealed record NotificationRetryPolicy
{
    public int RetriesWithNoDelay { get; init; } = 3;

    public int MinimumDelayRetries { get; init; } = 3;

    public TimeSpan MinimumDelay { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaximumDelay { get; init; } = TimeSpan.FromSeconds(30);

    public int MaximumDelayRetries { get; init; } = 3;

    public RetryBackoff Backoff { get; init; } = RetryBackoff.Linear;

    public static readonly NotificationRetryPolicy Default = new();

    /// <summary>The delay before try <paramref name="failures"/> + 1 after <paramref name="failures"/> failed ones, or
    /// null when the notification has failed for good.</summary>
    public TimeSpan? DelayAfter(int failures)
    {
        var n = failures;
        if (n <= RetriesWithNoDelay)
        {
            return TimeSpan.Zero;
        }

        n -= RetriesWithNoDelay;
        if (n <= MinimumDelayRetries)
        {
            return MinimumDelay;
        }

        n -= MinimumDelayRetries;
        var min = MinimumDelay.TotalSeconds;
        var max = MaximumDelay.TotalSeconds;
        for (var step = 1; step <= 64; step++)
        {
            var d = Backoff switch
            {
                RetryBackoff.Arithmetic => min + (min * step * (step + 1) / 2),
                RetryBackoff.Geometric => min * Math.Pow(2, step),
                RetryBackoff.Exponential => min + Math.Exp(step),
                _ => min * (step + 1),
            };
            if (d >= max)
            {
                break;
            }

            if (--n == 0)
            {
                return TimeSpan.FromSeconds(Math.Max(d, 1)); // a zero minimum still backs off
            }
        }

        return n <= MaximumDelayRetries ? MaximumDelay : null;
    }
}

/// <summary>How the delays between <see cref="NotificationRetryPolicy.MinimumDelay"/> and the maximum grow.</summary>
public enum RetryBackoff : byte
{
    Linear = 0,
    Arithmetic = 1,
    Geometric = 2,
    Exponential = 3,
}

/// <summary>A subscription to be made on a queue: who is notified, for how long, the adapter's options (JSON bytes,
/// kept as they are), and the secret notifications are signed with (null: the core makes one).</summary>
public sealed record NewQueueSubscription(string Subscriber, SubscriberKind Kind, TimeSpan Ttl, ReadOnlyMemory<byte> Options)
{
    public NotificationRetryPolicy RetryPolicy { get; init; } = NotificationRetryPolicy.Default;

    public string? Secret { get; init; }

    /// <summary>The adapter's name for the tenant the subscription is made under (Zaqar's project id), kept with it for
    /// what the adapter sends (a confirmation request names its project).</summary>
    public string Project { get; init; } = "";
}

/// <summary>
/// A subscription on a named queue: every message posted to the queue is notified to <see cref="Subscriber"/> until the
/// subscription expires. <see cref="Confirmed"/> is false until the subscriber confirms (when the server requires it, an
/// unconfirmed subscriber is notified of nothing but the confirmation request).
/// </summary>
public sealed record QueueSubscription(
    Guid Id,
    string Queue,
    string Subscriber,
    SubscriberKind Kind,
    TimeSpan Ttl,
    DateTimeOffset UpdatedAt,
    DateTimeOffset ExpiresAt,
    ReadOnlyMemory<byte> Options,
    bool Confirmed,
    string Secret,
    NotificationRetryPolicy RetryPolicy)
{
    /// <summary>The adapter's name for the subscription's tenant (<see cref="NewQueueSubscription.Project"/>).</summary>
    public string Project { get; init; } = "";

    public bool IsLive(DateTimeOffset now) => ExpiresAt > now;
}

/// <summary>How a subscription's notifications went since the server started, and what waits in its outbox.</summary>
public sealed record SubscriptionDeliveryStats(long Pending, long Delivered, long Retried, long Failed, long Dropped, string? LastError, DateTimeOffset? LastAttemptAt);

/// <summary>A subscription as read: its definition and its delivery counts.</summary>
public sealed record QueueSubscriptionView(QueueSubscription Subscription, SubscriptionDeliveryStats Stats);

/// <summary>What a notification is about: a message posted, or a confirmation request (sent to an unconfirmed
/// subscriber when confirmation is required) or its reverse.</summary>
public enum NotificationKind : byte
{
    Message = 0,
    ConfirmationRequest = 1,
    Unsubscribed = 2,
}

/// <summary>
/// One notification to send: the subscription, the message (for <see cref="NotificationKind.Message"/>: its id — the
/// delivery id, the same on every try — body, attributes and expiry), which try this is (1 the first), and the tenant.
/// </summary>
public sealed record QueueNotification(TenantId Tenant, QueueSubscription Subscription, NotificationKind Kind, Letter Message, int Attempt);

/// <summary>The outcome of one try: delivered; failed but worth trying again (the receiver is down, slow, or asks for
/// later); or refused for good (the receiver will not take it: tried no more).</summary>
public enum NotificationOutcome : byte
{
    Delivered = 0,
    Retry = 1,
    Rejected = 2,
}

/// <summary>The result of one try, with what went wrong (shown in the subscription's stats).</summary>
public readonly record struct NotificationResult(NotificationOutcome Outcome, string? Error = null)
{
    public static NotificationResult Delivered => new(NotificationOutcome.Delivered);
}

/// <summary>
/// Sends notifications of one kind of subscriber (webhooks, e-mail); the server plugs these in. A send must not throw
/// for a receiver's failure (it answers <see cref="NotificationOutcome.Retry"/> or <see cref="NotificationOutcome.Rejected"/>);
/// an exception counts as a retry.
/// </summary>
public interface INotificationSender
{
    SubscriberKind Kind { get; }

    ValueTask<NotificationResult> SendAsync(QueueNotification notification, CancellationToken cancellationToken);
}

/// <summary>
/// A live connection subscribed to a queue (a WebSocket without a subscriber URI): told of each message once its post
/// is durable. It must not block (queue the frame into the connection's bounded outbox, or drop it when full and say
/// so by returning false).
/// </summary>
public interface IQueueWatcher
{
    bool Notify(TenantId tenant, string queue, Letter message);
}
