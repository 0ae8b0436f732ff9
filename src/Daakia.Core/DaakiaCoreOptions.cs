namespace Daakia.Core;

/// <summary>
/// Limits and timings of the core. Bound from the <c>Daakia:Core</c> configuration section; every value is listed in
/// docs/configuration.md.
/// </summary>
public sealed class DaakiaCoreOptions
{
    /// <summary>Largest letter or publication payload in bytes (as UTF-8 JSON on the JSON protocols).</summary>
    public int MaxPayloadBytes { get; set; } = 256 * 1024;

    /// <summary>Most recipients of one letter.</summary>
    public int MaxRecipients { get; set; } = 100;

    /// <summary>Most simultaneous connections of one client.</summary>
    public int MaxConnectionsPerClient { get; set; } = 64;

    /// <summary>Most simultaneous connections in one tenant, of every protocol.</summary>
    public int MaxConnectionsPerTenant { get; set; } = 100_000;

    /// <summary>Most topic filters one connection may hold.</summary>
    public int MaxSubscriptionsPerConnection { get; set; } = 1000;

    /// <summary>Most retained messages one tenant keeps (one per topic); a retained publish past it is refused.</summary>
    public int MaxRetainedPerTenant { get; set; } = 100_000;

    /// <summary>Most bytes (payload, topic and content type) of one tenant's retained messages, all held in memory.</summary>
    public long MaxRetainedBytesPerTenant { get; set; } = 256L * 1024 * 1024;

    /// <summary>Most MQTT persistent sessions one tenant keeps (online and offline); a CONNECT that would make one more is
    /// refused.</summary>
    public int MaxSessionsPerTenant { get; set; } = 100_000;

    /// <summary>Most messages queued for one persistent session (mosquitto's <c>max_queued_messages</c>); a message past it
    /// is dropped for that session only, and counted.</summary>
    public int MaxSessionQueuedMessages { get; set; } = 1000;

    /// <summary>Most bytes (payload, topic, properties) queued for one persistent session; past it as above.</summary>
    public long MaxSessionQueuedBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Longest topic name or filter, in characters.</summary>
    public int MaxTopicLength { get; set; } = 1024;

    /// <summary>Most levels in a topic name or filter.</summary>
    public int MaxTopicLevels { get; set; } = 32;

    /// <summary>Most unacknowledged letters outstanding on one connection; more follow as acks arrive.</summary>
    public int MaxInflightPerConnection { get; set; } = 256;

    /// <summary>Most bytes of unacknowledged letters outstanding on one connection (one letter always fits).</summary>
    public long MaxInflightBytesPerConnection { get; set; } = 4 * 1024 * 1024;

    /// <summary>Letters read from the store per inbox page; at most twice this many of one client's letters are held in memory.</summary>
    public int InboxPageSize { get; set; } = 512;

