namespace Daakia.Core.Storage;

/// <summary>
/// The store the core runs on: durable queues, roster and activity log behind one seam. The embedded SQLite store and
/// (later) the Redis store implement it; the same contract test suite runs against each.
/// </summary>
/// <remarks>
/// <para><b>Order.</b> Every write and read takes its place in one store-wide order <i>when the call returns</i>
/// (before its task completes). The core relies on this: it starts writes under its own locks and awaits them
/// outside. Writes take effect in that order. A read sees every write whose call returned before the read was called;
/// it may also see writes called after it (SQLite's reader pool does), but then a prefix of them in order. The core
/// never relies on a read <i>not</i> seeing a later write: what it removed while a read was in flight it remembers.</para>
/// <para><b>Durability.</b> A write's task completes only after the write is durable at the configured level
/// (fsync by default). Writes may be batched into shared transactions (group commit); a failed batch faults the
/// task of every write in it.</para>
/// </remarks>
public interface IDaakiaStore : IQueueStore, IRosterStore, IActivityStore, IRetainedStore, ISessionStore, IRecordStore, IAsyncDisposable
{
    /// <summary>Opens (creating if needed) the store. Called once before anything else.</summary>
    ValueTask OpenAsync(CancellationToken cancellationToken = default);

    /// <summary>Completes when every write called before it is durable.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken = default);
}

