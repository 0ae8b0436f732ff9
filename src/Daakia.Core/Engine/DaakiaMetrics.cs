using System.Diagnostics.Metrics;

namespace Daakia.Core;

/// <summary>
/// The core's instruments on the <c>Daakia</c> meter (System.Diagnostics.Metrics, no exporter dependency here);
/// the host exports them as Prometheus metrics. The hot path only increments plain counters; the meter reads
/// them when scraped (observable instruments), so a message costs no listener dispatch.
/// </summary>
internal sealed class DaakiaMetrics : IDisposable
{
    public const string MeterName = "Daakia";

    private readonly Meter _meter = new(MeterName);
    private readonly long[] _closed = new long[Enum.GetValues<CloseReason>().Length];
    private long _lettersSent;
    private long _lettersDelivered;
    private long _lettersAcknowledged;
    private long _lettersExpired;
    private long _lettersDeadLettered;
    private long _lettersReleased;
    private long _leasesExpired;
    private long _publications;
    private long _publicationsDropped;
    private long _writesRefused;
    private long _inboxLoadsFailed;
    private long _readsPaused;
    private long _lettersHeldForQuota;
    private long _sessionQueued;
    private long _sessionDropped;
    private long _sessionsExpired;
    private long _notificationsDelivered;
    private long _notificationsRetried;
    private long _notificationsFailed;
    private long _notificationsDropped;

    private long _queueBoundAppended;
    private long _queueBoundDropped;

    public DaakiaMetrics(Func<long> connections, Func<long> pendingWriteBytes)
    {
        _meter.CreateObservableCounter("writes.refused", () => Volatile.Read(ref _writesRefused), description: "Sends and acks refused because the server-wide budget of uncommitted writes was spent.");
        _meter.CreateObservableGauge("writes.pending.bytes", pendingWriteBytes, unit: "By", description: "Bytes of durable writes accepted and not yet committed.");
        _meter.CreateObservableCounter("reads.paused", () => Volatile.Read(ref _readsPaused), description: "Times a connection stopped reading because the server-wide write budget was spent.");
        _meter.CreateObservableCounter("inbox.loads.failed", () => Volatile.Read(ref _inboxLoadsFailed), description: "Inbox page reads that failed (each is retried).");
        _meter.CreateObservableCounter("letters.sent", () => Volatile.Read(ref _lettersSent), description: "Letters accepted (durable in every recipient's inbox).");
        _meter.CreateObservableCounter("letters.delivered", () => Volatile.Read(ref _lettersDelivered), description: "Letters handed to a connection.");
        _meter.CreateObservableCounter("letters.acknowledged", () => Volatile.Read(ref _lettersAcknowledged), description: "Letters removed from inboxes by an ack.");
        _meter.CreateObservableCounter("letters.expired", () => Volatile.Read(ref _lettersExpired), description: "Letters removed from inboxes because their TTL passed.");
        _meter.CreateObservableCounter("letters.dead_lettered", () => Volatile.Read(ref _lettersDeadLettered), description: "Letters moved to dead letters after too many deliveries without an ack.");
        _meter.CreateObservableCounter("letters.held_for_quota", () => Volatile.Read(ref _lettersHeldForQuota), description: "Letters to an online recipient near a quota, not offered live until the store had checked them.");
        _meter.CreateObservableCounter("letters.released", () => Volatile.Read(ref _lettersReleased), description: "Letters given back for redelivery by their consumer.");
        _meter.CreateObservableCounter("leases.expired", () => Volatile.Read(ref _leasesExpired), description: "Letters redelivered because their lease timed out.");
        _meter.CreateObservableCounter("publications", () => Volatile.Read(ref _publications), description: "Topic publications routed.");
        _meter.CreateObservableCounter("publications.dropped", () => Volatile.Read(ref _publicationsDropped), description: "Publications dropped because a subscriber's outbox was full.");
        _meter.CreateObservableCounter("sessions.queued", () => Volatile.Read(ref _sessionQueued), description: "Messages stored for MQTT persistent sessions (one per session a publication reached).");
        _meter.CreateObservableCounter("sessions.dropped", () => Volatile.Read(ref _sessionDropped), description: "Messages not queued for a persistent session because its queue was full.");
        _meter.CreateObservableCounter("sessions.expired", () => Volatile.Read(ref _sessionsExpired), description: "Persistent sessions removed because their client stayed away past their expiry interval.");
        _meter.CreateObservableCounter("notifications.delivered", () => Volatile.Read(ref _notificationsDelivered), description: "Queue notifications a subscriber took (webhook 2xx, e-mail accepted by the SMTP server).");
        _meter.CreateObservableCounter("notifications.retried", () => Volatile.Read(ref _notificationsRetried), description: "Queue notification tries that failed and were scheduled again.");
        _meter.CreateObservableCounter("notifications.failed", () => Volatile.Read(ref _notificationsFailed), description: "Queue notifications given up: refused by the subscriber, or out of retries.");
        _meter.CreateObservableCounter("notifications.dropped", () => Volatile.Read(ref _notificationsDropped), description: "Queue notifications not kept because the subscription's outbox was full (or a live connection's).");

        _meter.CreateObservableCounter("queues.bound.appended", () => Volatile.Read(ref _queueBoundAppended), description: "Messages appended to named queues by their topic bindings (one per queue a publication reached).");
        _meter.CreateObservableCounter("queues.bound.dropped", () => Volatile.Read(ref _queueBoundDropped), description: "Publications not appended to a bound named queue because the queue (or its tenant's storage) was full.");
        _meter.CreateObservableCounter("connections.closed", ClosedByReason, description: "Connections the server closed, by reason.");
        _meter.CreateObservableGauge("connections", connections, description: "Live connections.");
    }

