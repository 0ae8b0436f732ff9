using System.Security.Cryptography;
using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>What a subscribe did: made a new subscription; found the same subscriber unconfirmed and gave its
/// subscription again (Zaqar's answer to a repeated subscribe); or found it confirmed (a conflict).</summary>
public enum SubscribeOutcome : byte
{
    Created = 0,
    Existing = 1,
    Conflict = 2,
}

/// <summary>What a change of a subscription did.</summary>
public enum SubscriptionUpdate : byte
{
    Updated = 0,
    NotFound = 1,
    Conflict = 2,
}

/// <summary>
/// Queue subscriptions (docs/zaqar-design.md step 5): each one a store record; a webhook's or an e-mail address's
/// notifications go through a durable outbox of its own (one of the engine's queues, <see cref="QueueKind.Notifications"/>)
/// appended in the same unit of work as the messages they notify, so a post that was acknowledged is notified even
/// across a crash; a live connection's are handed to it once the post is durable.
/// </summary>
public sealed partial class QueueService
{
    /// <summary>The header that marks an outbox entry that is not one of the queue's messages (a confirmation request).</summary>
    internal const string NotificationHeader = "daakia-notification";

    private static readonly ClientId ServerAuthor = ClientId.Parse("daakia");

    private NotificationDispatcher _dispatcher;

    private NotificationDispatcher Dispatcher => _dispatcher;

    /// <summary>Plugs in the senders of webhooks and e-mail (the server's); before <see cref="DaakiaEngine.StartAsync"/>.</summary>
    internal void UseSenders(IEnumerable<INotificationSender> senders)
    {
        _dispatcher.Dispose();
        _dispatcher = new NotificationDispatcher(_store, _options, _time, _metrics, senders, _logger);
    }

    /// <summary>Whether subscribers of <paramref name="kind"/> can be notified on this server (a sender is plugged in).</summary>
    public bool CanNotify(SubscriberKind kind) => kind == SubscriberKind.Connection || Dispatcher.Handles(kind);

