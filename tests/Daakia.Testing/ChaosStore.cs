using System.Threading.Channels;
using Daakia.Core;
using Daakia.Core.Storage;

namespace Daakia.Testing;

/// <summary>
/// A store that keeps the store contract's letter but none of a synchronous fake's comfort: every call completes on
/// another thread, late and out of order; a read runs some time after it was called, so it also sees writes called
/// after it (as SQLite's reader pool does); and calls can be made to fail. Core tests run on it to reach the races a
/// synchronous in-memory store hides.
/// </summary>
/// <remarks>
/// Writes take effect in call order (one apply loop, as the SQLite writer commits in order); a write chosen to fail takes
/// no effect at all (a rolled-back batch) and its task faults. Completions are delayed independently, so a later write
/// can complete before an earlier one.
/// </remarks>
public sealed class ChaosStore : IDaakiaStore
{
    private readonly InMemoryStore _inner = new();
    private readonly Channel<Action> _applies = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Random _random;
    private readonly Lock _randomGate = new();
    private readonly Task _applyLoop;
    private long _outstanding;

    public ChaosStore(int seed = 0, int maxDelayMs = 3)
    {
        Seed = seed == 0 ? Environment.TickCount : seed;
        _random = new Random(Seed);
        MaxDelayMs = maxDelayMs;
        _applyLoop = Task.Run(ApplyLoopAsync);
    }

    /// <summary>The seed of this run's delays and random failures (print it when a test fails).</summary>
    public int Seed { get; }

    /// <summary>Longest extra delay of a completion or a read, in milliseconds.</summary>
    public int MaxDelayMs { get; set; }

    /// <summary>Chance (0..1) that any call fails; decided when the call is made.</summary>
    public double FailureRate { get; set; }

    /// <summary>
    /// Decides, per call, whether it fails (op names: append, delete, return, dead-letter, write (a unit of work),
    /// read-inbox (a read of an inbox), read-queue (of any other queue kind), count, usage, expire, seen, activity,
    /// prune, read-activity, roster, flush). A unit of work chosen to fail takes no effect at all.
    /// </summary>
    public Func<string, bool>? FailWhen { get; set; }

    /// <summary>
    /// While set, completed reads wait for it before their callers see them (a read stuck on disk): its snapshot is
    /// taken, but writes called after it go on taking effect and completing.
    /// </summary>
    public TaskCompletionSource? HoldReads { get; set; }

    /// <summary>While true, every write is refused at once: the call throws, as a store that has faulted or closed does.</summary>
    public bool RefuseWrites { get; set; }

    /// <summary>While set, completed writes wait for it before their callers see them (took effect, not yet acknowledged).</summary>
    public TaskCompletionSource? HoldWrites { get; set; }

    /// <summary>
    /// Asked per write when it is called (op names as for <see cref="FailWhen"/>): while the task it answers is pending,
    /// that write's completion waits for it (it took effect, or failed, but its caller does not know yet). Lets a test
    /// order the completions of writes it called.
    /// </summary>
    public Func<string, Task?>? HoldWhen { get; set; }

    /// <summary>Calls made so far, by op name.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, int> Calls { get; } = new();

    /// <summary>Calls whose tasks have not completed yet.</summary>
    public long Outstanding => Interlocked.Read(ref _outstanding);

    public ValueTask OpenAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public async ValueTask FlushAsync(CancellationToken cancellationToken = default) => await Write("flush", () => true);

    public async ValueTask DisposeAsync()
    {
        _applies.Writer.TryComplete();
        await _applyLoop;
    }

    public ValueTask<IReadOnlyList<long>> AppendAsync(Letter message, IReadOnlyList<QueueKey> queues, InboxQuota? quota = null, CancellationToken cancellationToken = default) =>
        Write("append", () => Done(_inner.AppendAsync(message, queues, quota, cancellationToken)));

    public ValueTask<IReadOnlyList<QueueEntry>> ReadAsync(QueueKey queue, long afterPosition, int limit, long maxBytes = long.MaxValue, CancellationToken cancellationToken = default) =>
        Read(queue.Kind == QueueKind.Inbox ? "read-inbox" : "read-queue", () => _inner.ReadAsync(queue, afterPosition, limit, maxBytes, cancellationToken));

    public ValueTask<IReadOnlyList<QueueEntry>> ReadByIdsAsync(QueueKey queue, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default) =>
        Read("read-ids", () => _inner.ReadByIdsAsync(queue, messageIds, cancellationToken));

    public ValueTask<IReadOnlyList<QueueEntry>> ReadLastAsync(QueueKey queue, int limit, CancellationToken cancellationToken = default) =>
        Read("read-last", () => _inner.ReadLastAsync(queue, limit, cancellationToken));