    public void LetterSent() => Interlocked.Increment(ref _lettersSent);

    public void LetterDelivered() => Interlocked.Increment(ref _lettersDelivered);

    public void LettersAcknowledged(int count) => Interlocked.Add(ref _lettersAcknowledged, count);

    public void LettersExpired(int count) => Interlocked.Add(ref _lettersExpired, count);

    public void LetterDeadLettered() => Interlocked.Increment(ref _lettersDeadLettered);

    public void LetterHeldForQuota() => Interlocked.Increment(ref _lettersHeldForQuota);

    public long HeldForQuota => Volatile.Read(ref _lettersHeldForQuota);

    public void LettersReleased(int count) => Interlocked.Add(ref _lettersReleased, count);

    public void LeasesExpired(int count) => Interlocked.Add(ref _leasesExpired, count);

    public void WriteRefused() => Interlocked.Increment(ref _writesRefused);

    public long PausedReads => Volatile.Read(ref _readsPaused);

    public void ReadPaused() => Interlocked.Increment(ref _readsPaused);

    public void InboxLoadFailed() => Interlocked.Increment(ref _inboxLoadsFailed);

    public long InboxLoadsFailed => Volatile.Read(ref _inboxLoadsFailed);

    public void Publication() => Interlocked.Increment(ref _publications);

    public void PublicationDropped() => Interlocked.Increment(ref _publicationsDropped);

    public long PublicationsDropped => Volatile.Read(ref _publicationsDropped);

    public void SessionQueued(int count) => Interlocked.Add(ref _sessionQueued, count);

    public void SessionDropped() => Interlocked.Increment(ref _sessionDropped);

    public long SessionsDropped => Volatile.Read(ref _sessionDropped);

    public void SessionsExpired(int count) => Interlocked.Add(ref _sessionsExpired, count);

    public void NotificationDelivered() => Interlocked.Increment(ref _notificationsDelivered);

    public void NotificationRetried() => Interlocked.Increment(ref _notificationsRetried);

    public void NotificationFailed() => Interlocked.Increment(ref _notificationsFailed);

    public void NotificationDropped() => Interlocked.Increment(ref _notificationsDropped);

    public void QueueBoundAppended(int count) => Interlocked.Add(ref _queueBoundAppended, count);

    public void QueueBoundDropped(int count) => Interlocked.Add(ref _queueBoundDropped, count);

    public long QueueBoundDrops => Volatile.Read(ref _queueBoundDropped);

    public void ConnectionClosed(CloseReason reason) => Interlocked.Increment(ref _closed[(int)reason]);

    public long Closed(CloseReason reason) => Volatile.Read(ref _closed[(int)reason]);

    private IEnumerable<Measurement<long>> ClosedByReason()
    {
        foreach (var reason in Enum.GetValues<CloseReason>())
        {
            yield return new Measurement<long>(Volatile.Read(ref _closed[(int)reason]), new KeyValuePair<string, object?>("reason", reason.ToString()));
        }
    }

    public void Dispose() => _meter.Dispose();
}