    /// <summary>
    /// Subscribes <paramref name="request"/>'s subscriber to a queue (made if missing). Subscribers are unique per queue
    /// by URI: the same one again gives the existing subscription — a conflict once it is confirmed where confirmation is
    /// required, and always for a live connection.
    /// A live connection (<see cref="SubscriberKind.Connection"/>) passes its <paramref name="watcher"/> and is not stored.
    /// When the server requires confirmation, a webhook or e-mail subscriber starts unconfirmed and is sent a
    /// confirmation request (again on a repeated subscribe).
    /// </summary>
    public async Task<(QueueSubscriptionView View, SubscribeOutcome Outcome)> SubscribeAsync(TenantId tenant, string queue, NewQueueSubscription request, IQueueWatcher? watcher = null)
    {
        _engine.EnsureAccepting();
        RequireName(queue);
        RequireSubscription(request.Subscriber, request.Ttl, request.Options);
        if ((request.Kind == SubscriberKind.Connection) != (watcher is not null))
        {
            throw DaakiaException.Invalid("A live connection subscribes with its watcher, and only it.");
        }

        if (!CanNotify(request.Kind))
        {
            throw DaakiaException.Invalid(request.Kind == SubscriberKind.Mail
                ? "E-mail notifications are not configured on this server."
                : "Webhook notifications are not available on this server.");
        }

        var t = _engine.Tenant(tenant);
        var now = _time.GetUtcNow();
        Task<IReadOnlyList<StoreOpResult>>? write = null;
        NamedQueueState q;
        SubscriptionState s;
        SubscribeOutcome outcome;
        Letter? confirmation = null;
        lock (t.Gate)
        {
            var made = false;
            if (!t.NamedQueues.TryGetValue(queue, out q!))
            {
                q = Make(t, queue, "{}"u8.ToArray(), NamedQueueSettings.None);
                made = true;
            }

            var ops = new List<StoreOp>(3);
            if (!q.RecordDurable)
            {
                ops.Add(Record(tenant, q.Info));
            }

            var existing = q.Subscriptions?.Values.FirstOrDefault(x => x.Info.IsLive(now) && string.Equals(x.Info.Subscriber, request.Subscriber, StringComparison.Ordinal));
            // Zaqar's answer to the same subscriber again: the same subscription (its Redis store keeps every one
            // unconfirmed), except a conflict once one is confirmed where confirmation is required.
            if (existing is not null && ((existing.Info.Confirmed && _options.RequireSubscriptionConfirmation) || request.Kind == SubscriberKind.Connection))
            {
                return (View(existing), SubscribeOutcome.Conflict);
            }

            if (existing is not null)
            {
                s = existing;
                outcome = SubscribeOutcome.Existing;
            }
            else
            {
                if ((q.Subscriptions?.Count ?? 0) >= _options.MaxSubscriptionsPerQueue)
                {
                    Undo(t, queue, q, made);
                    throw new DaakiaException(DaakiaErrorCode.QuotaExceeded, $"A queue may have at most {_options.MaxSubscriptionsPerQueue} subscriptions.");
                }

                var confirmed = request.Kind == SubscriberKind.Connection || !_options.RequireSubscriptionConfirmation;
                var info = new QueueSubscription(Guid.NewGuid(), queue, request.Subscriber, request.Kind, request.Ttl, now, now + request.Ttl,
                    request.Options.ToArray(), confirmed, request.Secret ?? NewSecret(), request.RetryPolicy)
                { Project = request.Project };
                s = new SubscriptionState(info, t) { Watcher = watcher };
                (q.Subscriptions ??= [])[info.Id] = s;
                outcome = SubscribeOutcome.Created;
                if (request.Kind != SubscriberKind.Connection)
                {
                    ops.Add(SubscriptionRecord(s.Info, tenant));
                }
            }

            if (!s.Info.Confirmed && request.Kind != SubscriberKind.Connection)
            {
                ops.Add(Control(s, NotificationKind.ConfirmationRequest, now, out confirmation));
            }

            if (ops.Count > 0)
            {
                write = _store.WriteAsync(ops).AsTask();
            }
        }

        if (write is not null)
        {
            try
            {
                await write;
            }
            catch
            {
                lock (t.Gate)
                {
                    if (outcome == SubscribeOutcome.Created)
                    {
                        q.Subscriptions?.Remove(s.Info.Id);
                        s.Gone = true;
                    }
                    else if (!s.Info.Confirmed)
                    {
                        s.Left(InboxQuota.StoredSize(confirmation!)); // the confirmation request was not stored
                    }
                }

                throw;
            }

            q.RecordDurable = true;
            lock (t.Gate)
            {
                if (!s.Info.Confirmed)
                {
                    Dispatcher.Kick(t, s);
                }
            }
        }

        return (View(s), outcome);
    }

    private void RequireSubscription(string subscriber, TimeSpan ttl, ReadOnlyMemory<byte> options)
    {
        if (string.IsNullOrEmpty(subscriber) || subscriber.Length > _options.MaxSubscriberLength)
        {
            throw DaakiaException.Invalid($"A subscriber is 1 to {_options.MaxSubscriberLength} characters.");
        }

        if (ttl < TimeSpan.FromMinutes(1) || ttl > _options.MaxSubscriptionTtl)
        {
            throw DaakiaException.Invalid($"The TTL for a subscription must be at least 60 seconds long, and may not exceed {(long)_options.MaxSubscriptionTtl.TotalSeconds} seconds.");
        }

        if (options.Length > _options.MaxSubscriptionOptionsBytes)
        {
            throw new DaakiaException(DaakiaErrorCode.PayloadTooLarge, $"Subscription options may be at most {_options.MaxSubscriptionOptionsBytes} bytes.");
        }
    }

    private static string NewSecret() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    private static PutRecordOp SubscriptionRecord(QueueSubscription s, TenantId tenant) =>
        new(new StoredRecord(tenant, RecordKind.QueueSubscription, SubscriptionRecords.Key(s.Queue, s.Id), SubscriptionRecords.Encode(s)));

