using System.Net.WebSockets;
using Daakia.Core;

namespace Daakia.Server.WebSockets;

/// <summary>The outbox: what the session queues (replies, letters, publications) and the one writer loop that drains it.</summary>
internal abstract partial class WebSocketSession
{
    /// <summary>
    /// Queues a reply. Replies are never refused: the read loop that makes them stops reading while the outbox holds
    /// as many as its capacity, and replies completed off the read loop are bounded by the outstanding-request limit.
    /// </summary>
    protected void Send(byte[] frame) => TryQueue(OutboundFrame.Bytes(frame), reply: true);

    /// <summary>Bytes queued in the outbox now (replies, letters, publications).</summary>
    protected long QueuedBytes => Interlocked.Read(ref _outboxBytes);

    public bool TryDeliver(Letter letter, int deliveries) => Closing || TryQueue(OutboundFrame.For(letter, deliveries), reply: false);

    public bool TryPublish(Publication publication) => !Closing && TryQueue(OutboundFrame.For(publication), reply: false);

    /// <summary>Queues another event for the connection (a task assignment, a task cancel), as a delivery: refused past the
    /// outbox's limits or while closing. The writer loop encodes it with <see cref="EncodeEvent"/>.</summary>
    protected bool TryQueueEvent(object item, int size) => !Closing && TryQueue(OutboundFrame.Event(item, size), reply: false);

    /// <summary>Encodes an event queued with <see cref="TryQueueEvent"/> (called by the writer loop).</summary>
    protected virtual byte[] EncodeEvent(object item) => throw new InvalidOperationException("Unknown outbound frame.");

    /// <summary>Queues a frame; a delivery only within the outbox's count and byte limits (one always fits an empty outbox).</summary>
    private bool TryQueue(OutboundFrame frame, bool reply)
    {
        if (reply)
        {
            Interlocked.Increment(ref _replies);
            Interlocked.Add(ref _outboxBytes, frame.Size);
        }
        else
        {
            if (Interlocked.Increment(ref _deliveries) > Context.Options.OutboxCapacity)
            {
                Interlocked.Decrement(ref _deliveries);
                return false;
            }

            var bytes = Interlocked.Add(ref _outboxBytes, frame.Size);
            if (bytes > Context.Options.OutboxBytes && bytes != frame.Size)
            {
                Dequeued(frame, reply);
                return false;
            }
        }

        if (!_outbox.TryWrite(frame))
        {
            Dequeued(frame, reply);
            return false;
        }

        return true;
    }

    /// <summary>Takes a frame off the outbox's counts; wakes the read loop once half the reply room is free again.</summary>
    private void Dequeued(OutboundFrame frame, bool reply)
    {
        Interlocked.Add(ref _outboxBytes, -frame.Size);
        if (!reply)
        {
            Interlocked.Decrement(ref _deliveries);
        }
        else if (Interlocked.Decrement(ref _replies) < Context.Options.OutboxCapacity / 2 && Volatile.Read(ref _wantRoom) != 0 && Interlocked.Exchange(ref _wantRoom, 0) != 0)
        {
            Room.Release();
        }
    }

    /// <summary>Waits (not reading) while the outbox holds a full outbox of replies: the client is slowed by TCP.</summary>
    private async ValueTask WaitForReplyRoomAsync(CancellationToken token)
    {
        var capacity = Context.Options.OutboxCapacity;
        // Made before the flag is raised, so that whoever sees the flag releases this one.
        var room = Room;
        while (!Closing && Volatile.Read(ref _replies) >= capacity / 2)
        {
            Volatile.Write(ref _wantRoom, 1);
            // Re-check after raising the flag: the writer may have drained in between and not seen it.
            if (Volatile.Read(ref _replies) < capacity / 2)
            {
                Volatile.Write(ref _wantRoom, 0);
                return;
            }

            await room.WaitAsync(token);
        }
    }

    /// <summary>
    /// Drains the outbox into the socket. It never ends silently: a frame it cannot encode, or any other fault of its
    /// own, is logged at Error, counted, and closes the connection with 1011 and a reason.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        var reader = _outbox;
        try
        {
            while (!_discard && await reader.WaitToReadAsync())
            {
                // Woken for a lone frame, the loop first lets the thread pool's queued work run once (a yield goes to
                // the back of the global queue): a sender's read loop that is handing this connection one delivery
                // after another then adds the rest of its burst, and they leave in one write. Under load this cut
                // the send syscalls from ~1.8 to ~0.06 per message and the server's CPU per message by a quarter
                // (docs/benchmarks.md); when idle it costs one thread-pool hop.
                if (Volatile.Read(ref _replies) + Volatile.Read(ref _deliveries) == 1)
                {
                    await Task.Yield();
                }

                // Everything queued now leaves in one write; a lone frame goes straight through without a copy.
                var batching = Output is not null && Volatile.Read(ref _replies) + Volatile.Read(ref _deliveries) > 1;
                if (batching)
                {
                    Output!.BeginBatch();
                }

                while (!_discard && reader.TryRead(out var frame))
                {
                    var reply = frame.Item is byte[];
                    Dequeued(frame, reply);
                    var bytes = reply ? (byte[])frame.Item : Encode(frame.Item, frame.Deliveries);
                    if (bytes is null || bytes.Length == 0)
                    {
                        continue; // nothing to say on this protocol (texto has no topics), or a fault that closes
                    }

                    await Socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, _aborted.Token);
                }

                if (batching)
                {
                    // Also when discarding: what the burst buffered goes out before the close frame.
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
        catch (Exception ex)
        {
            // Not a peer's doing: the writer itself failed. Nothing more can be written in order, so the connection
            // is cut (its letters stay in the inbox).
            SessionLog.WriterFailed(Context.Logger, ex, Protocol);
            CloseWith(WebSocketCloseStatus.InternalServerError, "server error", SessionEnd.ServerError, discard: true);
            AbortAfter(TimeSpan.Zero);
        }
        finally
        {
            if (Closing && !_aborted.IsCancellationRequested)
            {
                // Our close frame is out; give the peer a moment to answer, then stop reading regardless.
                AbortAfter(TimeSpan.FromSeconds(2));
            }
        }
    }

    /// <summary>
    /// Encodes a letter or publication; null when it cannot be (a payload that is not UTF-8, say, which no text frame
    /// may carry). That is a server fault — the payload should have been refused where it came in — so it is logged at
    /// Error and counted, and the connection closes with 1011 rather than skip the frame and deliver out of order.
    /// </summary>
    private byte[]? Encode(object item, int deliveries)
    {
        try
        {
            return item switch
            {
                Letter l => EncodeLetter(l, deliveries),
                Publication p => EncodePublication(p),
                _ => EncodeEvent(item),
            };
        }
        catch (Exception ex) when (ex is FrameEncodingException or InvalidOperationException or ArgumentException)
        {
            var what = item switch
            {
                Letter letter => $"letter {letter.Id}",
                Publication publication => $"publication on {publication.Topic}",
                _ => item.GetType().Name,
            };
            SessionLog.FrameUnencodable(Context.Logger, ex, Protocol, what);
            Context.Metrics.Unencodable();
            CloseWith(WebSocketCloseStatus.InternalServerError, "server error: a message could not be encoded", SessionEnd.ServerError, discard: true);
            return null;
        }
    }
}
