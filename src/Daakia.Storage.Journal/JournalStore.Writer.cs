using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Threading.Tasks.Sources;
using Daakia.Core;

namespace Daakia.Storage.Journal;

/// <summary>The journal file: records, group commit on the writer thread, open, faults and disposal.</summary>
public sealed partial class JournalStore
{
    private const string FileName = "daakia.journal";
    private const string CompactName = "daakia.journal.compact";
    private const int HeaderSize = 8; // body length, CRC-32 of the body
    private const int MaxRecordBytes = 1 << 30;

    private RecordBuffer _pending = new();
    private RecordBuffer _spare = new();
    private List<Waiter> _waiters = [];
    private List<Waiter> _spareWaiters = [];
    private bool _writing; // the writer holds a batch it has not finished
    private bool _awake; // the writer was woken (or is working) and will look at the pending batch again
    private readonly SemaphoreSlim _wake = new(0);
    private FileStream? _file;
    private long _fileLength;
    private Thread? _writer;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // ---- Records.

    private int BeginRecord()
    {
        var start = _pending.Length;
        _pending.UInt32(0);
        _pending.UInt32(0);
        _log = _pending;
        return start;
    }

    /// <summary>Closes the record begun at <paramref name="start"/>; false if it holds nothing (nothing to write).</summary>
    private bool EndRecord(int start)
    {
        _log = null;
        _definedInRecord.Clear();
        var body = _pending.Length - start - HeaderSize;
        if (body == 0)
        {
            _pending.Truncate(start);
            return false;
        }

        if (body > MaxRecordBytes)
        {
            throw new InsufficientMemoryException($"One store call's record would be {body} bytes, above the journal's {MaxRecordBytes}.");
        }

        _pending.UInt32At(start, (uint)body);
        _pending.UInt32At(start + 4, Crc32.HashToUInt32(_pending.From(start + HeaderSize)));
        return true;
    }

    private void AbandonRecord(int start)
    {
        _log = null;
        _pending.Truncate(start);
        foreach (var q in _definedInRecord)
        {
            q.FileGeneration = 0; // its definition went with the record
        }

        _definedInRecord.Clear();
    }

    /// <summary>
    /// Ends a call's record however the call ends: if it is still open (the call threw part way), its bytes are dropped
    /// and its effects undone when they were tracked; when they were not, memory may hold part of the call that the
    /// journal does not, so the store faults (everything acknowledged is in the journal; a restart reads it back).
    /// </summary>
    private readonly ref struct RecordScope(JournalStore store, int start, List<Action>? undo)
    {
        public void Dispose()
        {
            if (store._log is null)
            {
                return; // committed or abandoned
            }

            for (var u = (undo?.Count ?? 0) - 1; u >= 0; u--)
            {
                undo![u]();
            }

            store.AbandonRecord(start);
            if (undo is null)
            {
                store._fault ??= "A store call failed part way through; the store stopped so that memory and the journal cannot differ (a restart reads the journal back).";
                JournalLog.CallFailed(store._logger, store._fault);
            }
        }
    }

    /// <summary>Closes the record and answers with <paramref name="result"/> once it is durable (at once if it wrote nothing).</summary>
    private ValueTask<T> Commit<T>(int start, T result)
    {
        if (!EndRecord(start) && _pending.Length == 0 && !_writing)
        {
            return ValueTask.FromResult(result); // changed nothing, and nothing before it waits to be durable
        }

        var w = Waiter<T>.Rent(result);
        _waiters.Add(w);
        WakeWriter();
        return w.Task;
    }

    private void WakeWriter()
    {
        if (!_awake)
        {
            _awake = true;
            _wake.Release();
        }
    }

    private abstract class Waiter
    {
        public abstract void Succeed();

        public abstract void Fail(Exception error);
    }

    /// <summary>
    /// One call's wait for its commit: a reusable value-task source (a call allocates nothing to wait), taken from a
    /// small pool and given back once its caller has read the result. Its continuation never runs on the writer thread.
    /// </summary>
    private sealed class Waiter<T> : Waiter, IValueTaskSource<T>
    {
        private const int PoolSize = 256;
        private static readonly ConcurrentQueue<Waiter<T>> Pool = new();

        private ManualResetValueTaskSourceCore<T> _core = new() { RunContinuationsAsynchronously = true };
        private T _result = default!;

        public ValueTask<T> Task => new(this, _core.Version);

        public static Waiter<T> Rent(T result)
        {
            if (!Pool.TryDequeue(out var w))
            {
                w = new Waiter<T>();
            }

            w._result = result;
            return w;
        }

        public override void Succeed() => _core.SetResult(_result);

        public override void Fail(Exception error) => _core.SetException(error);

        T IValueTaskSource<T>.GetResult(short token)
        {
            // A stale token, or a wait not answered yet (a misuse: Result before completion), throws below and must not
            // recycle a wait the writer still holds.
            var current = token == _core.Version && _core.GetStatus(token) != ValueTaskSourceStatus.Pending;
            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                if (current)
                {
                    // Read once (the ValueTask contract): the source may serve the next call.
                    _core.Reset();
                    _result = default!;
                    if (Pool.Count < PoolSize)
                    {
                        Pool.Enqueue(this);
                    }
                }
            }
        }