    /// <summary>An outbox entry that is not a message of the queue: a confirmation request or its reverse (caller holds
    /// the lock; counted as pending).</summary>
    private static AppendOp Control(SubscriptionState s, NotificationKind kind, DateTimeOffset now, out Letter letter)
    {
        letter = new Letter
        {
            Id = MessageIds.New(now),
            Tenant = s.Tenant,
            Author = ServerAuthor,
            Recipients = [],
            Payload = ReadOnlyMemory<byte>.Empty,
            Headers = [new(NotificationHeader, kind == NotificationKind.ConfirmationRequest ? "confirm" : "unsubscribed")],
            Timestamp = now,
            ExpiresAt = s.Info.ExpiresAt,
        };
        s.Add(InboxQuota.StoredSize(letter));
        return new AppendOp(letter, [s.Outbox]);
    }

    private static QueueSubscriptionView View(SubscriptionState s) => new(s.Info, s.Stats());

    /// <summary>One live subscription of a queue, or null.</summary>
    public QueueSubscriptionView? GetSubscription(TenantId tenant, string queue, Guid id)
    {
        var t = Of(tenant);
        var now = _time.GetUtcNow();
        lock (t.Gate)
        {
            return t.NamedQueues.TryGetValue(queue, out var q) && q.Subscriptions?.TryGetValue(id, out var s) == true && s.Info.IsLive(now) ? View(s) : null;
        }
    }

    /// <summary>A queue's live subscriptions after <paramref name="marker"/>, in the order of their ids' text, at most <paramref name="limit"/>.</summary>
    public IReadOnlyList<QueueSubscriptionView> ListSubscriptions(TenantId tenant, string queue, string? marker, int limit)
    {
        var t = Of(tenant);
        var now = _time.GetUtcNow();
        lock (t.Gate)
        {
            if (!t.NamedQueues.TryGetValue(queue, out var q) || q.Subscriptions is null)
            {
                return [];
            }

            return [.. q.Subscriptions.Values
                .Where(s => s.Info.IsLive(now) && (marker is null || string.CompareOrdinal(s.Info.Id.ToString(), marker) > 0))
                .OrderBy(s => s.Info.Id.ToString(), StringComparer.Ordinal)
                .Take(limit)
                .Select(View)];
        }
    }

    /// <summary>
    /// Changes a subscription's subscriber, TTL (its lifetime starts again from now), options, retry policy and secret;
    /// each null stays. A subscriber another subscription of the queue has is a conflict. A new subscriber is
    /// unconfirmed again when the server requires confirmation (it is sent a confirmation request), so a confirmed
    /// subscription cannot be pointed at someone who never confirmed.
    /// </summary>
    public async Task<SubscriptionUpdate> UpdateSubscriptionAsync(TenantId tenant, string queue, Guid id, string? subscriber, SubscriberKind? kind, TimeSpan? ttl, ReadOnlyMemory<byte>? options, NotificationRetryPolicy? policy, string? secret = null)
    {
        _engine.EnsureAccepting();
        var t = Of(tenant);
        var now = _time.GetUtcNow();
        Task write;
        SubscriptionState s;
        QueueSubscription before, next;
        Letter? request = null;
        lock (t.Gate)
        {
            if (!t.NamedQueues.TryGetValue(queue, out var q) || q.Subscriptions?.TryGetValue(id, out s!) != true || !s.Info.IsLive(now))
            {
                return SubscriptionUpdate.NotFound;
            }

            before = s.Info;
            var moved = subscriber is not null && !string.Equals(subscriber, before.Subscriber, StringComparison.Ordinal);
            next = before with
            {
                Subscriber = subscriber ?? before.Subscriber,
                Kind = kind ?? before.Kind,
                Ttl = ttl ?? before.Ttl,
                ExpiresAt = ttl is { } l ? now + l : before.ExpiresAt,
                UpdatedAt = ttl is null ? before.UpdatedAt : now,
                Options = options is { } o ? o.ToArray() : before.Options,
                RetryPolicy = policy ?? before.RetryPolicy,
                Secret = secret ?? before.Secret,
                Confirmed = before.Confirmed && !(moved && _options.RequireSubscriptionConfirmation),
            };
            RequireSubscription(next.Subscriber, next.Ttl, next.Options);
            if (before.Kind == SubscriberKind.Connection || next.Kind == SubscriberKind.Connection || (next.Kind != before.Kind && !CanNotify(next.Kind)))
            {
                throw DaakiaException.Invalid("This subscription's subscriber cannot be changed to that.");
            }

            if (moved && q.Subscriptions.Values.Any(x => x != s && x.Info.IsLive(now) && string.Equals(x.Info.Subscriber, subscriber, StringComparison.Ordinal)))
            {
                return SubscriptionUpdate.Conflict;
            }

            s.Info = next;
            var ops = new List<StoreOp>(2) { SubscriptionRecord(next, tenant) };
            if (before.Confirmed && !next.Confirmed)
            {
                ops.Add(Control(s, NotificationKind.ConfirmationRequest, now, out var letter));
                request = letter;
            }

            write = _store.WriteAsync(ops).AsTask();
        }

        try
        {
            await write;
        }
        catch
        {
            lock (t.Gate)
            {
                if (ReferenceEquals(s.Info, next) && !s.Gone)
                {
                    s.Info = before; // not stored: as it was (unless a later change took its place)
                }

                if (request is not null)
                {
                    s.Left(InboxQuota.StoredSize(request));
                }
            }

            throw;
        }

        if (request is not null)
        {
            lock (t.Gate)
            {
                Dispatcher.Kick(t, s);
            }
        }

        return SubscriptionUpdate.Updated;
    }

