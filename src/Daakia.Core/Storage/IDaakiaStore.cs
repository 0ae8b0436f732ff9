namespace Daakia.Core.Storage;

/// <summary>
/// The store the core runs on: inboxes, roster and activity log behind one seam. The embedded SQLite store and
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
public interface IDaakiaStore : IInboxStore, IRosterStore, IActivityStore, IAsyncDisposable
{
    /// <summary>Opens (creating if needed) the store. Called once before anything else.</summary>
    ValueTask OpenAsync(CancellationToken cancellationToken = default);

    /// <summary>Completes when every write called before it is durable.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken = default);
}

/// <summary>Durable inboxes of letters.</summary>
public interface IInboxStore
{
    /// <summary>The highest <see cref="Letter.Sequence"/> ever stored (0 when empty); the core continues after it.</summary>
    ValueTask<long> GetMaxSequenceAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Puts <paramref name="letter"/> into the inbox of every client in <paramref name="recipients"/>, atomically, unless
    /// that would pass <paramref name="quota"/> for any of them (then nothing is stored and the task faults with
    /// <see cref="DaakiaErrorCode.QuotaExceeded"/>). Completes once durable.
    /// </summary>
    /// <remarks>A null <paramref name="quota"/> means no limits.</remarks>
    ValueTask AppendLetterAsync(Letter letter, IReadOnlyList<ClientId> recipients, InboxQuota? quota = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Up to <paramref name="limit"/> letters of one inbox with <see cref="Letter.Sequence"/> greater than
    /// <paramref name="afterSequence"/>, in sequence order, stopping before the payloads would pass
    /// <paramref name="maxBytes"/> (the first letter is always returned). Expired letters are included (the sweep
    /// removes them).
    /// </summary>
    ValueTask<IReadOnlyList<Letter>> ReadInboxAsync(TenantId tenant, ClientId recipient, long afterSequence, int limit, long maxBytes = long.MaxValue, CancellationToken cancellationToken = default);

    /// <summary>What one inbox holds (letters and bytes as <see cref="InboxQuota"/> counts them).</summary>
    ValueTask<InboxUsage> GetInboxUsageAsync(TenantId tenant, ClientId recipient, CancellationToken cancellationToken = default);

    /// <summary>What all inboxes of one tenant hold together.</summary>
    ValueTask<InboxUsage> GetTenantUsageAsync(TenantId tenant, CancellationToken cancellationToken = default);

    /// <summary>Number of letters waiting in one inbox.</summary>
    ValueTask<long> CountInboxAsync(TenantId tenant, ClientId recipient, CancellationToken cancellationToken = default);

    /// <summary>Removes the named letters from one inbox (acknowledged). Returns how many were there.</summary>
    ValueTask<int> DeleteLettersAsync(TenantId tenant, ClientId recipient, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes up to <paramref name="limit"/> inbox entries (of any tenant) whose expiry is at or before
    /// <paramref name="now"/> and, in the same write (all or nothing, so a crash cannot lose the record), appends one
    /// activity entry for each: kind <see cref="ActivityKinds.Expired"/>, at <paramref name="now"/>, actor the letter's
    /// author, subject the recipient, detail the message id. Returns the removed entries so the core can drop them from
    /// online clients' windows; the core does not record them again.
    /// </summary>
    /// <remarks>
    /// The returned letters identify what was removed (tenant, id, sequence, author, recipients, expiry); their
    /// <see cref="Letter.Payload"/> may be empty and their <see cref="Letter.Timestamp"/> unset, so that a sweep need not
    /// load payloads. A store may remove fewer than <paramref name="limit"/> entries in one call to keep the write
    /// small (the SQLite store: at most 1000); the caller repeats while calls return entries.
    /// </remarks>
    ValueTask<IReadOnlyList<ExpiredLetter>> RemoveExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default);
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
}
