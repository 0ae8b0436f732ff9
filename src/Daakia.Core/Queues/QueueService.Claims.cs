using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>
/// Claims: a lease on a queue's oldest claimable messages for a TTL, written as a record and, in the same unit of work,
/// the messages' visibility (hidden until the claim expires), claim counts and expiry (alive at least until the claim and
/// its grace have passed); renewed, released, or left to expire.
/// </summary>
public sealed partial class QueueService
{
    /// <summary>
    /// Claims up to <paramref name="limit"/> of the queue's oldest claimable messages (visible, not expired, under no
    /// live claim) for <paramref name="ttl"/>. A message claimed <see cref="NamedQueueSettings.MaxClaimCount"/> times
    /// goes to the queue's dead-letter queue instead (in the same write). Nothing claimable: no claim is made, unless
    /// one can be within <paramref name="wait"/> (long-poll, beyond Zaqar: QueueService.Waiting.cs).
    /// </summary>
    public Task<QueueClaimResult> ClaimAsync(TenantId tenant, string name, TimeSpan ttl, TimeSpan grace, int limit, TimeSpan wait, CancellationToken cancellationToken = default) =>
        WaitForAsync(tenant, name, wait, () => ClaimAsync(tenant, name, ttl, grace, limit), static result => result.Claim is not null, cancellationToken);

    /// <summary>A claim that does not wait.</summary>
    public async Task<QueueClaimResult> ClaimAsync(TenantId tenant, string name, TimeSpan ttl, TimeSpan grace, int limit)
    {
        _engine.EnsureAccepting();
        RequireLimit(limit, _options.MaxMessagesPerClaim);
        RequireClaimTimes(ttl, grace);
        var t = Of(tenant);
        var key = Key(tenant, name);
        var (reading, read, purges, candidates) = await ReadCandidatesAsync(t, tenant, name, limit);
        if (reading is null)
        {
            return new QueueClaimResult(null, []);
        }

        QueueClaim? claim = null;
        var messages = new List<QueueMessage>(candidates.Count);
        Task<IReadOnlyList<StoreOpResult>> write;
        (NamedQueueState? Queue, List<Guid> Ids) moving = (null, []);
        lock (t.Gate)
        {
            try
            {
                if (!t.NamedQueues.TryGetValue(name, out var q) || !ReferenceEquals(q, reading) || q.Purges != purges)
                {
                    return new QueueClaimResult(null, []); // the queue went, or was purged, while the candidates were read
                }

                var now = _time.GetUtcNow();
                var settings = q.Info.Settings;
                var deadLetters = settings is { MaxClaimCount: { } max, DeadLetterQueue: { } dlq } && dlq != name && IsValidName(dlq) ? (Max: max, Queue: dlq) : default;
                var moved = new List<Guid>();
                long movedBytes = 0;
                var returned = new List<ReturnedEntry>();
                var extended = new List<EntryExpiry>();
                var ops = new List<StoreOp>();
                var id = Guid.CreateVersion7(now);
                var expires = now + ttl;
                var keep = expires + grace;
                foreach (var e in candidates)
                {
                    if (messages.Count == limit || !Claimable(q, read!, e, now))
                    {
                        continue; // taken, removed or expired meanwhile
                    }

                    if (deadLetters.Queue is not null && e.Deliveries >= deadLetters.Max)
                    {
                        moved.Add(e.Id);
                        movedBytes += InboxQuota.StoredSize(e.Message);
                        continue;
                    }

                    returned.Add(new ReturnedEntry(e.Id, e.Deliveries + 1, expires));
                    if (e.Message.ExpiresAt < keep)
                    {
                        extended.Add(new EntryExpiry(e.Id, keep)); // alive until the claim and its grace have passed
                    }

                    messages.Add(MessageOf(e, null) with { ClaimCount = e.Deliveries + 1, VisibleAt = expires });
                }

                if (moved.Count > 0)
                {
                    if (!t.NamedQueues.TryGetValue(deadLetters.Queue!, out var target) && t.NamedQueues.Count < _options.MaxQueuesPerTenant)
                    {
                        target = Make(t, deadLetters.Queue!, "{}"u8.ToArray(), NamedQueueSettings.None);
                    }

                    if (target is null)
                    {
                        moved.Clear(); // no room for the dead-letter queue: the messages stay (never a claim that cannot be made)
                    }
                    else
                    {
                        if (!target.RecordDurable)
                        {
                            ops.Add(Record(tenant, target.Info));
                        }

                        ops.Add(new MoveOp(key, Key(tenant, deadLetters.Queue!), moved, ActivityKinds.DeadLettered, now));
                        if (settings.DeadLetterTtl is { } deadTtl)
                        {
                            ops.Add(DeadLetterExpiry(Key(tenant, deadLetters.Queue!), moved, now + deadTtl));
                        }

                        target.Bound?.Usage.Add(moved.Count, movedBytes); // a bound dead-letter queue's bound rises too
                        q.Removing(moved);
                        foreach (var m in moved)
                        {
                            q.ClaimOf.Remove(m);
                        }

                        moving = (q, moved);
                    }
                }

                if (messages.Count > 0)
                {
                    claim = new QueueClaim(id, name, ttl, grace, now, expires, [.. messages.Select(m => m.Id)]);
                    var made = claim;
                    messages = [.. messages.Select(m => Claimed(m, made))];
                    q.Add(claim);
                    ops.Add(new PutRecordOp(new StoredRecord(tenant, RecordKind.Claim, NamedQueueRecords.ClaimKey(name, id), NamedQueueRecords.Encode(claim))));
                    ops.Add(new ReturnOp(key, returned));
                    if (extended.Count > 0)
                    {
                        ops.Add(new ExpiryOp(key, extended, ExtendOnly: true));
                    }
                }

                if (ops.Count == 0)
                {
                    return new QueueClaimResult(null, []);
                }

                write = Unsettling(moving.Queue, moving.Ids, ops);
            }
            finally
            {
                reading.EndRead(read!); // after the checks: what was removed while this read ran is remembered until then
            }
        }

        try
        {
            await write;
        }
        catch
        {
            if (claim is not null)
            {
                lock (t.Gate)
                {
                    if (t.NamedQueues.TryGetValue(name, out var q))
                    {
                        q.Remove(claim); // not made: its messages are claimable again
                    }
                }
            }

            throw;
        }
        finally
        {
            Settle(t, moving.Queue, moving.Ids);
        }

        return new QueueClaimResult(claim, messages);
    }