    /// <summary>
    /// Marks a subscription confirmed or not (the subscriber's answer to its confirmation request). Unconfirming sends
    /// the subscriber a notice, when the server requires confirmation. False when there is no such subscription.
    /// </summary>
    public async Task<bool> ConfirmSubscriptionAsync(TenantId tenant, string queue, Guid id, bool confirmed)
    {
        _engine.EnsureAccepting();
        var t = Of(tenant);
        var now = _time.GetUtcNow();
        Task write;
        SubscriptionState s;
        QueueSubscription before;
        Letter? notice = null;
        lock (t.Gate)
        {
            if (!t.NamedQueues.TryGetValue(queue, out var q) || q.Subscriptions?.TryGetValue(id, out s!) != true || !s.Info.IsLive(now) || s.Info.Kind == SubscriberKind.Connection)
            {
                return false;
            }

            before = s.Info;
            s.Info = before with { Confirmed = confirmed };
            var ops = new List<StoreOp>(2) { SubscriptionRecord(s.Info, tenant) };
            if (!confirmed && _options.RequireSubscriptionConfirmation)
            {
                ops.Add(Control(s, NotificationKind.Unsubscribed, now, out var letter));
                notice = letter;
            }

            write = _store.WriteAsync(ops).AsTask();
        }

        try
        {
            await write;
        }
        catch
        {
            lock (t.Gate)
            {
                s.Info = s.Gone ? s.Info : before;
                if (notice is not null)
                {
                    s.Left(InboxQuota.StoredSize(notice));
                }
            }

            throw;
        }

        lock (t.Gate)
        {
            if (notice is not null)
            {
                Dispatcher.Kick(t, s);
            }
        }

        return true;
    }

    /// <summary>
    /// Removes a subscription and whatever its outbox still holds. Nothing to remove is no error; the record and the
    /// outbox are deleted from the store even then (so a retry after a failed delete still deletes). True when the
    /// subscription was there.
    /// </summary>
    public async Task<bool> UnsubscribeAsync(TenantId tenant, string queue, Guid id)
    {
        var t = Of(tenant);
        Task write;
        var found = false;
        lock (t.Gate)
        {
            var ops = new List<StoreOp>(2);
            if (t.NamedQueues.TryGetValue(queue, out var q) && q.Subscriptions?.Remove(id, out var s) == true)
            {
                found = true;
                Forget(s, ops);
            }
            else
            {
                ops.Add(new DeleteRecordOp(tenant, RecordKind.QueueSubscription, SubscriptionRecords.Key(queue, id)));
                ops.Add(new PurgeQueueOp(new QueueKey(tenant, QueueKind.Notifications, SubscriptionRecords.Key(queue, id))));
            }

            write = ops.Count > 0 ? _store.WriteAsync(ops).AsTask() : Task.CompletedTask;
        }

        await write;
        return found;
    }