        ValueTaskSourceStatus IValueTaskSource<T>.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource<T>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }

    // ---- Open: replay, then the writer thread.

    public ValueTask OpenAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_opened)
            {
                throw new InvalidOperationException("The store is open already.");
            }

            Directory.CreateDirectory(_options.DataDirectory);
            var compact = Path.Combine(_options.DataDirectory, CompactName);
            if (File.Exists(compact))
            {
                File.Delete(compact); // a compaction that did not finish: the journal it would have replaced is whole
            }

            // FileShare.None: a second process on the same data directory fails here instead of corrupting it.
            _file = new FileStream(JournalPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            // Read ahead a megabyte at a time; not disposed, which would close the journal under it.
            var buffered = new BufferedStream(_file, 1 << 20);
            var (records, kept) = Replay(buffered, _file.Length);

            if (kept < _file.Length)
            {
                // Kept aside before it is cut off: a torn last write is worth nothing, but damage in the middle of the
                // file (a disk error) would take the records after it along, and those can be read out of the copy.
                var aside = $"{JournalPath}.damaged-{kept}";
                _file.Position = kept;
                using (var copy = new FileStream(aside, FileMode.Create, FileAccess.Write))
                {
                    _file.CopyTo(copy);
                    copy.Flush(flushToDisk: true);
                }

                JournalLog.TornTail(_logger, JournalPath, kept, _file.Length - kept, aside);
                _file.SetLength(kept);
                _file.Flush(flushToDisk: true);
            }

            _file.Position = kept;
            _fileLength = kept;
            _opened = true;
            JournalLog.Opened(_logger, JournalPath, _options.Durability.ToString().ToLowerInvariant(), records, kept);
        }

        _writer = new Thread(WriterLoop) { IsBackground = true, Name = "daakia-journal" };
        _writer.Start();
        return ValueTask.CompletedTask;
    }


    // ---- The writer thread.

    private void WriterLoop()
    {
        List<Waiter>? waiters = null; // the batch being written: failed with the store if its write fails
        try
        {
            while (true)
            {
                _wake.Wait();
                while (true)
                {
                    RecordBuffer batch;
                    RecordBuffer? snapshot = null;
                    long before = 0;
                    lock (_gate)
                    {
                        if (_pending.Length == 0 && _waiters.Count == 0)
                        {
                            _awake = false;
                            _writing = false;
                            break;
                        }

                        batch = _pending;
                        waiters = _waiters;
                        _pending = _spare;
                        _waiters = _spareWaiters;
                        _writing = true;
                        if (CompactionDue())
                        {
                            // In the same hold of the lock as the swap: the snapshot holds exactly the effects of the
                            // records written so far and of this batch (whose bytes it replaces), and every call after
                            // it is numbered for the new file.
                            before = _fileLength;
                            snapshot = TryEncodeSnapshot();
                            if (snapshot is not null)
                            {
                                batch.Clear();
                            }
                        }
                    }

                    BeforeBatchForTest?.Invoke(waiters.Count);
                    var started = System.Diagnostics.Stopwatch.GetTimestamp();
                    if (snapshot is not null)
                    {
                        ReplaceWith(snapshot, before);
                    }
                    else
                    {
                        WriteBatch(batch.Written);
                    }

                    if (snapshot is not null || batch.Written.Length > 0)
                    {
                        _commitSeconds.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds); // a batch of waiters only wrote nothing
                    }


                    Interlocked.Increment(ref _batches);
                    Interlocked.Add(ref _committedWrites, waiters.Count);

                    // Answered now, so never failed later: an answered wait may already serve another call.
                    var answered = waiters;
                    waiters = null;
                    foreach (var w in answered)
                    {
                        w.Succeed();
                    }

                    batch.Clear();
                    batch.Shrink(1024 * 1024);
                    answered.Clear();
                    lock (_gate)
                    {
                        _spare = batch;
                        _spareWaiters = answered;
                    }
                }

                if (_closed)
                {
                    return;
                }
            }
        }
#pragma warning disable CA1031 // Whatever stops the writer must fault the store loudly, not kill the process or hang its callers.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            EnterFaultedState(ex, waiters);
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    /// <summary>Tests: runs on the writer before each batch (with its number of writes): may stall it, or throw.</summary>
    internal Action<int>? BeforeBatchForTest { get; set; }

    /// <summary>Tests: an error the next batch's write throws (a full or failing disk).</summary>
    internal Func<Exception?>? FailWrites { get; set; }

    /// <summary>Compactions since open.</summary>
    internal int Compactions { get; private set; }

    private void WriteBatch(ReadOnlySpan<byte> bytes)
    {
        if (FailWrites?.Invoke() is { } injected)
        {
            throw injected;
        }

        var file = _file!;
        if (!bytes.IsEmpty)
        {
            file.Write(bytes);
            _fileLength += bytes.Length;
        }

        if (_options.Durability == JournalDurability.Fsync && !bytes.IsEmpty)
        {
            file.Flush(flushToDisk: true);
        }
    }

    private void EnterFaultedState(Exception cause, List<Waiter>? writing)
    {
        var reason = "The journal could not be written: " + cause.Message;
        List<Waiter> failed;
        lock (_gate)
        {
            _fault = reason;
            failed = [.. writing ?? [], .. _waiters];
            _waiters.Clear();
            _pending.Clear();
        }

        JournalLog.WriterFaulted(_logger, cause, reason);
        var error = new DaakiaException(DaakiaErrorCode.Unavailable, reason);
        foreach (var w in failed)
        {
            w.Fail(error);
        }
    }

    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (!_opened || _closed)
            {
                _closed = true;
                _file?.Dispose();
                _meter.Dispose();
                return;
            }

            _closed = true;
            WakeWriter();
        }

        if (_writer is not null)
        {
            _wake.Release(); // once more, in case the writer was awake and is about to wait again
            await _stopped.Task.ConfigureAwait(false);
        }

        _file?.Dispose();
        _wake.Dispose();
        _meter.Dispose();
    }
}