    private void RequireClaimTimes(TimeSpan ttl, TimeSpan grace)
    {
        if (ttl < TimeSpan.FromMinutes(1) || ttl > _options.MaxClaimTtl)
        {
            throw DaakiaException.Invalid($"The TTL for a claim may not exceed {(long)_options.MaxClaimTtl.TotalSeconds} seconds, and must be at least 60 seconds long.");
        }

        if (grace < TimeSpan.Zero || grace > _options.MaxClaimGrace)
        {
            throw DaakiaException.Invalid($"The grace for a claim may not exceed {(long)_options.MaxClaimGrace.TotalSeconds} seconds, and must be at least 0 seconds long.");
        }
    }

    /// <summary>
    /// The queue's oldest entries that look claimable now (visible, not expired, under no live claim, not being popped),
    /// a few more than <paramref name="limit"/> so that some may be taken meanwhile; checked again under the lock.
    /// </summary>
    private async Task<List<QueueEntry>> ClaimableAsync(TenantId tenant, string name, QueueRead read, int limit, bool committed)
    {
        var t = Of(tenant);
        var key = Key(tenant, name);
        var result = new List<QueueEntry>(limit * 2);
        long after = 0;
        // Pages of a few times what is wanted: payloads are read with the entries, so a page of 100 for a claim of 10
        // read ten times the bytes it handed out (most of a busy queue's head is claimed, and skipped, anyway).
        // From the committed snapshot, what is hidden or expired is left out in the store, so fewer suffice.
        var size = committed && _store.SkipsUnclaimable ? Math.Max(16, limit * 2) : Math.Max(16, limit * 4);
        for (var pages = 0; pages < 32 && result.Count < limit * 2; pages++)
        {
            // The committed snapshot, unless a purge is in flight: what the writes in flight change is known here
            // (claims in memory, removals and returns unsettled; a post not yet committed is not acknowledged, so it need
            // not be claimable yet), so a claim does not wait a group commit for them.
            var page = committed
                ? await _store.ReadCommittedAsync(key, after, size, _options.MaxReadPageBytes, _time.GetUtcNow())
                : await _store.ReadAsync(key, after, size, _options.MaxReadPageBytes);
            if (page.Count == 0)
            {
                break;
            }

            var now = _time.GetUtcNow();
            lock (t.Gate)
            {
                if (!t.NamedQueues.TryGetValue(name, out var q))
                {
                    return [];
                }

                foreach (var e in page)
                {
                    after = e.Position;
                    if (Claimable(q, read, e, now))
                    {
                        result.Add(e);
                    }
                }
            }
        }

        return result;
    }