    /// <summary>Removes every subscription of a queue (Zaqar's purge of <c>subscriptions</c>).</summary>
    public async Task PurgeSubscriptionsAsync(TenantId tenant, string queue)
    {
        _engine.EnsureAccepting();
        var t = Of(tenant);
        Task? write = null;
        lock (t.Gate)
        {
            if (t.NamedQueues.TryGetValue(queue, out var q))
            {
                var ops = ForgetSubscriptions(q);
                write = ops.Count > 0 ? _store.WriteAsync(ops).AsTask() : null;
            }
        }

        if (write is not null)
        {
            await write;
        }
    }

    /// <summary>Takes a queue's subscriptions out of memory, their records' deletes and their outboxes' purges into the
    /// result (caller holds the lock).</summary>
    private static List<StoreOp> ForgetSubscriptions(NamedQueueState q)
    {
        var ops = new List<StoreOp>();
        if (q.Subscriptions is { } all)
        {
            foreach (var s in all.Values)
            {
                Forget(s, ops);
            }

            all.Clear();
        }

        return ops;
    }

    private static void Forget(SubscriptionState s, List<StoreOp> ops)
    {
        s.Gone = true;
        s.Emptied();
        var wake = s.Wake;
        s.Wake = null;
        wake?.TrySetResult();
        if (s.Info.Kind != SubscriberKind.Connection)
        {
            ops.Add(new DeleteRecordOp(s.Tenant, RecordKind.QueueSubscription, SubscriptionRecords.Key(s.Info.Queue, s.Info.Id)));
            ops.Add(new PurgeQueueOp(s.Outbox));
        }
    }

    /// <summary>
    /// The queues a posted message goes to: its queue, and the outbox of each subscription to notify that has room
    /// (caller holds the lock). Counts what it adds in <paramref name="notified"/>, to be taken back if the write fails.
    /// </summary>
    private QueueKey[] Notified(QueueKey key, NamedQueueState q, Letter letter, DateTimeOffset now, ref List<(SubscriptionState State, long Bytes)>? notified)
    {
        if (q.Subscriptions is not { Count: > 0 } subscriptions)
        {
            return [key];
        }

        var queues = new List<QueueKey>(1 + subscriptions.Count) { key };
        var size = InboxQuota.StoredSize(letter);
        foreach (var s in subscriptions.Values)
        {
            if (s.Info.Kind == SubscriberKind.Connection || !s.Info.IsLive(now) || (!s.Info.Confirmed && _options.RequireSubscriptionConfirmation))
            {
                continue;
            }

            if (s.Pending >= _options.MaxPendingNotifications || s.PendingBytes + size > _options.MaxPendingNotificationBytes
                || s.Owner.NotificationBytes + size > _options.MaxTenantPendingNotificationBytes)
            {
                s.Dropped++;
                _metrics.NotificationDropped();
                continue;
            }

            s.Add(size);
            queues.Add(s.Outbox);
            (notified ??= []).Add((s, size));
        }

        return [.. queues];
    }

    /// <summary>A post is durable (<paramref name="ok"/>) or failed: its outboxes' dispatchers look, or what it counted
    /// is taken back; live connections are told of its messages (caller holds the lock).</summary>
    private List<(IQueueWatcher Watcher, SubscriptionState State)>? Posted(TenantState t, NamedQueueState q, List<(SubscriptionState State, long Bytes)>? notified, bool ok)
    {
        if (notified is not null)
        {
            foreach (var (s, bytes) in notified)
            {
                if (ok)
                {
                    Dispatcher.Kick(t, s);
                }
                else
                {
                    s.Left(bytes);
                }
            }
        }

        if (!ok || q.Subscriptions is not { Count: > 0 } subscriptions)
        {
            return null;
        }

        var now = _time.GetUtcNow();
        List<(IQueueWatcher, SubscriptionState)>? watchers = null;
        foreach (var s in subscriptions.Values)
        {
            if (s.Watcher is { } w && s.Info.IsLive(now))
            {
                (watchers ??= []).Add((w, s));
            }
        }

        return watchers;
    }

