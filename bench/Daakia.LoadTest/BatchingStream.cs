namespace Daakia.LoadTest;

/// <summary>
/// A client-side stream that reads through a buffer and holds written bytes until the owner calls <see cref="SendBufferedAsync"/>: the load
/// generator queues a burst of frames (pipelined sends, or the acks of letters read in one go) and sends them with one
/// write, as a production client library would. Only one loop writes to a socket, so no locking is needed.
/// </summary>
internal sealed class BatchingStream(Stream inner) : Stream
{
    private readonly MemoryStream _pending = new();
    private readonly byte[] _read = new byte[64 * 1024];
    private int _readStart;
    private int _readEnd;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public async ValueTask SendBufferedAsync()
    {
        if (_pending.Length > 0)
        {
            await inner.WriteAsync(_pending.GetBuffer().AsMemory(0, (int)_pending.Length));
            _pending.SetLength(0);
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _pending.Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        _pending.Write(buffer, offset, count);
        return Task.CompletedTask;
    }

    public override void Write(byte[] buffer, int offset, int count) => _pending.Write(buffer, offset, count);

    /// <summary>Reads through a 64 KiB buffer: one receive call serves every frame that arrived together.</summary>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_readStart == _readEnd)
        {
            _readStart = 0;
            _readEnd = await inner.ReadAsync(_read, cancellationToken);
            if (_readEnd == 0)
            {
                return 0;
            }
        }

        var n = Math.Min(buffer.Length, _readEnd - _readStart);
        _read.AsMemory(_readStart, n).CopyTo(buffer);
        _readStart += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => SendBufferedAsync().AsTask();

    public override void Flush() => SendBufferedAsync().AsTask().GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _pending.Dispose();
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
