using System.IO.Pipelines;
using Daakia.Core;
using Daakia.Mqtt;
using Microsoft.AspNetCore.Connections;

namespace Daakia.Server.Mqtt;

/// <summary>The write loop: control packets first, then publications while the in-flight window has room.</summary>
internal sealed partial class MqttSession
{
    /// <summary>Queues an answer from the read loop; the writer wakes when the read's packets are handled.</summary>
    private void Send(Control control)
    {
        lock (_gate)
        {
            (_controls ??= new()).Enqueue(control);
        }

        _wakePending = true;
    }

    private async Task WriteLoopAsync()
    {
        var output = _transport.Output;
        var maxInflight = Math.Min(_options.MaxInflight, _clientReceiveMaximum);
        try
        {
            var more = false;
            var inline = false; // this pass runs on the thread that woke it (a publisher's read loop): one pass only
            while (true)
            {
                if (!more)
                {
                    var wait = _signal.WaitAsync();
                    if (!wait.IsCompleted)
                    {
                        await wait;
                        inline = _signal.TakeInlineWake();
                    }
                    else
                    {
                        await wait; // a wake was kept: completes at once, on the thread this loop is on
                        if (inline)
                        {
                            // More came meanwhile: the rest goes on through the pool, so that a busy outbox never
                            // keeps the publisher's thread (a socket I/O thread) or the other subscribers it holds.
                            inline = false;
                            await Task.Yield();
                        }
                    }
                }
                else if (inline)
                {
                    inline = false;
                    await Task.Yield();
                }

                Volatile.Write(ref _signaled, 0); // before the drain: what is queued after it signals again

                more = false;
                List<Guid>? discarded = null;
                var wrote = false;
                var ending = false;
                var batch = 0;
                long taken = 0; // publications' bytes out of the outbox in this pass
                lock (_gate)
                {
                    // At most FlushBytes leave per flush, so what waits stays in the bounded outbox, not in the pipe.
                    while (batch < FlushBytes && _controls is { } controls && controls.TryDequeue(out var c))
                    {
                        batch += 16;
                        WriteControl(output, c);
                        wrote = true;
                        if (c.Type == MqttPacketType.Disconnect)
                        {
                            ending = true;
                            _publications?.Clear();
                            break;
                        }
                    }

                    while (!ending && batch < FlushBytes && (_publications?.Count ?? 0) > 0 && (_publications!.Peek().Qos == 0 || (_inflight?.Count ?? 0) < maxInflight))
                    {
                        var o = _publications!.Dequeue();
                        batch += o.Size;
                        taken += o.Size;
                        _queuedBytes -= o.Size;
                        if (o.Qos > 0)
                        {
                            // A persistent session's message sent before keeps its packet id (MQTT-4.4.0-1).
                            if (o.PacketId == 0 || _inflight?.ContainsKey(o.PacketId) == true)
                            {
                                o = o with { PacketId = NextPacketId() };
                            }

                            (_inflight ??= [])[o.PacketId] = o;
                            if (o.FromSession)
                            {
                                _state.Sent(o.LetterId, o.PacketId);
                            }
                        }

                        if (!WritePublish(output, o) && o.Qos > 0)
                        {
                            // Over the client's Maximum Packet Size, or expired: discarded (MQTT-3.1.2-24, MQTT-3.3.2-5).
                            _inflight?.Remove(o.PacketId);
                            if (o.FromSession)
                            {
                                // And out of the session's queue now (after the lock: the core is not called under
                                // it): its slot in the window is not to wait for the next read.
                                _state.Done(o.LetterId);
                                (discarded ??= []).Add(o.LetterId);
                            }
                        }

                        wrote = true;
                    }

                    more = !ending && ((_controls?.Count ?? 0) > 0 || ((_publications?.Count ?? 0) > 0 && (_publications!.Peek().Qos == 0 || (_inflight?.Count ?? 0) < maxInflight)));
                    MeasureDrainLocked(taken);
                    ReleasePacedLocked();
                }

                if (discarded is not null && _session is { } session)
                {
                    _ = AckSessionAsync(session, discarded);
                }

                if (wrote)
                {
                    var flushing = output.FlushAsync(); // EndAsync cancels one the client never reads
                    inline &= flushing.IsCompleted; // a flush that waits resumes elsewhere
                    var flush = await flushing;
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        return;
                    }
                }

                if (_readerWaiting)
                {
                    _readerWaiting = false;
                    _drained!.Release();
                }

                if (ending)
                {
                    Stop();
                    return;
                }

                lock (_gate)
                {
                    if (_finishing && (_controls?.Count ?? 0) == 0)
                    {
                        return; // the session ended and what it had queued has left
                    }
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ConnectionAbortedException or ObjectDisposedException or InvalidOperationException)
        {
            // The connection ended.
        }
        finally
        {
            lock (_gate)
            {
                _writerEnded = true;
                ReleasePacedLocked(); // publishers paced on this outbox go on: it will not drain
            }
        }
    }

    private ushort NextPacketId()
    {
        for (var tries = 0; tries < ushort.MaxValue; tries++)
        {
            _nextPacketId = _nextPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_nextPacketId + 1);
            if (_inflight?.ContainsKey(_nextPacketId) != true && !_state.IsReserved(_nextPacketId))
            {
                return _nextPacketId;
            }
        }

        // Every id is held (cannot happen within the in-flight bounds): the connection ends rather than reuse one.
        throw new InvalidOperationException("No MQTT packet id is free.");
    }

