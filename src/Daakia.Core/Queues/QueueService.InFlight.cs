using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>
/// Writes in flight that a claim reading the store's committed snapshot must know of: removals and returns of messages
/// (unsettled in <see cref="NamedQueueState"/> until done) and purges (claims then read as every other read does).
/// </summary>
public sealed partial class QueueService
{
    /// <summary>
    /// Queue deletes and purges written but not yet committed, in every tenant: while there are any, claims read their
    /// candidates as every other read does (a committed snapshot still holds the messages these take away).
    /// </summary>
    private long _purgesInFlight;

    /// <summary>Starts a write that purges a queue (caller holds the lock); the caller decrements the count once it is done.</summary>
    private Task<IReadOnlyList<StoreOpResult>> Purging(List<StoreOp> ops)
    {
        Interlocked.Increment(ref _purgesInFlight);
        try
        {
            return _store.WriteAsync(ops).AsTask();
        }
        catch
        {
            Interlocked.Decrement(ref _purgesInFlight);
            throw;
        }
    }

    /// <summary>
    /// Starts a write that removes or returns <paramref name="ids"/> of <paramref name="q"/> (caller holds the lock),
    /// noting them unsettled until the caller's <see cref="Settle"/>. A store that refuses at once gives a faulted task,
    /// so that the caller's one failure path undoes what it changed, whenever the write failed.
    /// </summary>
    private Task<IReadOnlyList<StoreOpResult>> Unsettling(NamedQueueState? q, IReadOnlyList<Guid> ids, IReadOnlyList<StoreOp> ops)
    {
        q?.Unsettle(ids);
        return Started(ops);
    }

    /// <summary>The store's write of <paramref name="ops"/>; a refusal at once (faulted, closed) as a faulted task.</summary>
    private Task<IReadOnlyList<StoreOpResult>> Started(IReadOnlyList<StoreOp> ops)
    {
        try
        {
            return _store.WriteAsync(ops).AsTask();
        }
        catch (Exception ex)
        {
            return Task.FromException<IReadOnlyList<StoreOpResult>>(ex);
        }
    }

    /// <summary>The write <see cref="Unsettling"/> started is done, committed or failed.</summary>
    private static void Settle(TenantState t, NamedQueueState? q, IReadOnlyList<Guid> ids)
    {
        if (q is null)
        {
            return;
        }

        lock (t.Gate)
        {
            // A claim whose read started before this write committed may still see these messages in its snapshot:
            // they stay remembered as removed until every read in flight now has ended (a returned one is then only
            // skipped by those reads, and claimable again by the next).
            q.Removing(ids);
            q.Settled(ids);
        }
    }
}
