using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>Named queues read back at start-up: their records, claims, subscriptions, idempotency keys and topic bindings.</summary>
public sealed partial class QueueService
{
    /// <summary>
    /// Reads the named queues back when the core starts, before anything connects: each queue, its live claims (expired
    /// ones are dropped), its idempotency keys and its topic bindings (into the tenant's topics, so they route from the
    /// first publish on). Records are in tenant, kind, key order, so a queue comes before what belongs to it; a record
    /// whose queue is gone is deleted.
    /// </summary>
    internal async Task RestoreAsync(CancellationToken cancellationToken)
    {
        (TenantId Tenant, RecordKind Kind, string Key)? after = null;
        var now = _time.GetUtcNow();
        var stale = new List<StoreOp>();
        var subscriptions = new List<SubscriptionState>();
        while (true)
        {
            var page = await _store.ReadRecordsAsync(after, 1000, cancellationToken);
            foreach (var r in page)
            {
                var t = _engine.Tenant(r.Tenant);
                lock (t.Gate)
                {
                    if (r.Kind == RecordKind.QueueSubscription)
                    {
                        RestoreSubscription(t, r, now, stale, subscriptions);
                    }
                    else if (!Restore(t, r, now))
                    {
                        stale.Add(new DeleteRecordOp(r.Tenant, r.Kind, r.Key));
                    }
                }
            }

            if (page.Count < 1000)
            {
                break;
            }

            after = (page[^1].Tenant, page[^1].Kind, page[^1].Key);
        }

        if (stale.Count > 0)
        {
            await _store.WriteAsync(stale, cancellationToken);
        }

        await StartNotificationsAsync(subscriptions, cancellationToken);
    }

    /// <summary>Puts one record back (caller holds the lock); false when it is stale and goes.</summary>
    private bool Restore(TenantState t, StoredRecord r, DateTimeOffset now)
    {
        switch (r.Kind)
        {
            case RecordKind.NamedQueue:
                t.NamedQueues[r.Key] = new NamedQueueState(NamedQueueRecords.DecodeQueue(r.Key, r.Value.Span)) { RecordDurable = true };
                return true;
            case RecordKind.Claim:
                var claim = NamedQueueRecords.DecodeClaim(r.Key, r.Value.Span);
                if (!claim.IsLive(now) || !t.NamedQueues.TryGetValue(claim.Queue, out var claimed))
                {
                    return false;
                }

                claimed.Add(claim);
                return true;
            case RecordKind.Idempotency:
            {
                var slash = r.Key.IndexOf('/', StringComparison.Ordinal);
                var (expires, ids) = NamedQueueRecords.DecodeIdempotency(r.Value.Span);
                if (slash <= 0 || expires <= now || !t.NamedQueues.TryGetValue(r.Key[..slash], out var q))
                {
                    return false;
                }

                var key = r.Key[(slash + 1)..];
                q.Keys.Set(key, expires, Task.FromResult<IReadOnlyList<Guid>>(ids), IdempotencyKeys.SizeOf(key, ids.Length)); // (may pass a bound lowered since: only new keys are refused)
                return true;
            }

            case RecordKind.QueueBinding:
            {
                var slash = r.Key.IndexOf('/', StringComparison.Ordinal);
                if (slash <= 0 || !t.NamedQueues.TryGetValue(r.Key[..slash], out var q))
                {
                    return false;
                }

                var filter = r.Key[(slash + 1)..];
                var bound = q.Bound ??= new BoundQueue(t.Id, q);
                if (!IsBindable(filter, out _))
                {
                    // No filter under today's options (fewer topic levels, say): kept, not routed, until they allow it again.
                    bound.Dormant.Add(filter);
                    return true;
                }

                bound.Add(t, filter, BindingRecords.Decode(r.Value.Span));
                return true;
            }

            default:
                return true; // another capability's (queue subscriptions): kept as it is
        }
    }
}
