using Daakia.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Daakia.Core;

/// <summary>
/// Sends what subscriptions' outboxes hold (docs/zaqar-design.md step 5). One pump per subscription with something to
/// send, started when a post or a restart gives it work: it reads the outbox's visible entries oldest first, sends up
/// to <see cref="DaakiaCoreOptions.NotificationConcurrency"/> at once (and the server at most
/// <see cref="DaakiaCoreOptions.MaxNotificationsInFlight"/>), then removes each delivered or given-up entry, or makes
/// it visible again after its retry delay (the engine's lease: <see cref="ReturnOp"/>, with the try counted), and ends
/// when the outbox holds nothing but entries waiting for a retry far off or nothing at all. A crash at any point
/// sends an entry again at most (at-least-once; the delivery id is the same on every try).
/// </summary>
internal sealed class NotificationDispatcher : IDisposable
{
    private const int ReadPage = 256;
    private const long ReadBytes = 4 * 1024 * 1024;

    private readonly IQueueStore _store;
    private readonly DaakiaCoreOptions _options;
    private readonly TimeProvider _time;
    private readonly DaakiaMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Dictionary<SubscriberKind, INotificationSender> _senders = [];
    private readonly SemaphoreSlim _inFlight;
    private readonly CancellationTokenSource _stop = new();

    public NotificationDispatcher(IQueueStore store, DaakiaCoreOptions options, TimeProvider time, DaakiaMetrics metrics, IEnumerable<INotificationSender> senders, ILogger logger)
    {
        _store = store;
        _options = options;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _inFlight = new SemaphoreSlim(options.MaxNotificationsInFlight, options.MaxNotificationsInFlight);
        foreach (var s in senders)
        {
            _senders[s.Kind] = s;
        }
    }

    public bool Handles(SubscriberKind kind) => _senders.ContainsKey(kind);

    /// <summary>Something is in <paramref name="s"/>'s outbox: its pump looks (started if it is not running; caller holds the lock).</summary>
    public void Kick(TenantState t, SubscriptionState s)
    {
        s.Dirty = true;
        var wake = s.Wake;
        s.Wake = null;
        wake?.TrySetResult();
        if (!s.Pumping && !s.Gone && !_stop.IsCancellationRequested && _senders.ContainsKey(s.Info.Kind))
        {
            s.Pumping = true;
            _ = Task.Run(() => PumpAsync(t, s));
        }
    }

    public void Stop() => _stop.Cancel();

    /// <summary>Stops the pumps. The token source and the semaphore are left to the collector: pumps still unwinding
    /// may touch them after this returns.</summary>
    public void Dispose() => _stop.Cancel();

