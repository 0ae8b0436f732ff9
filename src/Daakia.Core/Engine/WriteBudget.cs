namespace Daakia.Core;

/// <summary>
/// The server-wide bound on durable writes accepted and not yet committed, in bytes and in count. A send or ack takes
/// its share before it enters the store's queue and gives it back when the write completes; when the budget is spent
/// the caller is refused (<see cref="DaakiaErrorCode.Overloaded"/>) and readers of a connection wait for room instead
/// of reading more requests.
/// </summary>
/// <remarks>The hot path is two interlocked adds; the lock is taken only when someone waits for room.</remarks>
internal sealed class WriteBudget(long maxBytes, int maxCount)
{
    private readonly Lock _gate = new();
    private TaskCompletionSource? _room;
    private long _bytes;
    private long _count;
    private int _waiting;

    public long Bytes => Interlocked.Read(ref _bytes);

    public long Count => Interlocked.Read(ref _count);

    /// <summary>True while a new write would be refused.</summary>
    public bool IsSpent => Interlocked.Read(ref _bytes) >= maxBytes || Interlocked.Read(ref _count) >= maxCount;

    /// <summary>Takes room for one write of <paramref name="bytes"/>; false (nothing taken) when the budget is spent.
    /// A write larger than the whole budget still passes when nothing else is pending.</summary>
    public bool TryTake(long bytes)
    {
        var b = Interlocked.Add(ref _bytes, bytes);
        var c = Interlocked.Increment(ref _count);
        if ((b > maxBytes && c > 1) || c > maxCount)
        {
            Give(bytes);
            return false;
        }

        return true;
    }

    /// <summary>Takes room even when the budget is spent (writes that must not be refused, such as activity records).</summary>
    public void Force(long bytes)
    {
        Interlocked.Add(ref _bytes, bytes);
        Interlocked.Increment(ref _count);
    }

    /// <summary>Gives back what <see cref="TryTake"/> or <see cref="Force"/> took.</summary>
    public void Give(long bytes)
    {
        Interlocked.Add(ref _bytes, -bytes);
        Interlocked.Decrement(ref _count);
        if (Volatile.Read(ref _waiting) != 0 && !IsSpent)
        {
            TaskCompletionSource? wake;
            lock (_gate)
            {
                wake = _room;
                _room = null;
                _waiting = 0;
            }

            wake?.TrySetResult();
        }
    }

    /// <summary>Completes when there is room again (at once when there is).</summary>
    public ValueTask WaitForRoomAsync(CancellationToken cancellationToken)
    {
        if (!IsSpent)
        {
            return ValueTask.CompletedTask;
        }

        // One completion per spent period, shared by every waiter: a waiter that gives up (its connection closed)
        // leaves nothing behind.
        Task room;
        lock (_gate)
        {
            _waiting = 1;
            // Re-checked after announcing the wait: a Give that ran before it saw no waiter, so check its effect here.
            if (!IsSpent)
            {
                _waiting = _room is null ? 0 : 1;
                return ValueTask.CompletedTask;
            }

            room = (_room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }

        return new ValueTask(room.WaitAsync(cancellationToken));
    }
}