    public ValueTask<InboxUsage> GetUsageAsync(QueueKey queue, CancellationToken cancellationToken = default) =>
        Read("usage", () => _inner.GetUsageAsync(queue, cancellationToken));

    public ValueTask<InboxUsage> GetTenantUsageAsync(TenantId tenant, CancellationToken cancellationToken = default) =>
        Read("usage", () => _inner.GetTenantUsageAsync(tenant, cancellationToken));

    public ValueTask<long> CountAsync(QueueKey queue, CancellationToken cancellationToken = default) =>
        Read("count", () => _inner.CountAsync(queue, cancellationToken));

    public ValueTask<int> DeleteAsync(QueueKey queue, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default) =>
        Write("delete", () => Done(_inner.DeleteAsync(queue, messageIds, cancellationToken)));

    public ValueTask<int> ReturnAsync(QueueKey queue, IReadOnlyList<ReturnedEntry> entries, CancellationToken cancellationToken = default) =>
        Write("return", () => Done(_inner.ReturnAsync(queue, entries, cancellationToken)));

    public ValueTask<int> DeadLetterAsync(QueueKey from, QueueKey to, IReadOnlyList<Guid> messageIds, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        Write("dead-letter", () => Done(_inner.DeadLetterAsync(from, to, messageIds, at, cancellationToken)));

    public ValueTask<IReadOnlyList<StoreOpResult>> WriteAsync(IReadOnlyList<StoreOp> ops, CancellationToken cancellationToken = default) =>
        Write("write", () => Done(_inner.WriteAsync(ops, cancellationToken)));

    public ValueTask<IReadOnlyList<ExpiredEntry>> RemoveExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default) =>
        Write("expire", () => Done(_inner.RemoveExpiredAsync(now, limit, cancellationToken)));

