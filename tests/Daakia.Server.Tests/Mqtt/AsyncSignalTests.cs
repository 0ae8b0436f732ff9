using Daakia.Server.Mqtt;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>
/// The write loop's wake-up: an inline wake runs the waiting loop on the waking thread before <c>Set</c> returns (a
/// delivery written by the thread that read it); any other wake goes through the thread pool, so that a caller under a
/// lock never runs a write loop under it.
/// </summary>
public sealed class AsyncSignalTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task AnInlineWake_RunsTheWaiter_OnTheWakingThread_BeforeSetReturns()
    {
        var signal = new AsyncSignal();
        var resumedOn = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiter = WaitThenRecordAsync(signal, resumedOn);

        var (setter, ranBeforeReturn) = await OnNewThreadAsync(() =>
        {
            signal.Set(inline: true);
            return resumedOn.Task.IsCompleted;
        });

        Assert.True(ranBeforeReturn);
        Assert.Equal(setter, await resumedOn.Task.WaitAsync(Deadline));
        await waiter.WaitAsync(Deadline);
    }

    [Fact]
    public async Task TheWaiterLearnsHowItWasWoken_SoThatAnInlineRunGivesTheThreadBack()
    {
        // The write loop runs one pass on a thread that woke it inline, then goes on through the pool.
        var signal = new AsyncSignal();
        var woken = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiter = WaitThenTellAsync(signal, woken);
        await OnNewThreadAsync(() =>
        {
            signal.Set(inline: true);
            return true;
        });
        Assert.True(await woken.Task.WaitAsync(Deadline));
        await waiter.WaitAsync(Deadline);

        woken = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        waiter = WaitThenTellAsync(signal, woken);
        signal.Set();
        Assert.False(await woken.Task.WaitAsync(Deadline));
        await waiter.WaitAsync(Deadline);
    }

    private static async Task WaitThenTellAsync(AsyncSignal signal, TaskCompletionSource<bool> woken)
    {
        await signal.WaitAsync().ConfigureAwait(false);
        woken.SetResult(signal.TakeInlineWake());
    }

    [Fact]
    public async Task AnyOtherWake_RunsTheWaiter_ThroughTheThreadPool_NotOnTheWakingThread()
    {
        var signal = new AsyncSignal();
        var resumedOn = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiter = WaitThenRecordAsync(signal, resumedOn);

        // The setter holds a lock the whole time, as the core's tenant lock may be held when a route wakes a writer.
        var gate = new Lock();
        var (setter, _) = await OnNewThreadAsync(() =>
        {
            lock (gate)
            {
                signal.Set();
                return false;
            }
        });

        var resumed = await resumedOn.Task.WaitAsync(Deadline);
        Assert.NotEqual(setter, resumed); // a new thread is never a pool thread: the waiter cannot have run on it
        await waiter.WaitAsync(Deadline);
    }

    [Fact]
    public async Task AWakeWithNoWaiter_IsKept_ForTheNextWaitOnly_AndCancelEndsEveryLaterWait()
    {
        var signal = new AsyncSignal();
        signal.Set(inline: true);
        signal.Set(); // at most one wake is kept

        Assert.True(signal.WaitAsync().AsTask().IsCompletedSuccessfully);
        var next = signal.WaitAsync().AsTask();
        Assert.False(next.IsCompleted);

        signal.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next.WaitAsync(Deadline));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await signal.WaitAsync());
    }

    [Fact]
    public async Task ManyWakesFromManyThreads_EachWaitEndsOnce_AndNoneIsLost()
    {
        // A writer loop and racing wakers: every wake that finds the loop waiting resumes it once, and a wake that
        // finds it busy is kept, so the last wake is never lost (the loop always sees the final count).
        var signal = new AsyncSignal();
        const int Wakes = 20_000;
        var produced = 0;
        var seen = 0;
        var loop = Task.Run(async () =>
        {
            while (Volatile.Read(ref seen) < Wakes)
            {
                await signal.WaitAsync();
                Volatile.Write(ref seen, Volatile.Read(ref produced));
            }
        });

        var wakers = Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            for (var i = 0; i < Wakes / 4; i++)
            {
                Interlocked.Increment(ref produced);
                signal.Set(inline: (i + w) % 2 == 0);
            }
        })).ToArray();

        await Task.WhenAll(wakers).WaitAsync(Deadline);
        await loop.WaitAsync(Deadline);
        Assert.Equal(Wakes, Volatile.Read(ref seen));
    }

    private static async Task WaitThenRecordAsync(AsyncSignal signal, TaskCompletionSource<int> resumedOn)
    {
        // As the server's write loop waits: with no synchronization context to return to (the test runner has one).
        await signal.WaitAsync().ConfigureAwait(false);
        resumedOn.SetResult(Environment.CurrentManagedThreadId);
    }

    /// <summary>Runs <paramref name="body"/> on a thread of its own (not a pool thread); its id and the body's result.</summary>
    private static Task<(int Thread, bool Result)> OnNewThreadAsync(Func<bool> body)
    {
        var done = new TaskCompletionSource<(int, bool)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                done.SetResult((Environment.CurrentManagedThreadId, body()));
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        }) { IsBackground = true };
        thread.Start();
        return done.Task.WaitAsync(Deadline);
    }
}
