using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Daakia.Storage.Journal;

/// <summary>Compaction: the live state as a snapshot, written beside the journal and renamed over it.</summary>
public sealed partial class JournalStore
{
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
                if (e.Own is { ExpiresAt: { } expires })
                {
                    // The entry's own expiry (a claim kept it alive, a dead-letter TTL): its message keeps the one it
                    // was appended with.
                    buffer.Byte((byte)Effect.Expiry);
                    buffer.Varint((ulong)q.FileId);
                    buffer.Varint(1UL);
                    buffer.Guid(e.Message.Letter.Id);
                    buffer.Time(expires);
                }
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
            buffer.Byte((byte)Effect.RetainWithProperties);
            WriteRetained(buffer, m);
        }

        foreach (var s in _sessions.Values)
        {
            start = Split(buffer, start);
            buffer.Byte((byte)Effect.Session);
            WriteSession(buffer, s, withAwaiting: true);
        }

        foreach (var record in _records.Values)
        {
            start = Split(buffer, start);
            buffer.Byte((byte)Effect.PutRecord);
            WriteRecord(buffer, record);
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