    /// <summary>Whether a claim or a pop may take the entry now (caller holds the lock).</summary>
    private static bool Claimable(NamedQueueState q, QueueRead read, QueueEntry e, DateTimeOffset now) =>
        !e.Message.IsExpired(now) && !(e.VisibleAt > now) && q.LiveClaimOf(e.Id, now) is null && !q.Popping.Contains(e.Id) && !q.RemovedDuring(read, e.Id)
        && !q.IsUnsettled(e.Id);

    /// <summary>
    /// Reads claim (or pop) candidates as one of the queue's readers: the queue (null: none, and nothing read), its
    /// purge count then, to check against under the lock after, and the candidates. The caller ends the read
    /// (<see cref="NamedQueueState.EndRead"/>) under the lock once it has checked them; a failed read ends it here.
    /// </summary>
    private async Task<(NamedQueueState? Queue, QueueRead? Read, long Purges, List<QueueEntry> Candidates)> ReadCandidatesAsync(TenantState t, TenantId tenant, string name, int limit)
    {
        NamedQueueState? q;
        QueueRead read;
        long purges;
        bool committed;
        lock (t.Gate)
        {
            if (!t.NamedQueues.TryGetValue(name, out q))
            {
                return (null, null, 0, []);
            }

            read = q.BeginRead();
            purges = q.Purges;
            committed = Interlocked.Read(ref _purgesInFlight) == 0; // under the lock: a purge starting after this bumps Purges
        }

        try
        {
            return (q, read, purges, await ClaimableAsync(tenant, name, read, limit, committed));
        }
        catch
        {
            lock (t.Gate)
            {
                q.EndRead(read);
            }

            throw;
        }
    }

    /// <summary>A live claim and the messages it still holds, or null (no such claim, or it expired).</summary>
    public async Task<QueueClaimResult?> GetClaimAsync(TenantId tenant, string name, Guid claimId)
    {
        var t = Of(tenant);
        QueueClaim? claim;
        lock (t.Gate)
        {
            claim = t.NamedQueues.TryGetValue(name, out var q) && q.Claims.TryGetValue(claimId, out var c) && c.IsLive(_time.GetUtcNow()) ? c : null;
        }

        if (claim is null)
        {
            return null;
        }

        var entries = await _store.ReadByIdsAsync(Key(tenant, name), claim.Messages);
        var now = _time.GetUtcNow();
        var messages = new List<QueueMessage>(entries.Count);
        lock (t.Gate)
        {
            if (!t.NamedQueues.TryGetValue(name, out var q))
            {
                return null;
            }

            foreach (var e in entries)
            {
                if (!e.Message.IsExpired(now) && q.LiveClaimOf(e.Id, now)?.Id == claimId)
                {
                    messages.Add(MessageOf(e, claim));
                }
            }
        }

        return new QueueClaimResult(claim, messages);
    }

    /// <summary>Renews a live claim for <paramref name="ttl"/> from now; false if there is no such live claim.</summary>
    public async Task<bool> RenewClaimAsync(TenantId tenant, string name, Guid claimId, TimeSpan ttl, TimeSpan grace)
    {
        _engine.EnsureAccepting();
        RequireClaimTimes(ttl, grace);
        var t = Of(tenant);
        Task<IReadOnlyList<StoreOpResult>> write;
        (NamedQueueState Queue, QueueClaim Claim) previous;
        lock (t.Gate)
        {
            var now = _time.GetUtcNow();
            if (!t.NamedQueues.TryGetValue(name, out var q) || !q.Claims.TryGetValue(claimId, out var claim) || !claim.IsLive(now))
            {
                return false;
            }

            var renewed = claim with { Ttl = ttl, Grace = grace, UpdatedAt = now, ExpiresAt = now + ttl };
            var held = renewed.Messages.Where(m => q.ClaimOf.TryGetValue(m, out var id) && id == claimId).ToList();
            renewed = renewed with { Messages = held };
            q.Claims[claimId] = renewed;
            // Deliveries 0: a return never lowers a count, so the claim count stays as the claim raised it. Each message
            // that would expire before the renewed claim and its grace lives until then (extend only: the store knows
            // each one's expiry, so the renewal reads nothing).
            write = Started(
            [
                Rewrite(tenant, q, renewed),
                new ReturnOp(Key(tenant, name), [.. held.Select(m => new ReturnedEntry(m, 0, renewed.ExpiresAt))]),
                KeepAlive(Key(tenant, name), renewed),
            ]);
            previous = (q, claim);
        }

        try
        {
            await write;
        }
        catch
        {
            lock (t.Gate)
            {
                // Not renewed in the store: the claim ends when it would have (unless something changed it since).
                if (previous.Queue.Claims.TryGetValue(claimId, out var now) && now.UpdatedAt >= previous.Claim.UpdatedAt)
                {
                    previous.Queue.Claims[claimId] = previous.Claim;
                }
            }

            throw;
        }

        return true;
    }