    /// <summary>Tells live connections of posted messages (outside the lock); a full connection drops them, counted.</summary>
    private void Tell(TenantId tenant, string queue, List<(IQueueWatcher Watcher, SubscriptionState State)>? watchers, IReadOnlyList<Letter> letters)
    {
        if (watchers is null)
        {
            return;
        }

        foreach (var (w, s) in watchers)
        {
            foreach (var letter in letters)
            {
                var taken = false;
                try
                {
                    taken = w.Notify(tenant, queue, letter);
                }
                catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
                {
                    // The connection is closing: it unsubscribes as it goes.
                }

                if (taken)
                {
                    Interlocked.Increment(ref s.LiveDelivered);
                    _metrics.NotificationDelivered();
                }
                else
                {
                    Interlocked.Increment(ref s.LiveDropped);
                    _metrics.NotificationDropped();
                }
            }
        }
    }

    /// <summary>Entries that expired out of outboxes (the engine's sweep): no longer pending.</summary>
    internal void Expired(IReadOnlyList<ExpiredEntry> expired)
    {
        foreach (var e in expired)
        {
            if (e.Queue.Kind != QueueKind.Notifications)
            {
                continue;
            }

            var slash = e.Queue.Name.LastIndexOf('/');
            if (slash <= 0 || !Guid.TryParseExact(e.Queue.Name[(slash + 1)..], "N", out var id))
            {
                continue;
            }

            var t = _engine.TryTenant(e.Queue.Tenant);
            if (t is null)
            {
                continue;
            }

            lock (t.Gate)
            {
                if (t.NamedQueues.TryGetValue(e.Queue.Name[..slash], out var q) && q.Subscriptions?.TryGetValue(id, out var s) == true)
                {
                    s.Left(0); // the sweep does not read payloads: its bytes stay counted until the outbox is empty
                    s.Failed++;
                    s.LastError = "expired before it could be delivered";
                    _metrics.NotificationFailed();
                }
            }
        }
    }

    /// <summary>Forgets subscriptions that expired (caller holds the lock): their records and outboxes go in <paramref name="ops"/>.</summary>
    private static void SweepSubscriptions(NamedQueueState q, DateTimeOffset now, ref List<StoreOp>? ops)
    {
        if (q.Subscriptions is not { Count: > 0 } all)
        {
            return;
        }

        foreach (var s in all.Values.Where(s => !s.Info.IsLive(now)).ToList())
        {
            all.Remove(s.Info.Id);
            Forget(s, ops ??= []);
        }
    }

    /// <summary>Reads back a subscription record at start (caller holds the lock); stale ones go in <paramref name="stale"/>.</summary>
    private static void RestoreSubscription(TenantState t, StoredRecord r, DateTimeOffset now, List<StoreOp> stale, List<SubscriptionState> restored)
    {
        var info = SubscriptionRecords.Decode(r.Key, r.Value.Span);
        var s = new SubscriptionState(info, t);
        if (!info.IsLive(now) || !t.NamedQueues.TryGetValue(info.Queue, out var q))
        {
            Forget(s, stale);
            return;
        }

        (q.Subscriptions ??= [])[info.Id] = s;
        restored.Add(s);
    }

    /// <summary>After a restore: each subscription's outbox is measured, and its dispatcher started if it holds anything.</summary>
    private async Task StartNotificationsAsync(List<SubscriptionState> restored, CancellationToken cancellationToken)
    {
        foreach (var s in restored)
        {
            var usage = await _store.GetUsageAsync(s.Outbox, cancellationToken);
            var t = _engine.Tenant(s.Tenant);
            lock (t.Gate)
            {
                s.Measured(usage.Letters, usage.Bytes);
                if (usage.Letters > 0)
                {
                    Dispatcher.Kick(t, s);
                }
            }
        }
    }

    /// <summary>Stops every dispatcher (the engine stops).</summary>
    internal void StopNotifications() => _dispatcher.Stop();

    public void Dispose() => _dispatcher.Dispose();
}
