using System.Buffers;
using System.IO.Pipelines;

namespace Daakia.Server.WebSockets;

/// <summary>
/// A connection's transport pipes as the stream under a WebSocket that was upgraded below ASP.NET Core
/// (<see cref="DirectUpgrade"/>). Reads take what has arrived (a read waits for data without holding a buffer of its
/// own); writes go into the transport's output pipe and wait while it is full. Disposing it ends a read or write in
/// progress and every later one (a read then sees the end of the stream), as aborting a WebSocket expects.
/// </summary>
internal sealed class TransportStream(IDuplexPipe transport) : Stream
{
    private volatile bool _disposed;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var input = transport.Input;
        while (!_disposed)
        {
            var result = await input.ReadAsync(cancellationToken);
            var data = result.Buffer;
            if (result.IsCanceled || (data.IsEmpty && !result.IsCompleted))
            {
                input.AdvanceTo(data.Start);
                continue;
            }

            if (data.IsEmpty || buffer.IsEmpty)
            {
                // The end of the stream, or a zero-byte read (data is waiting now; nothing is taken).
                input.AdvanceTo(data.Start);
                return 0;
            }

            var n = (int)Math.Min(data.Length, buffer.Length);
            data.Slice(0, n).CopyTo(buffer.Span);
            input.AdvanceTo(data.GetPosition(n));
            return n;
        }

        return 0;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Check(await transport.Output.WriteAsync(buffer, cancellationToken));
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Check(await transport.Output.FlushAsync(cancellationToken));
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            transport.Input.CancelPendingRead();
            transport.Output.CancelPendingFlush();
        }

        base.Dispose(disposing);
    }

    private void Check(FlushResult result)
    {
        ObjectDisposedException.ThrowIf(result.IsCanceled || _disposed, this);

        if (result.IsCompleted)
        {
            throw new IOException("The connection was closed.");
        }
    }
}