    /// <summary>Most bytes of one online client's letters held in memory (its inbox window); the rest wait in the store.</summary>
    public long MaxWindowBytesPerClient { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// Most bytes of durable writes (sends, acks) accepted and not yet committed, server-wide. Past it the server pushes
    /// back: WebSocket sessions stop reading, REST answers 503 with Retry-After.
    /// </summary>
    public long MaxPendingWriteBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>Most durable writes (sends, acks) accepted and not yet committed, server-wide (see <see cref="MaxPendingWriteBytes"/>).</summary>
    public int MaxPendingWrites { get; set; } = 65_536;

    /// <summary>Heartbeat interval when the client names none.</summary>
    public TimeSpan DefaultHeartbeat { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Shortest heartbeat interval a client may ask for.</summary>
    public TimeSpan MinHeartbeat { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest heartbeat interval a client may ask for.</summary>
    public TimeSpan MaxHeartbeat { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Heartbeat intervals a connection may stay silent before it is closed.</summary>
    public int MissedHeartbeats { get; set; } = 2;

    /// <summary>How often the single heartbeat timer scans connections.</summary>
    public TimeSpan HeartbeatCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often expired letters are removed from inboxes and recorded in the activity log.</summary>
    public TimeSpan ExpirySweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Period of the <c>$SYS/broker/…</c> statistics (Mosquitto's <c>sys_interval</c>): each tenant's, as retained
    /// publications on its own topics. Zero turns them off.
    /// </summary>
    public TimeSpan SysInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest wait between retries of a failed inbox page read (retries start at 50 ms and double).</summary>
    public TimeSpan InboxLoadRetryMax { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Most letters one inbox holds; a send past it is refused (<c>quota_exceeded</c>, 507, EDQUOT).</summary>
    public long MaxInboxLetters { get; set; } = 10_000;

    /// <summary>Most bytes one inbox holds (payload plus 128 per letter); a send past it is refused.</summary>
    public long MaxInboxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Most bytes all inboxes of one tenant hold together; a send past it is refused.</summary>
    public long MaxTenantStoredBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>
    /// TTL of a letter whose sender gives none, so letters to recipients that never connect do not stay forever
    /// (they expire into the activity log). <c>00:00:00</c> keeps such letters until acknowledged.
    /// </summary>
    public TimeSpan DefaultLetterTtl { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Most payload bytes in one page read of an inbox (REST reads; the live window has its own bound).</summary>
    public long MaxReadPageBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>How long activity log entries are kept.</summary>
    public TimeSpan ActivityRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Most activity log entries kept (all tenants together); older ones are removed first.</summary>
    public long MaxActivityEntries { get; set; } = 10_000_000;

    /// <summary>How often a live activity stream (the WebSocket API's <c>activity_subscribe</c>) looks for new entries.</summary>
    public TimeSpan ActivityStreamInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Most live activity streams at once (all tenants together).</summary>
    public int MaxActivityStreams { get; set; } = 256;

    /// <summary>Most activity entries waiting to be written (recorded on the hot paths, written in batches); past it
    /// entries are dropped and counted.</summary>
    public int MaxPendingActivityEntries { get; set; } = 100_000;

    /// <summary>Most bytes of activity entries waiting to be written.</summary>
    public long MaxPendingActivityBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Whether sends and acks of letters are recorded in the activity log (written in batches with the group
    /// commit). Off by default: two rows per letter cost the durable direct path about a tenth of its rate
    /// (docs/benchmarks.md, bench/run-activity-cost.sh).</summary>
    public bool RecordMessageActivity { get; set; }

    /// <summary>Longest TTL a letter may carry.</summary>
    public TimeSpan MaxTtl { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Most topic names whose subscriber lists are cached per tenant.</summary>
    public int RouteCacheSize { get; set; } = 4096;

    /// <summary>
    /// Most offline inboxes per tenant whose usage the core remembers, so that a letter to online and offline
    /// recipients that would pass an offline one's quota is refused before any online one sees it (online clients'
    /// inboxes are always remembered; a forgotten one is read from the store again when needed).
    /// </summary>
    public int QuotaCacheSize { get; set; } = 4096;

    /// <summary>Longest self-signalled status text, in characters.</summary>
    public int MaxStatusTextLength { get; set; } = 256;

    /// <summary>Most entries in one roster or activity page.</summary>
    public int MaxPageSize { get; set; } = 1000;

    /// <summary>
    /// Most times a letter is handed out without being acknowledged before it goes to the client's dead letters instead
    /// of being delivered again (so a letter every delivery attempt fails on cannot block an inbox). 0: no limit.
    /// </summary>
    public int MaxDeliveries { get; set; } = 10;

    /// <summary>
    /// How long a letter handed out stays leased to its connection without an ack before it is delivered again (with its
    /// delivery count raised). Zero: no timeout — a lease ends only with an ack, a release or the connection.
    /// </summary>
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.Zero;

    /// <summary>Longest delay a sender may give a letter, or a consumer a release.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Most headers (key/value pairs) one letter may carry. 0: letters carry no headers.</summary>
    public int MaxHeadersPerLetter { get; set; } = 32;

    /// <summary>Most bytes of one letter's headers: the UTF-8 bytes of every key and value together.</summary>
    public int MaxHeaderBytes { get; set; } = 8 * 1024;

    /// <summary>Most named queues (Zaqar's) one tenant may hold.</summary>
    public int MaxQueuesPerTenant { get; set; } = 10_000;

    /// <summary>Most bytes of one named queue's metadata (Zaqar's <c>max_queue_metadata</c>).</summary>
    public int MaxQueueMetadataBytes { get; set; } = 64 * 1024;

    /// <summary>Most bytes of one post of messages to a named queue (Zaqar's <c>max_messages_post_size</c>).</summary>
    public int MaxQueuePostBytes { get; set; } = 256 * 1024;

    /// <summary>Most messages one post to a named queue may carry.</summary>
    public int MaxMessagesPerPost { get; set; } = 1000;

    /// <summary>Most messages one page of a named queue lists, or one request names by id (Zaqar's
    /// <c>max_messages_per_page</c>).</summary>
    public int MaxQueueMessagesPerPage { get; set; } = 20;

    /// <summary>Most messages one claim or one pop takes (Zaqar's <c>max_messages_per_claim_or_pop</c>).</summary>
    public int MaxMessagesPerClaim { get; set; } = 20;

    /// <summary>The TTL of a queue message posted without one, to a queue that sets none (Zaqar's <c>default_message_ttl</c>).</summary>
    public TimeSpan DefaultQueueMessageTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Longest TTL of a queue message (Zaqar's <c>max_message_ttl</c>); the shortest is a minute, as Zaqar's.</summary>
    public TimeSpan MaxQueueMessageTtl { get; set; } = TimeSpan.FromDays(14);

    /// <summary>Longest delay of a queue message (Zaqar's <c>max_message_delay</c>).</summary>
    public TimeSpan MaxQueueMessageDelay { get; set; } = TimeSpan.FromSeconds(900);

    /// <summary>Longest claim TTL (Zaqar's <c>max_claim_ttl</c>); the shortest is a minute, as Zaqar's.</summary>
    public TimeSpan MaxClaimTtl { get; set; } = TimeSpan.FromHours(12);

    /// <summary>Longest claim grace (Zaqar's <c>max_claim_grace</c>).</summary>
    public TimeSpan MaxClaimGrace { get; set; } = TimeSpan.FromHours(12);

    /// <summary>How long a post's idempotency key is remembered (a retry within it gets the first post's ids).</summary>
    public TimeSpan QueueIdempotencyWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Most idempotency keys one named queue remembers at once; a post with a new key past it is refused.</summary>
    public int MaxIdempotencyKeysPerQueue { get; set; } = 100_000;

    /// <summary>Most bytes of idempotency keys one named queue remembers at once (each key counted as two bytes per
    /// character, 16 bytes per id its post stored and 96 of overhead); a post with a new key past it is refused.</summary>
    public long MaxIdempotencyBytesPerQueue { get; set; } = 32L * 1024 * 1024;

    /// <summary>Longest a claim may wait for messages (long-poll, <c>wait=</c>).</summary>
    public TimeSpan MaxQueueWait { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Most messages one named queue may hold.</summary>
    public long MaxQueueMessages { get; set; } = 1_000_000;

    /// <summary>Most bytes one named queue may hold.</summary>
    public long MaxQueueBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>Most messages all named queues of one tenant hold together (a dead-letter queue counts; notification
    /// outboxes do not); a post past it is refused whole (<c>quota_exceeded</c>).</summary>
    public long MaxTenantQueueMessages { get; set; } = 10_000_000;

    /// <summary>Most subscriptions one named queue may have (live-connection ones included).</summary>
    public int MaxSubscriptionsPerQueue { get; set; } = 100;

    /// <summary>Most bytes of a subscription's options (the adapter's JSON).</summary>
    public int MaxSubscriptionOptionsBytes { get; set; } = 16 * 1024;

    /// <summary>Longest a subscriber URI may be, in characters.</summary>
    public int MaxSubscriberLength { get; set; } = 2048;

    /// <summary>The TTL of a subscription made without one (Zaqar's <c>default_subscription_ttl</c>).</summary>
    public TimeSpan DefaultSubscriptionTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Longest TTL a subscription may have.</summary>
    public TimeSpan MaxSubscriptionTtl { get; set; } = TimeSpan.FromDays(3650);

    /// <summary>Webhook and e-mail subscribers are sent nothing but a confirmation request until they confirm (Zaqar's
    /// <c>require_confirmation</c>).</summary>
    public bool RequireSubscriptionConfirmation { get; set; }

    /// <summary>Most notifications one subscription's outbox holds; a message posted while it is full is not notified
    /// to that subscriber (counted as dropped), and the post succeeds.</summary>
    public long MaxPendingNotifications { get; set; } = 10_000;

    /// <summary>Most bytes one subscription's outbox holds (as a queue's bytes are counted); past it, as
    /// <see cref="MaxPendingNotifications"/>.</summary>
    public long MaxPendingNotificationBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Most bytes the outboxes of one tenant's subscriptions hold together: past it, as
    /// <see cref="MaxPendingNotifications"/>, so dead receivers never take the whole of a tenant's stored bytes (and
    /// with them every post).</summary>
    public long MaxTenantPendingNotificationBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Notifications one subscription has in flight at once.</summary>
    public int NotificationConcurrency { get; set; } = 4;

    /// <summary>Notifications the whole server has in flight at once.</summary>
    public int MaxNotificationsInFlight { get; set; } = 256;

    /// <summary>Most topic filters one named queue may be bound to.</summary>
    public int MaxBindingsPerQueue { get; set; } = 100;

    /// <summary>Most services one tenant's workers may register (a service stays known once registered).</summary>
    public int MaxServicesPerTenant { get; set; } = 1000;

    /// <summary>Most services one worker connection may offer.</summary>
    public int MaxServicesPerWorker { get; set; } = 64;

    /// <summary>Most tasks one worker connection may run at once (the largest capacity it may register).</summary>
    public int MaxWorkerCapacity { get; set; } = 1024;

    /// <summary>Largest task payload in bytes.</summary>
    public int MaxTaskPayloadBytes { get; set; } = 256 * 1024;

    /// <summary>Largest task result in bytes (it is kept with the task and sent to the submitter's inbox).</summary>
    public int MaxTaskResultBytes { get; set; } = 256 * 1024;

    /// <summary>Most tasks of one tenant not yet finished (queued, assigned, running); one more is refused as a quota.</summary>
    public int MaxOpenTasksPerTenant { get; set; } = 10_000;

    /// <summary>Most payload and result bytes one tenant's tasks hold (they are held in memory); a submit past it is
    /// refused as a quota, finished tasks past it are forgotten oldest first.</summary>
    public long MaxTenantTaskBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Highest numeric task priority level (0 is the lowest; higher levels are dispatched first).</summary>
    public int MaxTaskPriorityLevel { get; set; } = 9;

    /// <summary>How often a task is assigned when its workers are lost before it is failed (a task's own setting may be
    /// lower).</summary>
    public int TaskMaxAttempts { get; set; } = 3;

    /// <summary>The run timeout of a task submitted without one (00:00:00: none).</summary>
    public TimeSpan DefaultTaskTimeout { get; set; } = TimeSpan.Zero;

    /// <summary>Longest run timeout a task may ask for.</summary>
    public TimeSpan MaxTaskTimeout { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long a worker has to confirm a cancel (or a timeout) before the task ends without it.</summary>
    public TimeSpan TaskCancelGrace { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a finished task (its state and result) stays queryable.</summary>
    public TimeSpan FinishedTaskRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Most finished tasks one tenant keeps queryable; past it the oldest are forgotten.</summary>
    public int MaxFinishedTasksPerTenant { get; set; } = 10_000;

    /// <summary>How often timeouts, cancel deadlines and retention are checked and waiting tasks offered again.</summary>
    public TimeSpan TaskCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    internal int MaxLoadedLetters => InboxPageSize * 2;

    internal Storage.InboxQuota Quota => new(MaxInboxLetters, MaxInboxBytes, MaxTenantStoredBytes);

    /// <summary>What an append to named queues is checked against: each queue's bounds, the tenant's bytes and the
    /// messages of its named queues together.</summary>
    internal Storage.InboxQuota NamedQueueQuota => new(MaxQueueMessages, MaxQueueBytes, MaxTenantStoredBytes, MaxTenantQueueMessages);
}