    public async ValueTask RecordSeenAsync(TenantId tenant, ClientId client, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        await Write("seen", () => Done(_inner.RecordSeenAsync(tenant, client, at, cancellationToken)));

    public ValueTask<IReadOnlyList<RosterEntry>> ListClientsAsync(TenantId tenant, ClientId? after, int limit, CancellationToken cancellationToken = default) =>
        Read("roster", () => _inner.ListClientsAsync(tenant, after, limit, cancellationToken));

    public ValueTask<RosterEntry?> GetClientAsync(TenantId tenant, ClientId client, CancellationToken cancellationToken = default) =>
        Read("roster", () => _inner.GetClientAsync(tenant, client, cancellationToken));

    public async ValueTask AppendActivityAsync(IReadOnlyList<ActivityEntry> entries, CancellationToken cancellationToken = default) =>
        await Write("activity", () => Done(_inner.AppendActivityAsync(entries, cancellationToken)));

    public ValueTask<int> PruneActivityAsync(DateTimeOffset olderThan, long keepEntries, int limit, CancellationToken cancellationToken = default) =>
        Write("prune", () => Done(_inner.PruneActivityAsync(olderThan, keepEntries, limit, cancellationToken)));

    public ValueTask<IReadOnlyList<RetainedMessage>> ReadRetainedAsync((TenantId Tenant, string Topic)? after, int limit, CancellationToken cancellationToken = default) =>
        Read("read-retained", () => _inner.ReadRetainedAsync(after, limit, cancellationToken));

    public ValueTask<IReadOnlyList<SessionRecord>> ReadSessionsAsync((TenantId Tenant, ClientId Client)? after, int limit, CancellationToken cancellationToken = default) =>
        Read("read-sessions", () => _inner.ReadSessionsAsync(after, limit, cancellationToken));

    public ValueTask<IReadOnlyList<StoredRecord>> ReadRecordsAsync((TenantId Tenant, RecordKind Kind, string Key)? after, int limit, CancellationToken cancellationToken = default) =>
        Read("read-records", () => _inner.ReadRecordsAsync(after, limit, cancellationToken));

    public ValueTask<IReadOnlyList<ActivityEntry>> ReadActivityAsync(TenantId tenant, long afterId, int limit, CancellationToken cancellationToken = default) =>
        Read("read-activity", () => _inner.ReadActivityAsync(tenant, afterId, limit, cancellationToken));

    /// <summary>A write: takes its place in the apply order now, takes effect in that order, completes late.</summary>
    private ValueTask<T> Write<T>(string op, Func<T> apply)
    {
        if (RefuseWrites)
        {
            throw new DaakiaException(DaakiaErrorCode.Unavailable, $"Refused '{op}' at once.");
        }

        var fail = Decide(op);
        var held = HoldWhen?.Invoke(op);
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Increment(ref _outstanding);
        if (!_applies.Writer.TryWrite(() =>
            {
                if (fail)
                {
                    _ = CompleteLaterAsync(done, default!, new DaakiaException(DaakiaErrorCode.Unavailable, $"Injected failure of '{op}'."), held);
                    return;
                }

                T result;
                try
                {
                    result = apply();
                }
                catch (Exception ex)
                {
                    _ = CompleteLaterAsync(done, default!, ex, held);
                    return;
                }

                _ = CompleteLaterAsync(done, result, null, held);
            }))
        {
            Interlocked.Decrement(ref _outstanding);
            throw new DaakiaException(DaakiaErrorCode.Unavailable, "The store is closed.");
        }

        return new ValueTask<T>(done.Task);
    }

    /// <summary>A read: runs after every write called before it took effect, and some time later still.</summary>
    private ValueTask<T> Read<T>(string op, Func<ValueTask<T>> run)
    {
        var fail = Decide(op);
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Increment(ref _outstanding);
        var hold = HoldReads;
        if (!_applies.Writer.TryWrite(() =>
            {
                // Half the reads take their snapshot at their place in the order (as the contract says); the others run
                // later and also see writes called after them (as SQLite's reader pool can).
                if (hold is not null || NextInt(2) == 0)
                {
                    Task<T> snapshot;
                    try
                    {
                        snapshot = fail
                            ? Task.FromException<T>(new DaakiaException(DaakiaErrorCode.Unavailable, $"Injected failure of '{op}'."))
                            : Task.FromResult(Done(run()));
                    }
                    catch (Exception ex)
                    {
                        snapshot = Task.FromException<T>(ex);
                    }

                    _ = FinishReadAsync(done, snapshot, hold);
                }
                else
                {
                    _ = RunLaterAsync(done, op, fail, run);
                }
            }))
        {
            Interlocked.Decrement(ref _outstanding);
            throw new DaakiaException(DaakiaErrorCode.Unavailable, "The store is closed.");
        }

        return new ValueTask<T>(done.Task);
    }

    private async Task RunLaterAsync<T>(TaskCompletionSource<T> done, string op, bool fail, Func<ValueTask<T>> run)
    {
        await DelayAsync();
        try
        {
            if (fail)
            {
                throw new DaakiaException(DaakiaErrorCode.Unavailable, $"Injected failure of '{op}'.");
            }

            done.TrySetResult(await run());
        }
        catch (Exception ex)
        {
            done.TrySetException(ex);
        }
        finally
        {
            Interlocked.Decrement(ref _outstanding);
        }
    }

    private async Task FinishReadAsync<T>(TaskCompletionSource<T> done, Task<T> snapshot, TaskCompletionSource? hold)
    {
        await DelayAsync();
        if (hold is not null)
        {
            await hold.Task;
        }

        try
        {
            done.TrySetResult(await snapshot);
        }
        catch (Exception ex)
        {
            done.TrySetException(ex);
        }
        finally
        {
            Interlocked.Decrement(ref _outstanding);
        }
    }

    private async Task CompleteLaterAsync<T>(TaskCompletionSource<T> done, T result, Exception? error, Task? held)
    {
        await DelayAsync();
        if (HoldWrites is { } hold)
        {
            await hold.Task;
        }

        if (held is not null)
        {
            await held;
        }

        if (error is null)
        {
            done.TrySetResult(result);
        }
        else
        {
            done.TrySetException(error);
        }

        Interlocked.Decrement(ref _outstanding);
    }

    private async Task ApplyLoopAsync()
    {
        await foreach (var apply in _applies.Reader.ReadAllAsync())
        {
            // Sometimes let callers run ahead of the store, so later calls pile up before earlier ones take effect.
            if (NextInt(4) == 0)
            {
                await DelayAsync();
            }

            apply();
        }
    }

    /// <summary>The inner store completes synchronously; this unwraps its result.</summary>
    private static T Done<T>(ValueTask<T> call) => call.IsCompletedSuccessfully ? call.Result : call.AsTask().GetAwaiter().GetResult();

    private static bool Done(ValueTask call)
    {
        if (!call.IsCompletedSuccessfully)
        {
            call.AsTask().GetAwaiter().GetResult();
        }

        return true;
    }

    private bool Decide(string op)
    {
        Calls.AddOrUpdate(op, 1, static (_, n) => n + 1);
        if (FailWhen?.Invoke(op) == true)
        {
            return true;
        }

        if (FailureRate <= 0)
        {
            return false;
        }

        lock (_randomGate)
        {
            return _random.NextDouble() < FailureRate;
        }
    }

    private int NextInt(int max)
    {
        lock (_randomGate)
        {
            return _random.Next(max);
        }
    }

    private Task DelayAsync()
    {
        var ms = NextInt(MaxDelayMs + 1);
        return ms == 0 ? Task.Run(static () => { }) : Task.Delay(ms);
    }
}
