using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Daakia.Core;
using Microsoft.Extensions.Logging;

namespace Daakia.Storage.Journal;

/// <summary>The journal file: records, group commit on the writer thread, replay at open, compaction.</summary>
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

        var w = new Waiter<T>(result);
        _waiters.Add(w);
        WakeWriter();
        return new ValueTask<T>(w.Task);
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

    private sealed class Waiter<T>(T result) : Waiter
    {
        private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<T> Task => _done.Task;

        public override void Succeed() => _done.TrySetResult(result);

        public override void Fail(Exception error) => _done.TrySetException(error);
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

    /// <summary>Applies every whole record of the journal; returns how many and the length of the whole ones (a torn
    /// or damaged tail after them, left by a crash mid-write, is cut off by the caller).</summary>
    private (long Records, long Length) Replay(Stream file, long fileLength)
    {
        file.Position = 0;
        var header = new byte[HeaderSize];
        var body = new byte[64 * 1024];
        long offset = 0, records = 0;
        var messages = new Dictionary<(TenantId, Guid), JMessage>();
        var ids = new Dictionary<int, JQueue>();
        while (true)
        {
            if (file.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false) < HeaderSize)
            {
                return (records, offset);
            }

            var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
            if (length == 0 || length > MaxRecordBytes || length > fileLength - offset - HeaderSize)
            {
                return (records, offset);
            }

            if (body.Length < length)
            {
                body = new byte[Math.Max(length, body.Length * 2)];
            }

            var span = body.AsSpan(0, (int)length);
            file.ReadExactly(span);
            if (Crc32.HashToUInt32(span) != crc)
            {
                return (records, offset);
            }

            ApplyRecord(span, ids, messages);
            offset += HeaderSize + length;
            records++;
        }
    }

    /// <summary>Applies one record's effects (replaying: nothing is logged).</summary>
    private void ApplyRecord(ReadOnlySpan<byte> body, Dictionary<int, JQueue> ids, Dictionary<(TenantId, Guid), JMessage> messages)
    {
        var r = new RecordReader(body);
        while (!r.End)
        {
            var effect = (Effect)r.Byte();
            switch (effect)
            {
                case Effect.DefineQueue:
                {
                    var id = r.Int();
                    var tenant = TenantId.Parse(r.String());
                    var kind = (QueueKind)r.Byte();
                    var q = QueueOf(new QueueKey(tenant, kind, r.String()));
                    ids[id] = q;
                    _nextFileId = Math.Max(_nextFileId, id);
                    q.FileId = id;
                    q.FileGeneration = _fileGeneration;
                    break;
                }

                case Effect.Append:
                {
                    var m = new JMessage(ReadLetter(ref r));
                    var n = r.Int();
                    for (var i = 0; i < n; i++)
                    {
                        var q = Queue(ids, r.Int());
                        var position = r.Long();
                        if (q.ById.TryGetValue(m.Letter.Id, out var twice))
                        {
                            TakeEntry(twice, null);
                        }

                        PutEntry(q, m, position, 0, m.Letter.VisibleAt, null);
                    }

                    break;
                }

                case Effect.Remove:
                {
                    var q = Queue(ids, r.Int());
                    var n = r.Int();
                    for (var i = 0; i < n; i++)
                    {
                        if (q.ById.TryGetValue(r.Guid(), out var e))
                        {
                            TakeEntry(e, null);
                        }
                    }

                    break;
                }

                case Effect.Return:
                {
                    var q = Queue(ids, r.Int());
                    var n = r.Int();
                    for (var i = 0; i < n; i++)
                    {
                        var id = r.Guid();
                        var deliveries = r.Int();
                        var visible = r.OptionalTime();
                        if (q.ById.TryGetValue(id, out var e))
                        {
                            e.Deliveries = deliveries;
                            e.VisibleAt = visible;
                        }
                    }

                    break;
                }

                case Effect.Move:
                {
                    var from = Queue(ids, r.Int());
                    var to = Queue(ids, r.Int());
                    var n = r.Int();
                    for (var i = 0; i < n; i++)
                    {
                        var id = r.Guid();
                        var position = r.Long();
                        if (from.ById.TryGetValue(id, out var e))
                        {
                            TakeEntry(e, null);
                            if (to.ById.TryGetValue(id, out var there))
                            {
                                TakeEntry(there, null);
                            }

                            PutEntry(to, e.Message, position, e.Deliveries, null, null);
                        }
                    }

                    break;
                }

                case Effect.Activity:
                    AddActivity(ReadActivity(ref r), null, keepId: true);
                    break;

                case Effect.Prune:
                {
                    var n = r.Int();
                    var gone = new HashSet<long>();
                    for (var i = 0; i < n; i++)
                    {
                        gone.Add(r.Long());
                    }

                    // They were among the oldest when pruned, so they are found near the head.
                    var found = new List<JActivity>(n);
                    foreach (var a in _activity.First(int.MaxValue))
                    {
                        if (found.Count == gone.Count)
                        {
                            break;
                        }

                        if (gone.Contains(a.Entry.Id))
                        {
                            found.Add(a);
                        }
                    }

                    foreach (var a in found)
                    {
                        RemoveActivity(a);
                    }

                    break;
                }

                case Effect.Seen:
                {
                    var tenant = TenantId.Parse(r.String());
                    var client = ClientId.Parse(r.String());
                    var first = r.Time();
                    Seen(tenant, client, first, r.Time());
                    break;
                }

                case Effect.Retain:
                    Retain(ReadRetained(ref r));
                    break;

                case Effect.ClearRetained:
                {
                    var tenant = TenantId.Parse(r.String());
                    ClearRetained(tenant, r.String());
                    break;
                }

                case Effect.SaveSession:
                    SaveSession(ReadSession(ref r, withAwaiting: false));
                    break;

                case Effect.Session:
                {
                    var s = ReadSession(ref r, withAwaiting: true);
                    _sessions[(s.Tenant.Value, s.Client.Value)] = s;
                    break;
                }

                case Effect.DeleteSession:
                {
                    var tenant = TenantId.Parse(r.String());
                    DropSessionRecord(tenant, ClientId.Parse(r.String()));
                    break;
                }

                case Effect.SessionRelease or Effect.SessionComplete:
                {
                    var tenant = TenantId.Parse(r.String());
                    var client = ClientId.Parse(r.String());
                    SessionRelease(tenant, client, checked((ushort)r.Varint()), release: effect == Effect.SessionRelease);
                    break;
                }

                case Effect.QueueHigh:
                {
                    var q = Queue(ids, r.Int());
                    q.LastPosition = Math.Max(q.LastPosition, r.Long());
                    break;
                }

                case Effect.ActivityHigh:
                    _activityIds = Math.Max(_activityIds, r.Long());
                    break;

                case Effect.Message:
                {
                    var letter = ReadLetter(ref r);
                    messages[(letter.Tenant, letter.Id)] = new JMessage(letter);
                    break;
                }

                case Effect.Entry:
                {
                    var q = Queue(ids, r.Int());
                    var id = r.Guid();
                    var position = r.Long();
                    var deliveries = r.Int();
                    var visible = r.OptionalTime();
                    if (!messages.TryGetValue((q.Key.Tenant, id), out var m))
                    {
                        throw new InvalidDataException($"The journal's snapshot names message {id} before it.");
                    }

                    PutEntry(q, m, position, deliveries, visible, null);
                    break;
                }

                default:
                    throw new InvalidDataException($"The journal holds an effect of unknown kind {(byte)effect}.");
            }
        }
    }

    private static JQueue Queue(Dictionary<int, JQueue> ids, int id) =>
        ids.TryGetValue(id, out var q) ? q : throw new InvalidDataException($"The journal names queue {id} before defining it.");

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
                    if (snapshot is not null)
                    {
                        ReplaceWith(snapshot, before);
                    }
                    else
                    {
                        WriteBatch(batch.Written);
                    }

                    Interlocked.Increment(ref _batches);
                    Interlocked.Add(ref _committedWrites, waiters.Count);
                    foreach (var w in waiters)
                    {
                        w.Succeed();
                    }

                    batch.Clear();
                    batch.Shrink(1024 * 1024);
                    waiters.Clear();
                    lock (_gate)
                    {
                        _spare = batch;
                        _spareWaiters = waiters;
                    }

                    waiters = null;
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

    /// <summary>Whether the journal is due for compaction (caller holds the lock): past its bound and more than twice the
    /// last snapshot, so compaction never writes more than about twice what it reclaims.</summary>
    private bool CompactionDue() => _fileLength > Math.Max(_options.CompactBytes, 2 * _lastSnapshotLength);

    private long _lastSnapshotLength;

    /// <summary>
    /// Puts <paramref name="snapshot"/> (encoded under the lock, see <see cref="EncodeSnapshot"/>) in the journal's place:
    /// written to a new file, fsynced, renamed over the journal, the directory fsynced. Calls made meanwhile are in the
    /// next batch, numbered for the new file.
    /// </summary>
    private void ReplaceWith(RecordBuffer snapshot, long before)
    {
        var path = Path.Combine(_options.DataDirectory, CompactName);
        var next = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        try
        {
            next.Write(snapshot.Written);
            next.Flush(flushToDisk: true);
            File.Move(path, JournalPath, overwrite: true);
            SyncDirectory(_options.DataDirectory);
        }
        catch
        {
            next.Dispose();
            throw;
        }

        _file!.Dispose();
        _file = next;
        _fileLength = snapshot.Length;
        _lastSnapshotLength = _fileLength;
        Compactions++;
        JournalLog.Compacted(_logger, before, _fileLength);
    }

    /// <summary>
    /// <see cref="EncodeSnapshot"/>, or null if the state is too large for one buffer: then the journal keeps growing (the
    /// log says so) and the file numbering is put back as it was.
    /// </summary>
    private RecordBuffer? TryEncodeSnapshot()
    {
        var (generation, nextId) = (_fileGeneration, _nextFileId);
        try
        {
            return EncodeSnapshot();
        }
        catch (Exception ex) when (ex is InsufficientMemoryException or OutOfMemoryException)
        {
            var failed = _fileGeneration;
            (_fileGeneration, _nextFileId) = (generation, nextId);
            foreach (var q in _queues.Values)
            {
                if (q.FileGeneration == failed)
                {
                    q.FileGeneration = 0; // defined again, with a fresh number, at its next use in this file
                }
            }

            _log = null;
            _definedInRecord.Clear();
            _lastSnapshotLength = _fileLength; // not again before the file doubles
            JournalLog.CompactionSkipped(_logger, ex.Message);
            return null;
        }
    }

    /// <summary>The whole live state as records (caller holds the lock): queues with their last positions, each message
    /// once with its entries, roster, activity, retained messages, sessions.</summary>
    private RecordBuffer EncodeSnapshot()
    {
        _fileGeneration++;
        _nextFileId = 0;
        var buffer = new RecordBuffer(1024 * 1024);
        var emitted = new HashSet<JMessage>(ReferenceEqualityComparer.Instance);
        var start = Begin(buffer);
        foreach (var q in _queues.Values)
        {
            start = Split(buffer, start);
            _log = buffer;
            Define(q);
            buffer.Byte((byte)Effect.QueueHigh);
            buffer.Varint((ulong)q.FileId);
            buffer.Varint(q.LastPosition);
            foreach (var e in q.Entries.First(int.MaxValue))
            {
                start = Split(buffer, start);
                if (emitted.Add(e.Message))
                {
                    buffer.Byte((byte)Effect.Message);
                    WriteLetter(buffer, e.Message.Letter);
                }

                buffer.Byte((byte)Effect.Entry);
                buffer.Varint((ulong)q.FileId);
                buffer.Guid(e.Message.Letter.Id);
                buffer.Varint(e.Position);
                buffer.Varint((ulong)e.Deliveries);
                buffer.OptionalTime(e.VisibleAt);
            }
        }

        _log = null;
        _definedInRecord.Clear();
        foreach (var (tenant, t) in _tenants)
        {
            foreach (var entry in t.Roster.Values)
            {
                start = Split(buffer, start);
                buffer.Byte((byte)Effect.Seen);
                buffer.String(tenant.Value);
                buffer.String(entry.Client.Value);
                buffer.Time(entry.FirstSeen);
                buffer.Time(entry.LastSeen);
            }
        }

        foreach (var a in _activity.First(int.MaxValue))
        {
            start = Split(buffer, start);
            buffer.Byte((byte)Effect.Activity);
            WriteActivity(buffer, a.Entry);
        }

        buffer.Byte((byte)Effect.ActivityHigh);
        buffer.Varint(_activityIds);
        foreach (var m in _retained.Values)
        {
            start = Split(buffer, start);
            buffer.Byte((byte)Effect.Retain);
            WriteRetained(buffer, m);
        }

        foreach (var s in _sessions.Values)
        {
            start = Split(buffer, start);
            buffer.Byte((byte)Effect.Session);
            WriteSession(buffer, s, withAwaiting: true);
        }

        End(buffer, start);
        return buffer;

        static int Begin(RecordBuffer b)
        {
            var s = b.Length;
            b.UInt32(0);
            b.UInt32(0);
            return s;
        }

        static void End(RecordBuffer b, int s)
        {
            var body = b.Length - s - HeaderSize;
            if (body == 0)
            {
                b.Truncate(s);
                return;
            }

            b.UInt32At(s, (uint)body);
            b.UInt32At(s + 4, Crc32.HashToUInt32(b.From(s + HeaderSize)));
        }

        // Records of about 1 MiB: a snapshot is only renamed into place whole, so its records need not be atomic.
        static int Split(RecordBuffer b, int s)
        {
            if (b.Length - s < 1024 * 1024)
            {
                return s;
            }

            End(b, s);
            return Begin(b);
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

    /// <summary>fsync of a directory, so a rename in it is durable (Linux; elsewhere nothing).</summary>
    private static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var fd = NativeMethods.open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            throw new IOException($"Could not open {directory} to fsync it (errno {Marshal.GetLastPInvokeError()}).");
        }

        var synced = NativeMethods.fsync(fd);
        var errno = Marshal.GetLastPInvokeError();
        _ = NativeMethods.close(fd);
        if (synced != 0)
        {
            throw new IOException($"Could not fsync {directory} (errno {errno}).");
        }
    }

    private static partial class NativeMethods
    {
        [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
        internal static partial int fsync(int fd);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        internal static partial int close(int fd);
    }
}

