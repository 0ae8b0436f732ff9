using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>Removing messages from a named queue: deletes by id (with or without a claim) and pops.</summary>
public sealed partial class QueueService
{
    /// <summary>
    /// Deletes messages by id. With <paramref name="claim"/> null, a message under a live claim is refused
    /// (<see cref="DaakiaErrorCode.Forbidden"/>) unless <paramref name="ignoreClaims"/> (Zaqar's delete by <c>ids</c>);
    /// with a claim, each message must be under that live claim. Ids the queue does not hold are no error.
    /// </summary>
    public async Task DeleteMessagesAsync(TenantId tenant, string name, IReadOnlyList<Guid> ids, Guid? claim = null, bool ignoreClaims = false)
    {
        _engine.EnsureAccepting();
        RequireLimit(ids.Count, _options.MaxQueueMessagesPerPage);
        var t = Of(tenant);
        // With a claim named, a message the queue no longer holds is deleted already (a retried delete), not an error:
        // which of them it holds is read from the store, but only once one of them is found under no live claim (the
        // usual delete of what a claim holds is decided in memory; the claim checks below are in memory).
        HashSet<Guid>? held = null;

        Task<IReadOnlyList<StoreOpResult>> write;
        NamedQueueState? deleting;
        List<(QueueClaim Before, QueueClaim? After)>? undo = null;
        Retry:
        var now = _time.GetUtcNow();
        lock (t.Gate)
        {
            t.NamedQueues.TryGetValue(name, out var q);
            var changed = new HashSet<QueueClaim>();
            foreach (var id in ids)
            {
                var holder = q?.LiveClaimOf(id, now);
                if (claim is { } given)
                {
                    if (holder is null && held is null)
                    {
                        goto Read; // nothing changed yet: which ids the queue holds is read, then everything checked again
                    }

                    if (holder is null)
                    {
                        if (!held!.Contains(id))
                        {
                            continue;
                        }

                        throw DaakiaException.Invalid("A claim was specified, but the message is not currently claimed.");
                    }

                    if (holder.Id != given)
                    {
                        throw q!.Claims.TryGetValue(given, out var other) && other.IsLive(now)
                            ? new DaakiaException(DaakiaErrorCode.Forbidden, "This message is claimed; it cannot be deleted without a valid claim ID.")
                            : DaakiaException.Invalid("The specified claim does not exist or has expired.");
                    }
                }
                else if (holder is not null && !ignoreClaims)
                {
                    throw new DaakiaException(DaakiaErrorCode.Forbidden, "This message is claimed; it cannot be deleted without a valid claim ID.");
                }

                if (holder is not null)
                {
                    changed.Add(holder);
                }
            }

            var ops = new List<StoreOp> { new DeleteOp(Key(tenant, name), ids) };
            if (q is not null)
            {
                foreach (var c in changed)
                {
                    var after = c with { Messages = [.. c.Messages.Where(m => !ids.Contains(m))] };
                    ops.Add(Rewrite(tenant, q, after));
                    (undo ??= []).Add((c, after.Messages.Count == 0 ? null : after));
                }

                foreach (var id in ids)
                {
                    q.ClaimOf.Remove(id);
                }

                q.Removing(ids);
            }

            write = Unsettling(q, ids, ops);
            deleting = q;
        }

        try
        {
            await write;
        }
        catch
        {
            lock (t.Gate)
            {
                Undelete(deleting, undo); // not deleted in the store: the claims hold what they held
            }

            throw;
        }
        finally
        {
            Settle(t, deleting, ids);
        }

        return;

    Read:
        held = [.. (await _store.ReadByIdsAsync(Key(tenant, name), ids)).Select(e => e.Id)];
        goto Retry;
    }

    /// <summary>
    /// A delete whose write failed (caller holds the lock): each claim it rewrote gets back the messages it held, unless
    /// the claim changed its lease since (renewed, released or swept: then it stays as the store has it) or a message
    /// went to another claim meanwhile.
    /// </summary>
    private static void Undelete(NamedQueueState? q, List<(QueueClaim Before, QueueClaim? After)>? undo)
    {
        if (q is null)
        {
            return;
        }

        foreach (var (before, after) in undo ?? [])
        {
            var now = q.Claims.GetValueOrDefault(before.Id);
            if (now is null ? after is not null : now.ExpiresAt != before.ExpiresAt)
            {
                continue;
            }

            var back = before.Messages.Where(m => !q.ClaimOf.TryGetValue(m, out var c) || c == before.Id).ToList();
            q.Claims[before.Id] = (now ?? before) with { Messages = [.. (now?.Messages ?? []).Union(back)] };
            foreach (var m in back)
            {
                q.ClaimOf[m] = before.Id;
            }
        }
    }

    /// <summary>
    /// Takes up to <paramref name="count"/> claimable messages off the queue (deleted in one write) and returns them.
    /// </summary>
    public async Task<IReadOnlyList<QueueMessage>> PopAsync(TenantId tenant, string name, int count)
    {
        _engine.EnsureAccepting();
        RequireLimit(count, _options.MaxMessagesPerClaim);
        var key = Key(tenant, name);
        var t = Of(tenant);
        var (reading, read, purges, candidates) = await ReadCandidatesAsync(t, tenant, name, count);
        if (reading is null)
        {
            return [];
        }

        var taken = new List<QueueMessage>(candidates.Count);
        Task<IReadOnlyList<StoreOpResult>> write;
        lock (t.Gate)
        {
            try
            {
                if (!t.NamedQueues.TryGetValue(name, out var q) || !ReferenceEquals(q, reading) || q.Purges != purges)
                {
                    return [];
                }

                var now = _time.GetUtcNow();
                foreach (var e in candidates)
                {
                    if (taken.Count < count && Claimable(q, read!, e, now))
                    {
                        taken.Add(MessageOf(e, null));
                    }
                }

                if (taken.Count == 0)
                {
                    return [];
                }

                foreach (var m in taken)
                {
                    q.Popping.Add(m.Id);
                }

                q.Removing(taken.Select(m => m.Id));
            }
            finally
            {
                reading.EndRead(read!); // after the checks: what was removed while this read ran is remembered until then
            }
        }

        try
        {
            lock (t.Gate)
            {
                write = _store.WriteAsync([new DeleteOp(key, [.. taken.Select(m => m.Id)])]).AsTask();
            }

            await write;
        }
        finally
        {
            lock (t.Gate)
            {
                if (t.NamedQueues.TryGetValue(name, out var q))
                {
                    q.Removing(taken.Select(m => m.Id)); // reads in flight may hold a snapshot from before the delete
                    foreach (var m in taken)
                    {
                        q.Popping.Remove(m.Id);
                    }
                }
            }
        }

        return taken;
    }
}