    private async Task PumpAsync(TenantState t, SubscriptionState s)
    {
        var failures = 0;
        while (true)
        {
            try
            {
                if (!await PassAsync(t, s))
                {
                    return;
                }

                failures = 0;
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // A store read failed (the store said why): look again after a pause, longer each time, at most a minute.
                NotificationLog.PassFailed(_logger, s.Info.Queue, s.Info.Id, ex);
                failures++;
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(60, 1 << Math.Min(failures, 6))), _time, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    lock (t.Gate)
                    {
                        s.Pumping = false;
                    }

                    return;
                }
            }
        }
    }

    /// <summary>One look at the outbox: sends what is due, or waits for what is not; false when the pump ends.</summary>
    private async Task<bool> PassAsync(TenantState t, SubscriptionState s)
    {
        lock (t.Gate)
        {
            if (s.Gone || _stop.IsCancellationRequested)
            {
                s.Pumping = false;
                return false;
            }

            s.Dirty = false;
        }

        var now = _time.GetUtcNow();
        var want = _options.NotificationConcurrency * 4;
        var due = new List<QueueEntry>();
        DateTimeOffset? next = null;
        long after = 0;
        for (var page = 0; page < 8 && due.Count < want; page++)
        {
            var entries = await _store.ReadAsync(s.Outbox, after, ReadPage, ReadBytes, _stop.Token);
            foreach (var e in entries)
            {
                if (e.Message.IsExpired(now))
                {
                    continue; // the sweep removes it
                }

                if (e.VisibleAt > now)
                {
                    next = next is null || e.VisibleAt < next ? e.VisibleAt : next;
                }
                else if (due.Count < want)
                {
                    due.Add(e);
                }
            }

            if (entries.Count == 0)
            {
                break; // the end (a page cut short by its byte bound is not)
            }

            after = entries[^1].Position;
        }

        if (due.Count > 0)
        {
            for (var i = 0; i < due.Count; i += _options.NotificationConcurrency)
            {
                var chunk = due.Skip(i).Take(_options.NotificationConcurrency).Select(e => SendAsync(t, s, e));
                await Task.WhenAll(chunk);
            }

            return true;
        }

        Task wake;
        lock (t.Gate)
        {
            if (s.Dirty)
            {
                return true;
            }

            if (next is null || s.Gone)
            {
                s.Pumping = false; // nothing to send: the next post starts it again
                return false;
            }

            var w = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            s.Wake = w;
            wake = w.Task;
        }

        var delay = next.Value - _time.GetUtcNow();
        if (delay > TimeSpan.Zero)
        {
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            var timer = Task.Delay(delay, _time, cancel.Token);
            if (_time.GetUtcNow() < next.Value)
            {
                // Looked at after the timer exists: a clock that moved past the retry time in between is not waited on.
                await Task.WhenAny(wake, timer);
            }

            await cancel.CancelAsync();
            _stop.Token.ThrowIfCancellationRequested();
        }

        return true;
    }

    private async Task SendAsync(TenantState t, SubscriptionState s, QueueEntry e)
    {
        await _inFlight.WaitAsync(_stop.Token);
        try
        {
            QueueSubscription info;
            lock (t.Gate)
            {
                if (s.Gone)
                {
                    return;
                }

                info = s.Info;
            }

            var kind = KindOf(e.Message);
            var attempt = e.Deliveries + 1;
            NotificationResult result;
            if (kind == NotificationKind.Message && !info.Confirmed && _options.RequireSubscriptionConfirmation)
            {
                result = new NotificationResult(NotificationOutcome.Rejected, "the subscription is not confirmed");
            }
            else
            {
                try
                {
                    result = await _senders[info.Kind].SendAsync(new QueueNotification(s.Tenant, info, kind, e.Message, attempt), _stop.Token);
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return; // stopping: the entry stays for the next start
                }
                catch (Exception ex)
                {
                    result = new NotificationResult(NotificationOutcome.Retry, ex.Message);
                }
            }

            var now = _time.GetUtcNow();
            var retryIn = result.Outcome == NotificationOutcome.Retry ? info.RetryPolicy.DelayAfter(attempt) : null;
            StoreOp op = retryIn is { } d
                ? new ReturnOp(s.Outbox, [new ReturnedEntry(e.Id, attempt, now + d)])
                : new DeleteOp(s.Outbox, [e.Id]);
            bool found;
            try
            {
                found = (await _store.WriteAsync([op], _stop.Token))[0].Count > 0;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Not recorded: the entry is sent again later (at-least-once), after the pump's pause: a store that keeps
                // failing must not turn into a stream of repeats.
                NotificationLog.WriteFailed(_logger, info.Queue, info.Id, ex);
                throw;
            }

            lock (t.Gate)
            {
                s.LastAttemptAt = now;
                if (result.Outcome == NotificationOutcome.Delivered)
                {
                    s.Delivered++;
                    if (found)
                    {
                        s.Left(InboxQuota.StoredSize(e.Message)); // else the sweep took it out already
                    }

                    _metrics.NotificationDelivered();
                    return;
                }

                s.LastError = result.Error ?? result.Outcome.ToString();
                if (retryIn is not null)
                {
                    s.Retried++;
                    _metrics.NotificationRetried();
                }
                else
                {
                    s.Failed++;
                    if (found)
                    {
                        s.Left(InboxQuota.StoredSize(e.Message));
                    }

                    _metrics.NotificationFailed();
                    NotificationLog.GaveUp(_logger, info.Queue, info.Id, e.Id, attempt, s.LastError);
                }
            }
        }
        finally
        {
            _inFlight.Release();
        }
    }

    private static NotificationKind KindOf(Letter letter)
    {
        foreach (var (k, v) in letter.Headers)
        {
            if (k == QueueService.NotificationHeader)
            {
                return v == "confirm" ? NotificationKind.ConfirmationRequest : NotificationKind.Unsubscribed;
            }
        }

        return NotificationKind.Message;
    }
}

internal static partial class NotificationLog
{
    [LoggerMessage(EventId = 700, Level = LogLevel.Warning, Message = "Notifications of subscription {Subscription} on queue {Queue}: reading the outbox failed; trying again")]
    public static partial void PassFailed(ILogger logger, string queue, Guid subscription, Exception exception);

    [LoggerMessage(EventId = 701, Level = LogLevel.Warning, Message = "Notifications of subscription {Subscription} on queue {Queue}: recording a try failed; the notification is sent again")]
    public static partial void WriteFailed(ILogger logger, string queue, Guid subscription, Exception exception);

    [LoggerMessage(EventId = 702, Level = LogLevel.Information, Message = "Notification {Message} of subscription {Subscription} on queue {Queue} given up after {Attempts} tries: {Error}")]
    public static partial void GaveUp(ILogger logger, string queue, Guid subscription, Guid message, int attempts, string error);
}
