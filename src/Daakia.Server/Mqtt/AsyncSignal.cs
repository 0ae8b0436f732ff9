using System.Threading.Tasks.Sources;

namespace Daakia.Server.Mqtt;

/// <summary>
/// A wake-up for one waiting loop (the write loop): <see cref="Set"/> wakes the waiter, or the next wait if none is
/// waiting (at most one wake is kept); <see cref="Cancel"/> ends the current and every later wait with
/// <see cref="OperationCanceledException"/>. A wait allocates nothing (one reusable value-task source), where
/// <c>SemaphoreSlim.WaitAsync(token)</c> allocated ~340 bytes per idle connection and per wait.
/// </summary>
internal sealed class AsyncSignal : IValueTaskSource
{
    private readonly Lock _gate = new();
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private bool _set;
    private bool _waiting;
    private bool _canceled;
    private bool _wokeInline; // the last completed wait was completed by an inline Set: the waiter runs on its thread

    public ValueTask WaitAsync()
    {
        lock (_gate)
        {
            if (_canceled)
            {
                return ValueTask.FromCanceled(new CancellationToken(canceled: true));
            }

            if (_set)
            {
                _set = false;
                return ValueTask.CompletedTask;
            }

            _core.Reset();
            _waiting = true;
            return new ValueTask(this, _core.Version);
        }
    }

    /// <summary>
    /// Wakes the waiter (or keeps the wake for the next wait). <paramref name="inline"/>: the waiting loop runs on this
    /// thread until its next await, instead of through the thread pool; only where the caller holds no lock.
    /// </summary>
    public void Set(bool inline = false)
    {
        lock (_gate)
        {
            if (!_waiting)
            {
                _set = true;
                return;
            }

            _waiting = false;
        }

        // Outside the lock, so that an inline waiter does not run under it. Only this caller completes this wait (the
        // waiter is not waiting again before it ran), so the flag it sets is the one the completion reads.
        _wokeInline = inline;
        _core.RunContinuationsAsynchronously = !inline;
        _core.SetResult(true);
    }

    /// <summary>
    /// Whether the wait that just ended was woken inline (the waiter runs on the waking thread, which it must give back
    /// soon); clears the mark. Called by the waiter only, after its wait ended.
    /// </summary>
    public bool TakeInlineWake()
    {
        var inline = _wokeInline;
        _wokeInline = false;
        return inline;
    }

    public void Cancel()
    {
        lock (_gate)
        {
            _canceled = true;
            if (!_waiting)
            {
                return;
            }

            _waiting = false;
        }

        _core.RunContinuationsAsynchronously = true;
        _core.SetException(new OperationCanceledException());
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
