using System.Buffers;

namespace Daakia.Server.WebSockets;

/// <summary>
/// Wraps an upgraded connection's stream so that the frames a writer loop sends in one burst leave in one write
/// (one flush, one syscall) instead of one each. Outside a burst, writes (pongs, close frames) pass straight through.
/// </summary>
/// <remarks>
/// Kestrel flushes every write to an upgraded stream, and <see cref="System.Net.WebSockets.WebSocket"/> writes each
/// frame separately; under load a connection often has tens of frames ready at once. One lock orders the buffer and
/// the inner writes, because control frames may be written from the receive side while a burst is being assembled.
/// </remarks>
internal sealed class CoalescingStream(Stream inner) : Stream
{
    private const int FlushThreshold = 64 * 1024;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private byte[]? _buffer;
    private int _count;
    private bool _batching;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Starts buffering writes (called by the writer loop before a burst).</summary>
    public void BeginBatch() => _batching = true;

    /// <summary>Writes what the burst buffered in one go and stops buffering.</summary>
    public async ValueTask EndBatchAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            _batching = false;
            await DrainAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (!_batching)
            {
                await inner.WriteAsync(buffer, cancellationToken);
                return;
            }

            Append(buffer.Span);
            if (_count >= FlushThreshold)
            {
                await DrainAsync(cancellationToken);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override Task FlushAsync(CancellationToken cancellationToken) => _batching ? Task.CompletedTask : inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }

            _gate.Dispose();
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (_buffer is null || _buffer.Length - _count < data.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(2 * (_count + data.Length), 1024));
            _buffer?.AsSpan(0, _count).CopyTo(bigger);
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
            }

            _buffer = bigger;
        }

        data.CopyTo(_buffer.AsSpan(_count));
        _count += data.Length;
    }

    private async ValueTask DrainAsync(CancellationToken cancellationToken)
    {
        if (_count > 0)
        {
            await inner.WriteAsync(_buffer.AsMemory(0, _count), cancellationToken);
            _count = 0;
        }

        if (_buffer is not null && !_batching)
        {
            // Idle connections hold no send buffer.
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }
}