    private bool WritePublish(PipeWriter output, in Outgoing o)
    {
        var p = o.Publication;
        var slot = WebSockets.EncodedFrames.Of(p);
        var cache = slot.Mqtt as MqttEncoded ?? (MqttEncoded)(slot.Mqtt = MqttEncoded.For(p));
        var properties = V5 ? cache.Properties : [];
        if (p.ExpiresAt is { } expires)
        {
            // Not sent once expired (MQTT-3.3.2-5); sent with the time that remains (MQTT-3.3.2-6), encoded per delivery.
            var remaining = expires - _engine.Time.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                return false;
            }

            properties = V5 ? MqttEncoded.PropertiesOf(p, (uint)Math.Ceiling(remaining.TotalSeconds)) : properties;
        }

        if (_clientTopicAliasMaximum == 0)
        {
            return MqttEncoder.TryWritePublish(output, _version, cache.Topic, p.Payload.Span, o.Qos, o.Retain, o.Dup, o.PacketId,
                properties, 0, o.Identifiers, _clientMaxPacketSize);
        }

        // Topic aliases (MQTT-3.3.2-10 onwards): a topic the client knows an alias for goes as the alias alone; the first
        // topics, while aliases are left, go with the topic and a new alias (known to the client once that packet is
        // written). The rest go as they are.
        var aliases = _outAliases ??= new(StringComparer.Ordinal);
        if (aliases.TryGetValue(p.Topic, out var alias))
        {
            return MqttEncoder.TryWritePublish(output, _version, [], p.Payload.Span, o.Qos, o.Retain, o.Dup, o.PacketId,
                properties, alias, o.Identifiers, _clientMaxPacketSize);
        }

        if (aliases.Count < _clientTopicAliasMaximum)
        {
            alias = (ushort)(aliases.Count + 1);
            if (!MqttEncoder.TryWritePublish(output, _version, cache.Topic, p.Payload.Span, o.Qos, o.Retain, o.Dup, o.PacketId,
                properties, alias, o.Identifiers, _clientMaxPacketSize))
            {
                return false;
            }

            aliases[p.Topic] = alias;
            return true;
        }

        return MqttEncoder.TryWritePublish(output, _version, cache.Topic, p.Payload.Span, o.Qos, o.Retain, o.Dup, o.PacketId,
            properties, 0, o.Identifiers, _clientMaxPacketSize);
    }

    private void WriteControl(PipeWriter output, in Control c)
    {
        switch (c.Type)
        {
            case MqttPacketType.PingResp:
                MqttEncoder.WritePingResp(output);
                break;
            case MqttPacketType.SubAck:
                MqttEncoder.TryWriteSubAck(output, _version, c.PacketId, c.Codes, null, _clientMaxPacketSize);
                break;
            case MqttPacketType.UnsubAck:
                MqttEncoder.TryWriteUnsubAck(output, _version, c.PacketId, c.Codes, null, _clientMaxPacketSize);
                break;
            case MqttPacketType.Disconnect:
                MqttEncoder.TryWriteReason(output, _version, MqttPacketType.Disconnect, c.Reason, null, _clientMaxPacketSize);
                break;
            default:
                MqttEncoder.TryWriteAck(output, _version, c.Type, c.PacketId, V5 ? c.Reason : 0, null, _clientMaxPacketSize);
                break;
        }
    }


    /// <summary>A control packet to send: an acknowledgement, SUBACK/UNSUBACK with their codes, PINGRESP, DISCONNECT.</summary>
    private readonly record struct Control(MqttPacketType Type, ushort PacketId, MqttReasonCode Reason, byte[]? Codes = null);

    /// <summary>A publication on its way to this client, and once sent at QoS 1/2, in flight under its packet id.</summary>
    private readonly record struct Outgoing(Publication Publication, byte Qos, int[] Identifiers, int Size, bool Retain = false)
    {
        /// <summary>The letter this PUBLISH carries (on <c>$inbox/…</c>), acknowledged by its PUBACK; empty for a publication.</summary>
        public Guid LetterId { get; init; }

        /// <summary>A message of the persistent session's queue (<see cref="LetterId"/> is its id there), not a letter.</summary>
        public bool FromSession { get; init; }

        /// <summary>A letter handed out before (MQTT's DUP flag).</summary>
        public bool Dup { get; init; }

        public ushort PacketId { get; init; }

        /// <summary>QoS 2: PUBREC came and PUBREL went; waiting for PUBCOMP.</summary>
        public bool Released { get; init; }
    }
}
