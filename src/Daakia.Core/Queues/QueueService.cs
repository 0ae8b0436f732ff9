using Daakia.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Daakia.Core;

/// <summary>
/// Named queues (Zaqar's semantics; docs/zaqar-design.md): lazily made, with metadata; messages posted in batches with
/// a TTL and a delay, listed by marker (QueueService.Listing.cs), read by id, deleted by id and popped (QueueService.Removals.cs); claims
/// (QueueService.Claims.cs); long-poll for both (QueueService.Waiting.cs). Each queue is one of the delivery engine's
/// queues (<see cref="QueueKind.Queue"/>), its record and its claims are store records written in the same units of work
/// as the entries they describe. Every operation is of one tenant: nothing of another is reachable, whatever id a
/// caller names.
/// </summary>
public sealed partial class QueueService : IDisposable
{

    private readonly DaakiaEngine _engine;
    private readonly IDaakiaStore _store;
    private readonly DaakiaCoreOptions _options;
    private readonly TimeProvider _time;
    private readonly TenantState _none;
    private readonly DaakiaMetrics _metrics;
    private readonly ILogger _logger;

    internal QueueService(DaakiaEngine engine, IDaakiaStore store, DaakiaCoreOptions options, TimeProvider time, DaakiaMetrics metrics, ILogger logger)
    {
        _engine = engine;
        _metrics = metrics;
        _logger = logger;
        _dispatcher = new NotificationDispatcher(store, options, time, metrics, [], logger);
        _store = store;
        _options = options;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _none = new TenantState(TenantId.Parse("zq-none"), options);
    }

    /// <summary>
    /// The tenant's state for an operation that makes nothing (reads, and changes of what must exist already): a tenant
    /// never seen gets a shared empty one, so a stream of requests naming new projects leaves no state behind.
    /// </summary>
    private TenantState Of(TenantId tenant) => _engine.TryTenant(tenant) ?? _none;

