namespace Daakia.Server.Hosting;

/// <summary>Counts live protocol sessions so a drain can wait for the last one to finish.</summary>
public sealed class ConnectionTracker
{
    private readonly Lock _gate = new();
    private int _count;
    private TaskCompletionSource? _none;

    public int Count => Volatile.Read(ref _count);

    public void Enter()
    {
        lock (_gate)
        {
            _count++;
        }
    }

    public void Exit()
    {
        lock (_gate)
        {
            if (--_count == 0)
            {
                _none?.TrySetResult();
                _none = null;
            }
        }
    }

    /// <summary>True when every session ended within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForNoneAsync(TimeSpan timeout)
    {
        Task wait;
        lock (_gate)
        {
            if (_count == 0)
            {
                return true;
            }

            _none ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            wait = _none.Task;
        }

        return await Task.WhenAny(wait, Task.Delay(timeout)) == wait;
    }
}
