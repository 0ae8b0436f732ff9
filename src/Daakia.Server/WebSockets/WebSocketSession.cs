using System.Buffers;
using System.Net.WebSockets;
using System.Threading.Channels;
using Daakia.Core;

namespace Daakia.Server.WebSockets;

/// <summary>
/// The transport half shared by the JSON API and texto: a read loop that reassembles messages under a size limit
/// and a request budget, and a bounded outbox drained by one writer loop. It is the connection's
/// <see cref="IDeliveryTarget"/>; subclasses parse requests and encode frames.
/// </summary>
internal abstract partial class WebSocketSession : IDeliveryTarget, IDisposable
{
    // Most requests are small; larger ones grow the buffer. Small rentals keep connection storms from churning
    // the shared pool into garbage.
    private const int InitialReceiveBuffer = 1024;

    private readonly Channel<OutboundFrame> _outbox;
    private readonly CancellationTokenSource _aborted = new();
    private CancellationTokenSource? _helloTimer;
    private readonly TokenBucket _budget;
    private int _closeRequested;
    private long _outboxBytes;
    private WebSocketCloseStatus _closeStatus = WebSocketCloseStatus.NormalClosure;
    private string _closeDescription = "bye";

    protected WebSocketSession(WebSocket socket, SessionContext context)
    {
        Socket = socket;
        Context = context;
        _outbox = Channel.CreateBounded<OutboundFrame>(new BoundedChannelOptions(context.Options.OutboxCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _budget = new TokenBucket(context.Options.MaxRequestsPerSecond, context.Options.RequestBurst, context.Time);
    }

    protected WebSocket Socket { get; }

    protected SessionContext Context { get; }

    protected DaakiaEngine Engine => Context.Engine;

    /// <summary>The core's handle once the client is identified (setting it stops the hello timer).</summary>
    protected ClientConnection? Connection
    {
        get;
        set
        {
            field = value;
            if (value is not null && Interlocked.Exchange(ref _helloTimer, null) is { } timer)
            {
                timer.Cancel();
                timer.Dispose();
            }
        }
    }

    protected CancellationToken Aborted => _aborted.Token;

    /// <summary>The coalescing stream under the socket, when the session owns the handshake.</summary>
    internal CoalescingStream? Output { get; set; }

    protected bool Closing => Volatile.Read(ref _closeRequested) != 0;

    /// <summary>Runs the session until either side closes.</summary>
    public async Task RunAsync()
    {
        var writer = Task.Run(WriteLoopAsync);
        _ = CloseIfUnidentifiedAsync();
        try
        {
            await OnOpenAsync();
            await ReceiveLoopAsync();
        }
        catch (OperationCanceledException)
        {
        }
        catch (WebSocketException ex)
        {
            SessionLog.TransportError(Context.Logger, ex.WebSocketErrorCode, ex.Message);
        }
        catch (Exception ex)
        {
            SessionLog.SessionFailed(Context.Logger, ex);
        }
        finally
        {
            if (Connection is { } c)
            {
                Engine.Disconnect(c);
            }

            _outbox.Writer.TryComplete();
            await writer;
            // Ends the hello timer (and anything else waiting on this session) now rather than at its deadline.
            await _aborted.CancelAsync();
        }
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _helloTimer, null)?.Dispose();
        _aborted.Dispose();
    }

    /// <summary>A connection that has not identified itself in time is closed (1008): idle anonymous sockets cost memory.</summary>
    private async Task CloseIfUnidentifiedAsync()
    {
        // A timer only until hello: identified connections carry none (heartbeats are one scan for all).
        var timer = CancellationTokenSource.CreateLinkedTokenSource(_aborted.Token);
        _helloTimer = timer;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(Context.Options.HelloTimeoutSeconds), Context.Time, timer.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        if (Connection is null && !Closing)
        {
            CloseWith(WebSocketCloseStatus.PolicyViolation, "no hello in time");
        }
    }

    /// <summary>Called once the socket is open, before the first read (texto sends its greeting here).</summary>
    protected virtual Task OnOpenAsync() => Task.CompletedTask;

    /// <summary>Handles one complete text message. Must not throw for bad input: reply with an error instead.</summary>
    protected abstract ValueTask HandleTextAsync(ReadOnlyMemory<byte> message);

    /// <summary>Replies to a frame that is not text, or that ran out of request budget.</summary>
    protected abstract void RejectFrame(string code, string description, ReadOnlyMemory<byte> message);

    /// <summary>Encodes a letter for this protocol (called by the writer loop).</summary>
    protected abstract byte[] EncodeLetter(Letter letter);

    /// <summary>Encodes a publication for this protocol (called by the writer loop).</summary>
    protected abstract byte[] EncodePublication(Publication publication);

    /// <summary>Queues an encoded frame. A connection whose outbox is full is not reading: it is closed.</summary>
    protected void Send(byte[] frame)
    {
        if (!TryQueue(OutboundFrame.Bytes(frame)) && !Closing)
        {
            Close(CloseReason.SlowConsumer);
        }
    }

    public bool TryDeliver(Letter letter) => Closing || TryQueue(OutboundFrame.For(letter));

    public bool TryPublish(Publication publication) => !Closing && TryQueue(OutboundFrame.For(publication));

    /// <summary>Queues a frame within the outbox's count and byte limits (one frame always fits an empty outbox).</summary>
    private bool TryQueue(OutboundFrame frame)
    {
        var bytes = Interlocked.Add(ref _outboxBytes, frame.Size);
        if (bytes > Context.Options.OutboxBytes && bytes != frame.Size)
        {
            Interlocked.Add(ref _outboxBytes, -frame.Size);
            return false;
        }

        if (!_outbox.Writer.TryWrite(frame))
        {
            Interlocked.Add(ref _outboxBytes, -frame.Size);
            return false;
        }

        return true;
    }

    public void Close(CloseReason reason)
    {
        var (status, description) = reason switch
        {
            CloseReason.ServerShutdown => (WebSocketCloseStatus.EndpointUnavailable, "server shutting down"),
            CloseReason.HeartbeatTimeout => ((WebSocketCloseStatus)4000, "heartbeat missed"),
            CloseReason.SlowConsumer => (WebSocketCloseStatus.PolicyViolation, "slow consumer"),
            _ => (WebSocketCloseStatus.NormalClosure, "bye"),
        };
        CloseWith(status, description, abort: reason == CloseReason.SlowConsumer);
    }

    /// <summary>Closes after the queued frames are written (or at once when <paramref name="abort"/>: the peer is not reading).</summary>
    protected void CloseWith(WebSocketCloseStatus status, string description, bool abort = false)
    {
        if (Interlocked.Exchange(ref _closeRequested, 1) != 0)
        {
            return;
        }

        _closeStatus = status;
        _closeDescription = description;
        _outbox.Writer.TryComplete();
        if (abort)
        {
            try
            {
                _aborted.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The session already ended; there is nothing left to abort.
            }
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var max = Context.Options.MaxFrameBytes;
        var token = _aborted.Token;
        while (!Closing)
        {
            // Wait for data without holding a buffer: idle connections cost no receive buffer.
            var peek = await Socket.ReceiveAsync(Memory<byte>.Empty, token);
            if (peek.MessageType == WebSocketMessageType.Close)
            {
                return;
            }

            var buffer = ArrayPool<byte>.Shared.Rent(InitialReceiveBuffer);
            var count = 0;
            try
            {
                ValueWebSocketReceiveResult result = default;
                do
                {
                    if (count == buffer.Length)
                    {
                        if (count > max)
                        {
                            break;
                        }

                        var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, max + 1));
                        buffer.AsSpan(0, count).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }

                    result = await Socket.ReceiveAsync(buffer.AsMemory(count), token);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        return;
                    }

                    count += result.Count;
                }
                while (!result.EndOfMessage && count <= max);

                if (count > max)
                {
                    RejectFrame(ErrorCodes.FrameTooLarge, $"A message may be at most {max} bytes.", default);
                    CloseWith(WebSocketCloseStatus.MessageTooBig, "frame too large");
                    return;
                }

                Connection?.Touch(Context.Time);
                if (result.MessageType != WebSocketMessageType.Text)
                {
                    RejectFrame(ErrorCodes.InvalidFrame, "Only text frames carrying JSON are accepted.", default);
                }
                else if (!_budget.TryTake())
                {
                    RejectFrame(ErrorCodes.RateLimited, $"More than {Context.Options.MaxRequestsPerSecond} requests per second; the request was not executed.", buffer.AsMemory(0, count));
                }
                else
                {
                    await HandleTextAsync(buffer.AsMemory(0, count));
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            if (Engine.IsWriteBudgetSpent)
            {
                // The server holds as many uncommitted writes as it may: stop reading (holding no buffer) until the store
                // catches up, so the client is slowed by TCP instead of refused. Not reading is the server's doing, so
                // the connection does not count as silent meanwhile.
                Connection?.PauseHeartbeat(true);
                try
                {
                    await Engine.WaitForWriteRoomAsync(token);
                }
                finally
                {
                    Connection?.PauseHeartbeat(false);
                    Connection?.Touch(Context.Time);
                }
            }
        }
    }

    private async Task WriteLoopAsync()
    {
        var reader = _outbox.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_aborted.Token))
            {
                // Everything queued now leaves in one write; a lone frame goes straight through without a copy.
                var batching = Output is not null && reader.Count > 1;
                if (batching)
                {
                    Output!.BeginBatch();
                }

                while (reader.TryRead(out var frame))
                {
                    Interlocked.Add(ref _outboxBytes, -frame.Size);
                    var bytes = frame.Item switch
                    {
                        byte[] b => b,
                        Letter l => EncodeLetter(l),
                        Publication p => EncodePublication(p),
                        _ => throw new InvalidOperationException("Unknown outbound frame."),
                    };
                    if (bytes.Length == 0)
                    {
                        continue; // nothing to say on this protocol (texto has no topics)
                    }

                    await Socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, _aborted.Token);
                }

                if (batching)
                {
                    await Output!.EndBatchAsync(_aborted.Token);
                }
            }

            if (Socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                var status = Closing ? _closeStatus : WebSocketCloseStatus.NormalClosure;
                await Socket.CloseOutputAsync(status, Closing ? _closeDescription : "bye", _aborted.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (WebSocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            if (Closing && !_aborted.IsCancellationRequested)
            {
                // Our close frame is out; give the peer a moment to answer, then stop reading regardless.
                _aborted.CancelAfter(TimeSpan.FromSeconds(2));
            }
        }
    }
}