    /// <summary>Whether <paramref name="name"/> is a queue name: 1 to 64 of ASCII letters, digits, '_', '-' and '.'.</summary>
    /// <remarks>
    /// A hand check, run on every request: it accepts exactly what <c>^[a-zA-Z0-9_.-]{1,64}$</c> did, including that
    /// pattern's one trailing <c>\n</c> (<c>$</c> matches before a final newline).
    /// </remarks>
    public static bool IsValidName(string? name)
    {
        if (name is null)
        {
            return false;
        }

        var span = name.AsSpan();
        if (span.Length > 1 && span[^1] == '\n')
        {
            span = span[..^1];
        }

        if (span.Length is 0 or > 64)
        {
            return false;
        }

        foreach (var c in span)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    private static QueueKey Key(TenantId tenant, string name) => new(tenant, QueueKind.Queue, name);

    private static void RequireName(string name)
    {
        if (!IsValidName(name))
        {
            throw DaakiaException.Invalid("Queue names may not be more than 64 characters long, and may contain only ASCII letters, digits, underscores, dashes and dots.");
        }
    }

    private void RequireMetadata(ReadOnlyMemory<byte> metadata)
    {
        if (metadata.Length > _options.MaxQueueMetadataBytes)
        {
            throw new DaakiaException(DaakiaErrorCode.PayloadTooLarge, $"Queue metadata may be at most {_options.MaxQueueMetadataBytes} bytes.");
        }
    }

    /// <summary>
    /// Makes a queue with its metadata; false (and nothing changed) when it exists already — Zaqar keeps the existing
    /// queue's metadata on a second create. Completes once the queue's record is durable.
    /// </summary>
    public async Task<bool> CreateAsync(TenantId tenant, string name, ReadOnlyMemory<byte> metadata, NamedQueueSettings settings)
    {
        _engine.EnsureAccepting();
        RequireName(name);
        RequireMetadata(metadata);
        var t = _engine.Tenant(tenant);
        NamedQueueState state;
        Task<IReadOnlyList<StoreOpResult>> write;
        lock (t.Gate)
        {
            if (t.NamedQueues.TryGetValue(name, out var had))
            {
                if (had.RecordDurable)
                {
                    return false;
                }

                // Made by a create whose write failed: this one makes it (with its metadata, as a first create would).
                had.Info = had.Info with { Metadata = metadata.ToArray(), Settings = settings };
                state = had;
            }
            else
            {
                state = Make(t, name, metadata.ToArray(), settings);
            }

            write = _store.WriteAsync([Record(tenant, state.Info)]).AsTask();
        }

        await write;
        state.RecordDurable = true;
        return true;
    }

    /// <summary>Adds a queue to the tenant's (caller holds the lock), within <see cref="DaakiaCoreOptions.MaxQueuesPerTenant"/>.</summary>
    private NamedQueueState Make(TenantState t, string name, ReadOnlyMemory<byte> metadata, NamedQueueSettings settings)
    {
        if (t.NamedQueues.Count >= _options.MaxQueuesPerTenant)
        {
            throw new DaakiaException(DaakiaErrorCode.QuotaExceeded, $"A tenant may hold at most {_options.MaxQueuesPerTenant} queues.");
        }

        var state = new NamedQueueState(new NamedQueueInfo(name, metadata, settings, _time.GetUtcNow()));
        t.NamedQueues[name] = state;
        return state;
    }

    private static PutRecordOp Record(TenantId tenant, NamedQueueInfo info) =>
        new(new StoredRecord(tenant, RecordKind.NamedQueue, info.Name, NamedQueueRecords.Encode(info)));

    /// <summary>The queue's info, or null if there is no such queue.</summary>
    public NamedQueueInfo? Get(TenantId tenant, string name)
    {
        var t = Of(tenant);
        lock (t.Gate)
        {
            return t.NamedQueues.TryGetValue(name, out var q) ? q.Info : null;
        }
    }

    /// <summary>Up to <paramref name="limit"/> queues with a name after <paramref name="marker"/> (ordinal), in name order.</summary>
    public IReadOnlyList<NamedQueueInfo> List(TenantId tenant, string? marker, int limit)
    {
        var t = Of(tenant);
        var result = new List<NamedQueueInfo>(Math.Min(limit, 64));
        lock (t.Gate)
        {
            foreach (var (name, q) in t.NamedQueues)
            {
                if (marker is not null && string.CompareOrdinal(name, marker) <= 0)
                {
                    continue;
                }

                if (result.Count == limit)
                {
                    break;
                }

                result.Add(q.Info);
            }
        }

        return result;
    }

    /// <summary>How many named queues the tenant holds.</summary>
    public int Count(TenantId tenant)
    {
        var t = Of(tenant);
        lock (t.Gate)
        {
            return t.NamedQueues.Count;
        }
    }

    /// <summary>Replaces a queue's metadata and settings; false if there is no such queue.</summary>
    public async Task<bool> SetMetadataAsync(TenantId tenant, string name, ReadOnlyMemory<byte> metadata, NamedQueueSettings settings)
    {
        _engine.EnsureAccepting();
        RequireMetadata(metadata);
        var t = Of(tenant);
        Task<IReadOnlyList<StoreOpResult>> write;
        NamedQueueState? q;
        lock (t.Gate)
        {
            if (!t.NamedQueues.TryGetValue(name, out q))
            {
                return false;
            }

            q.Info = q.Info with { Metadata = metadata.ToArray(), Settings = settings };
            write = _store.WriteAsync([Record(tenant, q.Info)]).AsTask();
        }

        await write;
        q.RecordDurable = true;
        return true;
    }

    /// <summary>Deletes a queue: its record, its claims and its messages, in one write. Nothing to delete is no error.</summary>
    public async Task DeleteAsync(TenantId tenant, string name)
    {
        _engine.EnsureAccepting();
        var t = Of(tenant);
        Task<IReadOnlyList<StoreOpResult>> write;
        lock (t.Gate)
        {
            var ops = new List<StoreOp> { new DeleteRecordOp(tenant, RecordKind.NamedQueue, name), new PurgeQueueOp(Key(tenant, name)) };
            if (t.NamedQueues.Remove(name, out var q))
            {
                ForgetClaims(tenant, q, ops);
                ops.AddRange(ForgetSubscriptions(q));
                ForgetBindings(t, q, ops);
                foreach (var k in q.Keys.Keys)
                {
                    ops.Add(new DeleteRecordOp(tenant, RecordKind.Idempotency, NamedQueueRecords.IdempotencyKey(name, k)));
                }
            }

            write = Purging(ops);
        }

        try
        {
            await write;
        }
        finally
        {
            Interlocked.Decrement(ref _purgesInFlight);
        }
    }

    /// <summary>Removes every message of a queue and its claims (the queue and its metadata stay).</summary>
    public async Task PurgeAsync(TenantId tenant, string name)
    {
        _engine.EnsureAccepting();
        var t = Of(tenant);
        Task<IReadOnlyList<StoreOpResult>> write;
        lock (t.Gate)
        {
            var ops = new List<StoreOp> { new PurgeQueueOp(Key(tenant, name)) };
            if (t.NamedQueues.TryGetValue(name, out var q))
            {
                ForgetClaims(tenant, q, ops);
                q.Purges++;
                q.Bound?.Usage.Seeded = false; // emptied: its bound is read again when a routed message next needs it
            }

            write = Purging(ops);
        }

        try
        {
            await write;
        }
        finally
        {
            Interlocked.Decrement(ref _purgesInFlight);
        }
    }

    /// <summary>Takes a queue's claims out of memory, their records' deletes into <paramref name="ops"/> (caller holds the lock).</summary>
    private static void ForgetClaims(TenantId tenant, NamedQueueState q, List<StoreOp> ops)
    {
        foreach (var c in q.Claims.Values)
        {
            ops.Add(new DeleteRecordOp(tenant, RecordKind.Claim, NamedQueueRecords.ClaimKey(q.Info.Name, c.Id)));
        }

        q.Claims.Clear();
        q.ClaimOf.Clear();
    }

    /// <summary>
    /// Posts messages to a queue (made if missing), all in one write: every message is stored or none is. Returns their
    /// ids in the order posted, once durable. <paramref name="author"/> is the poster's client id (what <c>echo</c> filters).
    /// </summary>
    public async Task<IReadOnlyList<Guid>> PostAsync(TenantId tenant, string name, ClientId author, IReadOnlyList<NewQueueMessage> messages, string? idempotencyKey = null)
    {
        _engine.EnsureAccepting();
        RequireName(name);
        if (idempotencyKey is not null && (idempotencyKey.Length is 0 or > 128 || idempotencyKey.Any(c => c < 0x21 || c > 0x7E)))
        {
            throw DaakiaException.Invalid("An idempotency key is 1 to 128 printable ASCII characters.");
        }

        if (messages.Count == 0)
        {
            throw DaakiaException.Invalid("No messages to enqueue.");
        }

        if (messages.Count > _options.MaxMessagesPerPost)
        {
            throw new DaakiaException(DaakiaErrorCode.LimitExceeded, $"At most {_options.MaxMessagesPerPost} messages may be posted at once.");
        }

        var t = _engine.Tenant(tenant);
        var now = _time.GetUtcNow();
        var key = Key(tenant, name);
        var quota = _options.NamedQueueQuota;
        var ids = new Guid[messages.Count];
        Task<IReadOnlyList<StoreOpResult>> write;
        NamedQueueState posted;
        TaskCompletionSource<IReadOnlyList<Guid>>? remembered = null;
        Task<IReadOnlyList<Guid>> first;
        List<(SubscriptionState State, long Bytes)>? notified = null;
        var letters = new Letter[messages.Count];
        lock (t.Gate)
        {
            var made = false;
            if (!t.NamedQueues.TryGetValue(name, out var q))
            {
                q = Make(t, name, "{}"u8.ToArray(), NamedQueueSettings.None);
                made = true;
            }

            if (idempotencyKey is not null && q.Keys.TryGetValue(idempotencyKey, out var earlier) && earlier.Expires > now && !earlier.Ids.IsFaulted)
            {
                // The same post again (a retry): answered with what the first one stored, once that is durable.
                first = earlier.Ids;
                goto Repeat;
            }

            var settings = q.Info.Settings;
            var ops = new List<StoreOp>(messages.Count + 1);
            if (!q.RecordDurable)
            {
                ops.Add(Record(tenant, q.Info));
            }

            // A new key past the bounds refuses the post before any of it is counted (notifications, drops).
            var keySize = idempotencyKey is null ? 0 : IdempotencyKeys.SizeOf(idempotencyKey, ids.Length);
            if (idempotencyKey is not null && !q.Keys.Fits(idempotencyKey, keySize, _options.MaxIdempotencyKeysPerQueue, _options.MaxIdempotencyBytesPerQueue))
            {
                Refuse(t, name, q, made, notified);
                throw new DaakiaException(DaakiaErrorCode.QuotaExceeded,
                    $"A queue remembers at most {_options.MaxIdempotencyKeysPerQueue} idempotency keys and {_options.MaxIdempotencyBytesPerQueue} bytes of them at once.");
            }

            var bytes = 0L;
            for (var i = 0; i < messages.Count; i++)
            {
                var m = messages[i];
                bytes += m.Body.Length;
                var ttl = m.Ttl ?? settings.DefaultMessageTtl ?? _options.DefaultQueueMessageTtl;
                var delay = m.Delay ?? settings.DefaultMessageDelay ?? TimeSpan.Zero;
                if (ttl < TimeSpan.FromMinutes(1) || ttl > _options.MaxQueueMessageTtl)
                {
                    Refuse(t, name, q, made, notified);
                    throw DaakiaException.Invalid($"The TTL for a message may not exceed {(long)_options.MaxQueueMessageTtl.TotalSeconds} seconds, and must be at least 60 seconds long.");
                }

                if (delay < TimeSpan.Zero || delay > _options.MaxQueueMessageDelay)
                {
                    Refuse(t, name, q, made, notified);
                    throw DaakiaException.Invalid($"The delay for a message may not exceed {(long)_options.MaxQueueMessageDelay.TotalSeconds} seconds, and must be at least 0 seconds long.");
                }

                var attributes = m.Attributes ?? [];
                if (attributes.Count > 0)
                {
                    try
                    {
                        _engine.Letters.ValidateHeaders(attributes);
                    }
                    catch
                    {
                        Refuse(t, name, q, made, notified);
                        throw;
                    }
                }

                ids[i] = MessageIds.New(now);
                var letter = new Letter
                {
                    Id = ids[i],
                    Tenant = tenant,
                    Author = author,
                    Recipients = [],
                    Payload = m.Body,
                    Headers = attributes,
                    Timestamp = now,
                    ExpiresAt = now + ttl,
                    VisibleAt = delay > TimeSpan.Zero ? now + delay : null,
                };
                letters[i] = letter;
                ops.Add(new AppendOp(letter, Notified(key, q, letter, now, ref notified), quota));
            }

            var max = Math.Min(_options.MaxQueuePostBytes, settings.MaxPostBytes ?? int.MaxValue);
            if (bytes > max)
            {
                Refuse(t, name, q, made, notified);
                throw new DaakiaException(DaakiaErrorCode.PayloadTooLarge, $"Message collection size is too large. Max size {max}");
            }

            if (idempotencyKey is not null)
            {
                var expires = now + _options.QueueIdempotencyWindow;
                remembered = new TaskCompletionSource<IReadOnlyList<Guid>>(TaskCreationOptions.RunContinuationsAsynchronously);
                q.Keys.Set(idempotencyKey, expires, remembered.Task, keySize);
                ops.Add(new PutRecordOp(new StoredRecord(tenant, RecordKind.Idempotency, NamedQueueRecords.IdempotencyKey(name, idempotencyKey), NamedQueueRecords.Encode(expires, ids))));
            }

            posted = q;
            try
            {
                write = _store.WriteAsync(ops).AsTask();
                Appending(q, ops);
            }
            catch (Exception ex)
            {
                // The store refused at once (faulted, closed): the key is not kept for a post that was not stored.
                Posted(t, q, notified, ok: false);
                if (remembered is not null)
                {
                    q.Keys.Remove(idempotencyKey!);
                    remembered.TrySetException(ex);
                    _ = remembered.Task.Exception;
                }

                throw;
            }
        }

        try
        {
            await write;
        }
        catch (Exception ex)
        {
            if (notified is not null)
            {
                lock (t.Gate)
                {
                    Posted(t, posted, notified, ok: false);
                }
            }

            if (remembered is not null)
            {
                lock (t.Gate)
                {
                    if (posted.Keys.TryGetValue(idempotencyKey!, out var mine) && mine.Ids == remembered.Task)
                    {
                        posted.Keys.Remove(idempotencyKey!); // not stored: a retry posts anew
                    }
                }

                remembered.TrySetException(ex);
                _ = remembered.Task.Exception; // observed: a retry that waited on it sees the failure itself
            }

            throw;
        }

        remembered?.TrySetResult(ids);
        posted.RecordDurable = true; // the queue this post wrote to (its record was in the same write, or durable before)
        List<(IQueueWatcher Watcher, SubscriptionState State)>? watchers;
        lock (t.Gate)
        {
            posted.Arrived();
            var any = t.QueuePosted;
            t.QueuePosted = null;
            any?.TrySetResult();
            watchers = Posted(t, posted, notified, ok: true);
        }

        Tell(tenant, name, watchers, letters);
        return ids;

    Repeat:
        return await first;
    }

    /// <summary>Takes back what a post counted and the queue it made before it refused (caller holds the lock).</summary>
    private void Refuse(TenantState t, string name, NamedQueueState q, bool made, List<(SubscriptionState State, long Bytes)>? notified)
    {
        Posted(t, q, notified, ok: false);
        Undo(t, name, q, made);
    }

    /// <summary>Takes back a queue this call made before it refused (caller holds the lock).</summary>
    private static void Undo(TenantState t, string name, NamedQueueState q, bool made)
    {
        if (made && t.NamedQueues.TryGetValue(name, out var now) && ReferenceEquals(now, q))
        {
            t.NamedQueues.Remove(name);
        }
    }

    private static void RequireLimit(int limit, int max)
    {
        if (limit < 1 || limit > max)
        {
            throw DaakiaException.Invalid($"Limit must be at least 1 and may not be greater than {max}.");
        }
    }

    private static QueueMessage MessageOf(QueueEntry e, QueueClaim? claim) =>
        new(e.Id, e.Message.Payload, e.Message.Author, e.Message.Timestamp, e.Message.ExpiresAt, e.Position, e.Deliveries, claim?.Id, e.VisibleAt)
        {
            Attributes = e.Message.Headers,
            Ttl = TtlOf(e.Message, claim),
            Topic = e.Message.Envelope?.Topic,
            ContentType = e.Message.ContentType,
        };

    /// <summary>The named messages the queue holds (claimed, delayed and own ones too; never expired ones), in queue order.</summary>
    public async Task<IReadOnlyList<QueueMessage>> GetAsync(TenantId tenant, string name, IReadOnlyList<Guid> ids)
    {
        RequireLimit(ids.Count, _options.MaxQueueMessagesPerPage);
        var entries = await _store.ReadByIdsAsync(Key(tenant, name), ids);
        var t = Of(tenant);
        var now = _time.GetUtcNow();
        var result = new List<QueueMessage>(entries.Count);
        lock (t.Gate)
        {
            t.NamedQueues.TryGetValue(name, out var q);
            foreach (var e in entries)
            {
                if (!e.Message.IsExpired(now))
                {
                    result.Add(MessageOf(e, q?.LiveClaimOf(e.Id, now)));
                }
            }
        }

        return result;
    }
}