    /// <summary>Releases a claim: its messages are claimable again (their claim counts kept). No such claim is no error.</summary>
    public async Task ReleaseClaimAsync(TenantId tenant, string name, Guid claimId)
    {
        _engine.EnsureAccepting();
        var t = Of(tenant);
        Task<IReadOnlyList<StoreOpResult>> write;
        (NamedQueueState Queue, QueueClaim Claim) released;
        lock (t.Gate)
        {
            if (!t.NamedQueues.TryGetValue(name, out var q) || !q.Claims.TryGetValue(claimId, out var claim))
            {
                return;
            }

            var held = claim.Messages.Where(m => q.ClaimOf.TryGetValue(m, out var id) && id == claimId).ToList();
            q.Remove(claim);
            // Claimable again once the return is committed (a claim reading the committed snapshot would see them
            // still hidden, and with their claim counts before this claim's).
            write = Unsettling(q, held,
            [
                new DeleteRecordOp(tenant, RecordKind.Claim, NamedQueueRecords.ClaimKey(name, claimId)),
                new ReturnOp(Key(tenant, name), [.. held.Select(m => new ReturnedEntry(m, 0, null))]),
            ]);
            released = (q, claim with { Messages = held });
        }

        try
        {
            await write;
        }
        catch
        {
            lock (t.Gate)
            {
                // Not released in the store: it holds its messages until it expires, as the store says.
                var (q, claim) = released;
                if (!q.Claims.ContainsKey(claim.Id) && claim.IsLive(_time.GetUtcNow()) && claim.Messages.All(m => !q.ClaimOf.ContainsKey(m)))
                {
                    q.Add(claim);
                }
            }

            throw;
        }
        finally
        {
            Settle(t, released.Queue, released.Claim.Messages);
        }
    }

    /// <summary>The op that rewrites a claim's record with what it holds now (or deletes it once it holds nothing).</summary>
    private static StoreOp Rewrite(TenantId tenant, NamedQueueState q, QueueClaim claim)
    {
        var key = NamedQueueRecords.ClaimKey(claim.Queue, claim.Id);
        if (claim.Messages.Count == 0)
        {
            q.Claims.Remove(claim.Id);
            return new DeleteRecordOp(tenant, RecordKind.Claim, key);
        }

        q.Claims[claim.Id] = claim;
        return new PutRecordOp(new StoredRecord(tenant, RecordKind.Claim, key, NamedQueueRecords.Encode(claim)));
    }

    /// <summary>
    /// Forgets claims that expired (their messages became visible by time, with no write): their records go in one write
    /// per tenant. Called by the engine's expiry sweep.
    /// </summary>
    internal async Task SweepClaimsAsync(IEnumerable<TenantState> tenants)
    {
        var now = _time.GetUtcNow();
        foreach (var t in tenants)
        {
            List<StoreOp>? ops = null;
            lock (t.Gate)
            {
                foreach (var q in t.NamedQueues.Values)
                {
                    foreach (var k in q.Keys.RemoveExpired(now) ?? [])
                    {
                        (ops ??= []).Add(new DeleteRecordOp(t.Id, RecordKind.Idempotency, NamedQueueRecords.IdempotencyKey(q.Info.Name, k)));
                    }

                    SweepSubscriptions(q, now, ref ops);
                    if (q.Claims.Count == 0)
                    {
                        continue;
                    }

                    foreach (var c in q.Claims.Values.Where(c => !c.IsLive(now)).ToList())
                    {
                        q.Remove(c);
                        (ops ??= []).Add(new DeleteRecordOp(t.Id, RecordKind.Claim, NamedQueueRecords.ClaimKey(q.Info.Name, c.Id)));
                    }
                }
            }

            if (ops is not null)
            {
                await _store.WriteAsync(ops);
            }
        }
    }
}
