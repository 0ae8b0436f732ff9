namespace Daakia.Core;

/// <summary>
/// Long-poll (beyond Zaqar): a claim or a listing that finds nothing waits for a post to its queue instead of answering
/// empty at once. One wait for both: the queue's arrival signal (<see cref="NamedQueueState.Arrival"/>), taken before
/// each look so that no post between the look and the wait is missed, and the tenant's
/// (<see cref="TenantState.QueuePosted"/>) while the queue does not exist yet.
/// </summary>
public sealed partial class QueueService
{
    /// <summary>
    /// Looks, and while what it found is nothing (<paramref name="found"/> false) waits up to <paramref name="wait"/> for
    /// a post, looking again after each one and at least every second (a claim may expire or be released, a delay
    /// pass, meanwhile). Answers the last look: once it found something, the wait is over, or
    /// <paramref name="cancellationToken"/> is cancelled (then without another look: nobody is left to see it).
    /// </summary>
    private async Task<T> WaitForAsync<T>(TenantId tenant, string name, TimeSpan wait, Func<Task<T>> look, Func<T, bool> found, CancellationToken cancellationToken)
    {
        if (wait < TimeSpan.Zero || wait > _options.MaxQueueWait)
        {
            throw DaakiaException.Invalid($"wait must be between 0 and {(long)_options.MaxQueueWait.TotalSeconds} seconds.");
        }

        if (wait == TimeSpan.Zero)
        {
            return await look();
        }

        var deadline = _time.GetUtcNow() + wait;
        while (true)
        {
            // Waiting registers on the tenant (made if new): a post to it wakes the wait.
            var t = _engine.Tenant(tenant);
            Task arrival;
            lock (t.Gate)
            {
                arrival = t.NamedQueues.TryGetValue(name, out var q) ? q.Arrival : Task.CompletedTask;
            }

            var result = await look();
            var left = deadline - _time.GetUtcNow();
            if (found(result) || left <= TimeSpan.Zero || cancellationToken.IsCancellationRequested)
            {
                return result;
            }

            await WaitForArrivalAsync(t, name, arrival, left, cancellationToken);
            if (cancellationToken.IsCancellationRequested)
            {
                return result; // the caller went: no other look (a claim made now would hold messages for nobody)
            }
        }
    }

    /// <summary>Waits for a post to the queue (made meanwhile, if there was none), at most <paramref name="left"/> and a second.</summary>
    private async Task WaitForArrivalAsync(TenantState t, string name, Task arrival, TimeSpan left, CancellationToken cancellationToken)
    {
        if (arrival.IsCompleted)
        {
            lock (t.Gate)
            {
                if (!t.NamedQueues.TryGetValue(name, out var q))
                {
                    // No queue yet: a post makes one, and wakes every wait of the tenant on a missing queue.
                    arrival = (t.QueuePosted ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                }
                else
                {
                    return; // made since the look (there was none then): look again at once
                }
            }
        }

        try
        {
            await arrival.WaitAsync(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1), _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            // Look again.
        }
        catch (OperationCanceledException)
        {
            // The caller went.
        }
    }
}