/// <summary>
/// Durable queues (inboxes, dead letters, MQTT sessions, named queues, task queues), each under a <see cref="QueueKey"/>.
/// A message is stored once however many queues hold it; each queue holds a small entry with the message's position in
/// that queue, its delivery count, when it is visible and when it expires. Positions are allocated by the store, per
/// queue, increasing in store order and never reused (so a store that owns ordering, like Redis, can allocate them where
/// the data lives).
/// </summary>
/// <remarks>
/// <b>Expiry is per entry.</b> An entry starts with its message's <see cref="Letter.ExpiresAt"/>; an
/// <see cref="ExpiryOp"/> moves it for the entries it names, in their queue only (a claim keeping a named queue's message
/// alive, a dead-letter queue's own TTL), so the same message in another queue (a multicast's other inboxes) keeps its
/// own. A dead-letter move keeps the entry's expiry. Every read hands out the message with the entry's expiry as its
/// <see cref="Letter.ExpiresAt"/>, and the expiry sweep removes each entry at its own time.
/// </remarks>
public interface IQueueStore
{
    /// <summary>
    /// Appends <paramref name="message"/> to every queue of <paramref name="queues"/>, atomically, unless that would pass
    /// <paramref name="quota"/> for any of them (then nothing is stored and the task faults with
    /// <see cref="DaakiaErrorCode.QuotaExceeded"/>). Completes once durable, with the position the message got in each
    /// queue (in the order of <paramref name="queues"/>). Each entry starts with 0 deliveries and visible at
    /// <see cref="Letter.VisibleAt"/>.
    /// </summary>
    /// <remarks>A null <paramref name="quota"/> means no limits. Quotas count every queue kind; the tenant total counts a
    /// payload once. Every queue must be of the message's tenant (a store may refuse others).</remarks>
    ValueTask<IReadOnlyList<long>> AppendAsync(Letter message, IReadOnlyList<QueueKey> queues, InboxQuota? quota = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Up to <paramref name="limit"/> entries of one queue with a position greater than <paramref name="afterPosition"/>,
    /// in position order, stopping before the payloads would pass <paramref name="maxBytes"/> (the first entry is always
    /// returned). Expired and not-yet-visible entries are included (the sweep removes the former; the core holds the
    /// latter back).
    /// </summary>
    ValueTask<IReadOnlyList<QueueEntry>> ReadAsync(QueueKey queue, long afterPosition, int limit, long maxBytes = long.MaxValue, CancellationToken cancellationToken = default);

    /// <summary>Whether <see cref="ReadCommittedAsync"/> leaves out the entries not claimable at <c>claimableAt</c> (so a
    /// reader may ask for fewer at a time).</summary>
    bool SkipsUnclaimable => false;

    /// <summary>
    /// As <see cref="ReadAsync"/>, but from what the store has committed, without waiting for writes still in flight:
    /// it sees every write whose task has completed, and of the writes called but not yet committed a prefix, possibly
    /// none (the exception to the order rule above). For a reader that already knows, in memory, what those writes
    /// change and needs none of them (a claim's candidates: uncommitted posts were not acknowledged yet, uncommitted
    /// claims, deletes and moves are remembered by the core). With <paramref name="claimableAt"/>, it may leave out
    /// the entries expired or not yet visible then (a claim skips them anyway; a store can skip them without reading
    /// their payloads), the limit counting only those it returns. The default waits, as <see cref="ReadAsync"/> does,
    /// and leaves nothing out.
    /// </summary>
    ValueTask<IReadOnlyList<QueueEntry>> ReadCommittedAsync(QueueKey queue, long afterPosition, int limit, long maxBytes = long.MaxValue, DateTimeOffset? claimableAt = null, CancellationToken cancellationToken = default) =>
        ReadAsync(queue, afterPosition, limit, maxBytes, cancellationToken);

    /// <summary>
    /// The entries of one queue with the given message ids, those it holds, in position order (each id once). Expired
    /// and not-yet-visible entries are included, as in <see cref="ReadAsync"/>.
    /// </summary>
    ValueTask<IReadOnlyList<QueueEntry>> ReadByIdsAsync(QueueKey queue, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default);

    /// <summary>The newest entries of one queue, newest first, at most <paramref name="limit"/> (a queue's stats).</summary>
    ValueTask<IReadOnlyList<QueueEntry>> ReadLastAsync(QueueKey queue, int limit, CancellationToken cancellationToken = default);

    /// <summary>What one queue holds (entries and bytes as <see cref="InboxQuota"/> counts them).</summary>
    ValueTask<InboxUsage> GetUsageAsync(QueueKey queue, CancellationToken cancellationToken = default);

    /// <summary>What all queues of one tenant hold together (a payload counted once).</summary>
    ValueTask<InboxUsage> GetTenantUsageAsync(TenantId tenant, CancellationToken cancellationToken = default);

    /// <summary>Number of entries in one queue.</summary>
    ValueTask<long> CountAsync(QueueKey queue, CancellationToken cancellationToken = default);

    /// <summary>Removes the entries of the named message ids from one queue. Returns how many were there.</summary>
    ValueTask<int> DeleteAsync(QueueKey queue, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records entries that came back unacknowledged: each found entry's delivery count becomes the larger of its own and
    /// the given one, and its visibility the given time. Returns how many were found.
    /// </summary>
    ValueTask<int> ReturnAsync(QueueKey queue, IReadOnlyList<ReturnedEntry> entries, CancellationToken cancellationToken = default);

    /// <summary>
    /// Moves the named entries from <paramref name="from"/> to the end of <paramref name="to"/> (dead-lettering), with
    /// their delivery counts and expiry (visible at once), within one tenant, and in the same write records one activity entry of kind
    /// <see cref="ActivityKinds.DeadLettered"/> for each (at <paramref name="at"/>, actor the author, subject
    /// <paramref name="from"/>'s name, detail the message id). Not subject to quotas: the bytes stay in the tenant.
    /// Returns how many moved.
    /// </summary>
    ValueTask<int> DeadLetterAsync(QueueKey from, QueueKey to, IReadOnlyList<Guid> messageIds, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>
    /// A unit of work: applies every op in one commit, all or nothing (a failing op, a refused quota, faults the whole
    /// unit and nothing of it is stored). Results are in the order of <paramref name="ops"/>.
    /// </summary>
    ValueTask<IReadOnlyList<StoreOpResult>> WriteAsync(IReadOnlyList<StoreOp> ops, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes up to <paramref name="limit"/> entries (of any queue, any tenant) that expired at or before
    /// <paramref name="now"/> and, in the same write (all or nothing, so a crash cannot lose the record), appends one
    /// activity entry for each: kind <see cref="ActivityKinds.Expired"/>, at <paramref name="now"/>, actor the message's
    /// author, subject the queue's name, detail the message id. Returns the removed entries so the core can drop them
    /// from online windows; the core does not record them again.
    /// </summary>
    /// <remarks>
    /// The returned messages identify what was removed (tenant, id, author, recipients, expiry); their
    /// <see cref="Letter.Payload"/> may be empty and their <see cref="Letter.Timestamp"/> unset, so that a sweep need not
    /// load payloads. A store may remove fewer than <paramref name="limit"/> entries in one call to keep the write small
    /// (the SQLite store: at most 1000); the caller repeats while calls return entries.
    /// </remarks>
    ValueTask<IReadOnlyList<ExpiredEntry>> RemoveExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default);
}

/// <summary>Every client a tenant has ever seen.</summary>
public interface IRosterStore
{
    /// <summary>Records that a client was seen at <paramref name="at"/>: sets first-seen once, last-seen always.</summary>
    ValueTask RecordSeenAsync(TenantId tenant, ClientId client, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>A page of the roster ordered by client id, starting after <paramref name="after"/> (null: from the start).</summary>
    ValueTask<IReadOnlyList<RosterEntry>> ListClientsAsync(TenantId tenant, ClientId? after, int limit, CancellationToken cancellationToken = default);

    /// <summary>One roster entry, or null if the client was never seen.</summary>
    ValueTask<RosterEntry?> GetClientAsync(TenantId tenant, ClientId client, CancellationToken cancellationToken = default);
}

/// <summary>
/// Retained messages, one per tenant and topic. They are written as ops of a unit of work (<see cref="RetainOp"/>,
/// <see cref="ClearRetainedOp"/>) and read in full when the core starts.
/// </summary>
public interface IRetainedStore
{
    /// <summary>
    /// Up to <paramref name="limit"/> retained messages after <paramref name="after"/> (null: from the start), ordered by
    /// tenant and then topic (ordinal).
    /// </summary>
    ValueTask<IReadOnlyList<RetainedMessage>> ReadRetainedAsync((TenantId Tenant, string Topic)? after, int limit, CancellationToken cancellationToken = default);
}

/// <summary>The append-only activity log.</summary>
public interface IActivityStore
{
    /// <summary>Appends entries (their <see cref="ActivityEntry.Id"/> is ignored and assigned by the store).</summary>
    ValueTask AppendActivityAsync(IReadOnlyList<ActivityEntry> entries, CancellationToken cancellationToken = default);

    /// <summary>
    /// Bounded retention: among the oldest <paramref name="limit"/> entries (of all tenants), removes those at or before
    /// <paramref name="olderThan"/> and those beyond the newest <paramref name="keepEntries"/>. Returns how many went; a
    /// caller repeats while it gets <paramref name="limit"/>.
    /// </summary>
    ValueTask<int> PruneActivityAsync(DateTimeOffset olderThan, long keepEntries, int limit, CancellationToken cancellationToken = default);

    /// <summary>Entries of one tenant with id greater than <paramref name="afterId"/>, oldest first.</summary>
    ValueTask<IReadOnlyList<ActivityEntry>> ReadActivityAsync(TenantId tenant, long afterId, int limit, CancellationToken cancellationToken = default);

    /// <summary>The id of the tenant's newest activity entry (0 when it has none): where a live stream "from now"
    /// starts. The default reads the whole log; a store answers it from its index.</summary>
    async ValueTask<long> LastActivityIdAsync(TenantId tenant, CancellationToken cancellationToken = default)
    {
        long last = 0;
        while (true)
        {
            var page = await ReadActivityAsync(tenant, last, 1000, cancellationToken);
            if (page.Count == 0)
            {
                return last;
            }

            last = page[^1].Id;
        }
    }
}
