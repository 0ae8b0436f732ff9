using System.Buffers;
using System.Net.WebSockets;
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

    // How long a close waits for the peer: to answer our close frame, or, for a connection closed because it does not
    // read, to take the frame being written and then the close frame. Past it the TCP connection is dropped.
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    // Unbounded as a queue; bounded by the counts below. Letters and publications (deliveries) are refused past the
    // outbox's count and byte limits; replies are always queued, and the read loop stops reading while as many replies
    // as the outbox holds are waiting, so a client that pipelines requests is slowed by TCP, not cut off.
    private readonly FrameQueue _outbox = new();
    private readonly CancellationTokenSource _aborted = new();
    // Made when first waited on or released: most connections never fill their reply room.
    private SemaphoreSlim? _room;
    private CancellationTokenSource? _helloTimer;
    private readonly TokenBucket _budget;
    private int _closeRequested;
    private int _deliveries;
    private int _replies;
    private int _wantRoom;
    private long _outboxBytes;
    private volatile bool _discard;
    private bool _peerClosed;
    private SessionEnd? _end;
    private WebSocketCloseStatus _closeStatus = WebSocketCloseStatus.NormalClosure;
    private string _closeDescription = "bye";

    protected WebSocketSession(WebSocket socket, SessionContext context)
    {
        Socket = socket;
        Context = context;
        _budget = new TokenBucket(context.Options.MaxRequestsPerSecond, context.Options.RequestBurst, context.Time);
    }

    /// <summary>The protocol's name in logs and metrics: <c>ws</c> or <c>texto</c>.</summary>
    protected abstract string Protocol { get; }

    private bool IsTexto => Protocol == "texto";

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

    private SemaphoreSlim Room => LazyInitializer.EnsureInitialized(ref _room, static () => new SemaphoreSlim(0));

    /// <summary>The coalescing stream under the socket, when the session owns the handshake.</summary>
    internal CoalescingStream? Output { get; set; }

    protected bool Closing => Volatile.Read(ref _closeRequested) != 0;

    /// <summary>Runs the session until either side closes.</summary>
    public async Task RunAsync()
    {
        // Started inline: it parks at once on the empty outbox (its wake-ups run on the thread pool).
        var writer = WriteLoopAsync();
        _ = CloseIfUnidentifiedAsync();
        SessionEnd? ended = null;
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
            // The peer broke the protocol (a text frame that is not UTF-8 is failed with 1007 by the WebSocket layer,
            // RFC 6455 §8.1) or dropped the connection: its doing, logged at Debug.
            SessionLog.TransportError(Context.Logger, ex.WebSocketErrorCode, ex.Message);
            ended = ex.WebSocketErrorCode is WebSocketError.ConnectionClosedPrematurely ? SessionEnd.Aborted : SessionEnd.ProtocolError;
        }
        catch (Exception ex)
        {
            SessionLog.SessionFailed(Context.Logger, ex);
            ended = SessionEnd.ServerError;
            CloseWith(WebSocketCloseStatus.InternalServerError, "server error", SessionEnd.ServerError);
        }
        finally
        {
            if (Connection is { } c)
            {
                Engine.Disconnect(c);
            }

            _outbox.Complete();
            await writer;
            // Ends the hello timer (and anything else waiting on this session) now rather than at its deadline.
            await _aborted.CancelAsync();
            var end = _end ?? ended ?? (_peerClosed ? SessionEnd.Normal : SessionEnd.Aborted);
            Context.Metrics.Closed(IsTexto, end);
            SessionLog.SessionClosed(Context.Logger, Protocol, end);
        }
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _helloTimer, null)?.Dispose();
        _aborted.Dispose();
        _room?.Dispose();
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
            CloseWith(WebSocketCloseStatus.PolicyViolation, "no hello in time", SessionEnd.HelloTimeout);
        }
    }

    /// <summary>Called once the socket is open, before the first read (texto sends its greeting here).</summary>
    protected virtual Task OnOpenAsync() => Task.CompletedTask;

    /// <summary>
    /// Handles one complete, non-empty text message that passed the edge check (<see cref="FrameText"/>: UTF-8, no
    /// lone surrogate escapes). Must not throw for bad input: reply with an error instead.
    /// </summary>
    protected abstract ValueTask HandleTextAsync(ReadOnlyMemory<byte> message);

    /// <summary>
    /// Replies to a frame refused before parsing: binary, empty, not UTF-8 or holding a lone surrogate escape
    /// (<see cref="ErrorCodes.InvalidFrame"/>, <see cref="ErrorCodes.InvalidJson"/>), or beyond the request budget
    /// (<paramref name="message"/> is then the frame, to find its id).
    /// </summary>
    protected abstract void RejectFrame(string code, string description, ReadOnlyMemory<byte> message);

    /// <summary>Encodes a letter for this protocol (called by the writer loop).</summary>
    /// <summary>A letter's frame for one hand-out (<paramref name="deliveries"/>: 1 the first time).</summary>
    protected abstract byte[] EncodeLetter(Letter letter, int deliveries);

    /// <summary>Encodes a publication for this protocol (called by the writer loop).</summary>
    protected abstract byte[] EncodePublication(Publication publication);

    public void Close(CloseReason reason)
    {
        var (status, description, end) = reason switch
        {
            CloseReason.ServerShutdown => (WebSocketCloseStatus.EndpointUnavailable, "server shutting down", SessionEnd.ServerShutdown),
            CloseReason.HeartbeatTimeout => ((WebSocketCloseStatus)4000, "heartbeat missed", SessionEnd.HeartbeatTimeout),
            CloseReason.SlowConsumer => (WebSocketCloseStatus.PolicyViolation, "slow consumer", SessionEnd.SlowConsumer),
            _ => (WebSocketCloseStatus.NormalClosure, "bye", SessionEnd.Normal),
        };
        CloseWith(status, description, end, discard: reason == CloseReason.SlowConsumer);
    }

    /// <summary>
    /// Closes with a close frame after the queued frames are written. With <paramref name="discard"/> (the peer is not
    /// reading, or the session cannot go on) the queued frames are dropped instead — letters stay in the inbox — and
    /// the close frame follows the frame being written; a peer that does not take it within the close timeout is cut.
    /// </summary>
    protected void CloseWith(WebSocketCloseStatus status, string description, SessionEnd end, bool discard = false)
    {
        if (Interlocked.Exchange(ref _closeRequested, 1) != 0)
        {
            return;
        }

        _closeStatus = status;
        _closeDescription = description;
        _end = end;
        if (end != SessionEnd.Normal)
        {
            SessionLog.Closing(Context.Logger, Protocol, (int)status, description);
        }

        if (discard)
        {
            _discard = true;
            AbortAfter(CloseTimeout);
        }

        _outbox.Complete();
        // A read loop waiting for reply room stops waiting.
        try
        {
            Room.Release();
        }
        catch (ObjectDisposedException)
        {
            // The session already ended (a server shutdown closing every connection can race its end): nobody waits.
        }
    }

    private void AbortAfter(TimeSpan delay)
    {
        try
        {
            _aborted.CancelAfter(delay);
        }
        catch (ObjectDisposedException)
        {
            // The session already ended; there is nothing left to abort.
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var max = Context.Options.MaxFrameBytes;
        var token = _aborted.Token;
        while (!Closing)
        {
            if (Volatile.Read(ref _replies) >= Context.Options.OutboxCapacity)
            {
                await WaitForReplyRoomAsync(token);
                continue;
            }

            // Wait for data without holding a buffer: idle connections cost no receive buffer.
            var peek = await Socket.ReceiveAsync(Memory<byte>.Empty, token);
            if (peek.MessageType == WebSocketMessageType.Close)
            {
                _peerClosed = true;
                return;
            }

            if (peek.EndOfMessage)
            {
                // A whole message of no bytes (RFC 6455 allows it): nothing to read on, but it still gets a reply.
                Connection?.Touch(Context.Time);
                RejectFrame(peek.MessageType == WebSocketMessageType.Text ? ErrorCodes.InvalidJson : ErrorCodes.InvalidFrame,
                    peek.MessageType == WebSocketMessageType.Text ? "An empty frame is not a request: send one JSON object per text frame." : "Only text frames carrying JSON are accepted.", default);
                continue;
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
                        _peerClosed = true;
                        return;
                    }

                    count += result.Count;
                }
                while (!result.EndOfMessage && count <= max);

                if (count > max)
                {
                    RejectFrame(ErrorCodes.FrameTooLarge, $"A message may be at most {max} bytes.", default);
                    CloseWith(WebSocketCloseStatus.MessageTooBig, "frame too large", SessionEnd.FrameTooLarge);
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
                else if (count == 0)
                {
                    RejectFrame(ErrorCodes.InvalidJson, "An empty frame is not a request: send one JSON object per text frame.", default);
                }
                else if (FrameText.Check(buffer.AsSpan(0, count)) is not FrameTextFault.None and var fault)
                {
                    RejectFrame(ErrorCodes.InvalidJson, fault == FrameTextFault.InvalidUtf8
                        ? "The frame is not UTF-8."
                        : "The frame escapes a lone surrogate (such as \\ud800): JSON strings must be Unicode text.", default);
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
}