internal static partial class JournalLog
{
    [LoggerMessage(4100, LogLevel.Information, "Journal store opened at {Path} (durability {Durability}): {Records} records, {Bytes} bytes replayed", EventName = "JournalOpened")]
    public static partial void Opened(ILogger logger, string path, string durability, long records, long bytes);

    [LoggerMessage(4101, LogLevel.Warning, "The journal {Path} ends in a torn or damaged record at byte {Offset}; the {Dropped} bytes from there were cut off and kept in {Aside} (after a crash: a write it interrupted, never acknowledged)", EventName = "JournalTornTail")]
    public static partial void TornTail(ILogger logger, string path, long offset, long dropped, string aside);

    [LoggerMessage(4105, LogLevel.Warning, "Journal compaction skipped: {Reason}", EventName = "JournalCompactionSkipped")]
    public static partial void CompactionSkipped(ILogger logger, string reason);

    [LoggerMessage(4102, LogLevel.Information, "Journal compacted from {Before} to {After} bytes", EventName = "JournalCompacted")]
    public static partial void Compacted(ILogger logger, long before, long after);

    [LoggerMessage(4104, LogLevel.Critical, "{Reason}", EventName = "JournalCallFailed")]
    public static partial void CallFailed(ILogger logger, string reason);

    [LoggerMessage(4103, LogLevel.Critical, "The journal's writer stopped; every store call fails until the process restarts. {Reason}", EventName = "JournalWriterFaulted")]
    public static partial void WriterFaulted(ILogger logger, Exception exception, string reason);
}
