using System.Buffers;
using System.IO.Pipelines;
using Daakia.Core;
using Daakia.Mqtt;

namespace Daakia.Server.Mqtt;

/// <summary>The read loop: packets decoded and handled in order, with the outbox's backpressure.</summary>
internal sealed partial class MqttSession
{
    private async Task ReadLoopAsync(CancellationToken cancellationToken)
    {
        var input = _transport.Input;
        while (true)
        {
            // Not with a token: packets that came before the client's FIN are still read and answered (the transport
            // completes the pipe after them, which ends the loop); only the session's own Stop cuts in.
            var read = await input.ReadAsync(CancellationToken.None);
            if (read.IsCanceled)
            {
                input.AdvanceTo(read.Buffer.Start);
                return;
            }

            var buffer = read.Buffer;
            try
            {
                if (!await HandleFramesAsync(input, buffer, cancellationToken))
                {
                    WakeWriter(); // the wakes and inbox acks this read brought go now, not after the previous read's commit
                    AckLetters();
                    await _draining; // the previous read's answers go before the connection ends (bounded: see DrainAsync)
                    if (_violation is { } code)
                    {
                        QueueDisconnect(code);
                    }

                    return;
                }
            }
            finally
            {
                WakeWriter(); // once per read, not per packet: the answers to a whole read leave in one write
                AckLetters();
            }

            if (read.IsCompleted)
            {
                // The client sent its last packet (FIN): what the last read's answers wait for still goes out first.
                await _draining;
                return;
            }
        }
    }

    /// <summary>Handles every whole packet of one read and advances past them; false ends the connection.</summary>
    private async ValueTask<bool> HandleFramesAsync(PipeReader input, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        var paceFrom = -1L; // what was left of this read when a publication in it filled an outbox past its mark
        var paceAhead = 0; // packets handled since
        while (true)
        {
            if (DrainFailed)
            {
                input.AdvanceTo(buffer.End);
                return false; // the previous read's answers could not be given (a store write failed): nothing more is handled
            }

            await WaitForOutboxRoomAsync(cancellationToken);
            var status = _frames.TryRead(buffer, out var frame, out var consumed, out var error);
            if (status == MqttFrameStatus.Incomplete)
            {
                break;
            }

            if (status == MqttFrameStatus.Error)
            {
                Violation(error);
                input.AdvanceTo(buffer.End);
                return false;
            }

            _connection!.Touch(_engine.Time);
            var ok = Handle(frame);
            buffer = buffer.Slice(consumed);
            if (paceFrom >= 0)
            {
                paceAhead++;
            }
            else if (_paceFull is { Count: > 0 })
            {
                paceFrom = buffer.Length;
            }

            if (ok && ((_pending?.Count ?? 0) >= MaxPendingAcks ||
                (paceFrom >= 0 && (paceFrom - buffer.Length >= PaceReadAheadBytes || paceAhead >= PaceReadAheadPackets))))
            {
                // Too many answers held back, or a paced read that goes on past its read-ahead: the rest waits.
                paceFrom = -1;
                paceAhead = 0;
                HoldForPace();
                WakeWriter(); // this read's answers and held wakes leave while the previous read's wait
                ok = await _draining && await FlushPendingAsync();
            }

            if (!ok)
            {
                input.AdvanceTo(buffer.End);
                return false;
            }
        }

        // Answers that wait for the store (a publish some persistent session or a retained message keeps, a persistent
        // session's SUBSCRIBE, a task request) go once their writes are durable: all of one read's in one group commit,
        // in order. The next read is handled meanwhile — its writes join the next group commit instead of waiting for
        // this one — but never more than one read ahead: the one before must have been answered first.
        // Paced: this read's answers go, then nothing more is read until the outboxes it filled are down to half their
        // marks (Pacing.cs).
        if (HoldForPace())
        {
            WakeWriter();
            if (!(await _draining && await FlushPendingAsync()))
            {
                input.AdvanceTo(buffer.End);
                return false;
            }
        }

        if (_pending is { Count: > 0 })
        {
            WakeWriter(); // this read's answers and held wakes leave while the previous read's wait
            var ok = await _draining;
            if (ok && _pending.TrueForAll(static p => p.Stored.IsCompleted))
            {
                ok = await FlushPendingAsync();
            }
            else if (ok)
            {
                var batch = _pending;
                _pending = null;
                WakeWriter(); // what this read answered already leaves now
                _draining = DrainAsync(batch);
            }

            if (!ok)
            {
                input.AdvanceTo(buffer.End);
                return false;
            }
        }

        input.AdvanceTo(buffer.Start, buffer.End);
        return true;
    }

    /// <summary>
    /// Wakes the write loop: at most one wake is pending (the writer clears the flag before it drains), so the
    /// semaphore's count stays at one however many packets were queued meanwhile.
    /// </summary>
    private void Signal()
    {
        if (Interlocked.Exchange(ref _signaled, 1) == 0 && !MqttPacing.Defer(this))
        {
            _signal.Set();
        }
    }

    /// <summary>
    /// Wakes the write loop for what the read loop queued since the last wake: on this thread (the read loop holds no
    /// lock here), so that the answers leave without a thread-pool hop.
    /// </summary>
    private void WakeWriter()
    {
        if (_heldWakes is { Count: > 0 } held)
        {
            // The subscribers' write loops this client's routes woke (MqttPacing.Defer), run here in turn: the
            // deliveries first, then this client's acknowledgements.
            for (var i = 0; i < held.Count; i++)
            {
                held[i]._signal.Set(inline: true);
            }

            held.Clear();
        }

        if (_windowFreed && !_wakePending)
        {
            _windowFreed = false;
            Signal();
        }

        if (_wakePending)
        {
            _wakePending = false;
            _windowFreed = false;
            if (Interlocked.Exchange(ref _signaled, 1) == 0)
            {
                // After a fan-out, through the pool as well: the acknowledgements mostly leave behind the deliveries
                // queued there (not an ordering MQTT asks for: it keeps a publisher's window from outrunning its
                // subscribers').
                _signal.Set(inline: !_wakesPooled);
            }
        }

        _wakesPooled = false;
        _heldRoutes = 0;
    }

    /// <summary>Most subscribers' write loops one read wakes on its own thread (<see cref="WakeWriter"/>).</summary>
    private const int InlineWakes = 4;

    /// <summary>Most publications one read routes while it holds its subscribers' wakes.</summary>
    private const int InlineBurst = 64;

    /// <summary>Keeps a subscriber's wake for <see cref="WakeWriter"/> (only this client's read loop calls both).</summary>
    internal bool HoldWake(MqttSession subscriber)
    {
        if (_wakesPooled)
        {
            return false;
        }

        var held = _heldWakes ??= [];
        if (held.Count < InlineWakes)
        {
            held.Add(subscriber);
            return true;
        }

        // A fan-out: its write loops go through the thread pool at once, so that it is written on every core while
        // this read goes on, not one after another on this thread at its end; so do the rest of this read's.
        PoolHeldWakes();
        return false;
    }

    /// <summary>
    /// After a route: once a read has routed <see cref="InlineBurst"/> publications with wakes held, they go through the
    /// pool, so that a long read (or a publisher subscribed to its own topic) does not fill an outbox nobody drains.
    /// </summary>
    private void RoutedWithHeldWakes()
    {
        if (_heldWakes is { Count: > 0 } && ++_heldRoutes >= InlineBurst)
        {
            PoolHeldWakes();
        }
    }

    /// <summary>Gives the held wakes through the thread pool, and the rest of this read's as they come.</summary>
    private void PoolHeldWakes()
    {
        _wakesPooled = true;
        if (_heldWakes is { } held)
        {
            for (var i = 0; i < held.Count; i++)
            {
                held[i]._signal.Set();
            }

            held.Clear();
        }
    }

    /// <summary>
    /// Backpressure: every packet a client sends may queue an answer (PUBACK, PINGRESP, SUBACK…), so while half the
    /// outbox is answers the client has not read, its next packet is not read either — TCP slows it down, and the
    /// answers stay bounded. The heartbeat scan skips the connection meanwhile.
    /// </summary>
    private async ValueTask WaitForOutboxRoomAsync(CancellationToken cancellationToken)
    {
        var paused = false;
        lock (_gate)
        {
            if ((_controls?.Count ?? 0) < _options.OutboxCapacity / 2)
            {
                return; // room: the usual case, and nothing made for it
            }
        }

        var drained = _drained ??= new SemaphoreSlim(0); // made by the read loop before it first says it waits
        while (true)
        {
            _readerWaiting = true; // before the check, so a drain between the check and the wait still wakes us
            bool full;
            lock (_gate)
            {
                full = (_controls?.Count ?? 0) >= _options.OutboxCapacity / 2;
            }

            if (!full)
            {
                _readerWaiting = false;
                break;
            }

            if (!paused)
            {
                paused = true;
                _connection!.PauseHeartbeat(true);
            }

            WakeWriter(); // what is queued must leave for room to come
            await drained.WaitAsync(cancellationToken);
        }

        if (paused)
        {
            _connection!.PauseHeartbeat(false);
        }
    }

    /// <summary>Handles one packet; false ends the connection.</summary>
    private bool Handle(in MqttFrame frame)
    {
        MqttError error;
        switch (frame.Type)
        {
            case MqttPacketType.Publish:
                if (!MqttDecoder.TryDecodePublish(frame, _version, out var publish, out error))
                {
                    return Violation(error);
                }

                return OnPublish(publish);
            case MqttPacketType.PubAck or MqttPacketType.PubRec or MqttPacketType.PubRel or MqttPacketType.PubComp:
                if (!MqttDecoder.TryDecodeAck(frame, _version, out var ack, out error))
                {
                    return Violation(error);
                }

                OnAck(ack);
                return true;
            case MqttPacketType.Subscribe:
                if (!MqttDecoder.TryDecodeSubscribe(frame, _version, out var subscribe, out error))
                {
                    return Violation(error);
                }

                OnSubscribe(subscribe);
                return true;
            case MqttPacketType.Unsubscribe:
                if (!MqttDecoder.TryDecodeUnsubscribe(frame, _version, out var unsubscribe, out error))
                {
                    return Violation(error);
                }

                UnsubscribeTasks(unsubscribe.Filters); // the connection's task topics are not in the trie
                var codes = new byte[unsubscribe.Filters.Count];
                if (_session is { } persistent)
                {
                    // A persistent session's subscriptions are in its record: UNSUBACK once the record says so.
                    _engine.Sessions.Unsubscribe(persistent, _connection!, unsubscribe.Filters, out var removed);
                    AckAfter(removed, new Control(MqttPacketType.UnsubAck, unsubscribe.PacketId, 0, codes),
                        new Control(MqttPacketType.UnsubAck, unsubscribe.PacketId, 0, V5 ? Fill(codes.Length, (byte)MqttReasonCode.UnspecifiedError) : codes));
                }
                else
                {
                    _engine.Topics.Unsubscribe(_connection!, unsubscribe.Filters);
                    Send(new Control(MqttPacketType.UnsubAck, unsubscribe.PacketId, 0, codes));
                }

                return true;
            case MqttPacketType.PingReq:
                if (!MqttDecoder.TryDecodeEmpty(frame, out error))
                {
                    return Violation(error);
                }

                Send(new Control(MqttPacketType.PingResp, 0, 0));
                return true;
            case MqttPacketType.Disconnect:
                if (!MqttDecoder.TryDecodeReason(frame, _version, out var disconnect, out error))
                {
                    return Violation(error);
                }

                // A normal DISCONNECT discards the will (MQTT-3.14.4-3); 5.0's 0x04 asks for it to be sent.
                _disconnectedNormally = disconnect.Reason != MqttReasonCode.DisconnectWithWill;
                return false;
            case MqttPacketType.Connect:
                return Violation(MqttError.Protocol("A second CONNECT [MQTT-3.1.0-2]."));
            case MqttPacketType.Auth when V5 && _authentication is not null:
                // Re-authentication (MQTT 4.12.1) is not offered: the connection ends with a reason.
                return Violation(new MqttError(MqttReasonCode.ImplementationSpecificError, "Re-authentication is not offered; connect again."));
            case MqttPacketType.Auth when V5:
                return Violation(MqttError.Protocol("AUTH without enhanced authentication [MQTT-4.12.0-1]."));
            default:
                return Violation(MqttError.Protocol($"A {frame.Type} packet is not one a client sends."));
        }
    }

    private void OnAck(in AckPacket ack)
    {
        switch (ack.Type)
        {
            case MqttPacketType.PubRel:
                // Released: the id may be used again (MQTT-4.3.3-13). Unknown in 5.0 is 0x92. After the PUBREC it
                // answers, which may be held back for the store.
                var known = _state.Release(ack.PacketId);
                AckAfter(Task.CompletedTask, new Control(MqttPacketType.PubComp, ack.PacketId, known ? 0 : MqttReasonCode.PacketIdentifierNotFound), null);
                return;
            case MqttPacketType.PubRec:
                lock (_gate)
                {
                    if (_inflight is { } inflight && inflight.TryGetValue(ack.PacketId, out var o) && o.Qos == 2 && !o.Released)
                    {
                        if (o.FromSession)
                        {
                            // The client has it: it leaves the session's queue, and its id waits for PUBCOMP, durably in
                            // one unit; the PUBREL goes once that is stored (AckSessionAsync), so a crash between
                            // cannot lose the message nor leave its id behind.
                            if (ack.Reason >= MqttReasonCode.UnspecifiedError)
                            {
                                (_sessionAcks ??= []).Add(o.LetterId);
                                _state.Done(o.LetterId);
                                _inflight?.Remove(ack.PacketId);
                            }
                            else
                            {
                                (_sessionReleases ??= []).Add((o.LetterId, ack.PacketId));
                                _state.Received(o.LetterId, ack.PacketId);
                                (_inflight ??= [])[ack.PacketId] = o with { Released = true };
                            }

                            _wakePending = true;
                            return;
                        }

                        if (ack.Reason >= MqttReasonCode.UnspecifiedError)
                        {
                            _inflight?.Remove(ack.PacketId); // the client refused it: the flow ends here
                        }
                        else
                        {
                            (_inflight ??= [])[ack.PacketId] = o with { Released = true };
                            (_controls ??= new()).Enqueue(new Control(MqttPacketType.PubRel, ack.PacketId, 0));
                        }
                    }

                    else
                    {
                        (_controls ??= new()).Enqueue(new Control(MqttPacketType.PubRel, ack.PacketId, MqttReasonCode.PacketIdentifierNotFound));
                    }
                }

                _wakePending = true;
                return;
            default: // PUBACK (QoS 1) or PUBCOMP (QoS 2): the flow is complete and the id free
                bool waiting;
                lock (_gate)
                {
                    waiting = (_publications?.Count ?? 0) > 0;
                    if (_inflight is { } sent && sent.Remove(ack.PacketId, out var done) && done.LetterId != Guid.Empty && ack.Type == MqttPacketType.PubAck)
                    {
                        if (done.FromSession)
                        {
                            (_sessionAcks ??= []).Add(done.LetterId); // acknowledged in the session's queue after the read
                            _state.Done(done.LetterId);
                        }
                        else
                        {
                            (_letterAcks ??= []).Add(done.LetterId); // acknowledged in the inbox once the read is handled
                        }
                    }
                }

                if (ack.Type == MqttPacketType.PubComp && _state.Completed(ack.PacketId) && _session is { } completed)
                {
                    _engine.Sessions.Complete(completed, ack.PacketId);
                }

                // The window has room: the writer wakes only if publications wait for it, and through the pool (a
                // subscriber's refills are bulk work, kept off the socket thread this read loop runs on).
                _windowFreed |= waiting;
                return;
        }
    }

    private void OnSubscribe(SubscribePacket subscribe)
    {
        var codes = new byte[subscribe.Filters.Count];
        var requests = new List<SubscriptionRequest>(codes.Length);
        var indexes = new List<int>(codes.Length);
        var id = subscribe.Properties?.SubscriptionIdentifiers?[0];
        var startInbox = false;
        for (var i = 0; i < codes.Length; i++)
        {
            var f = subscribe.Filters[i];
            if (f.Filter.StartsWith(TasksPrefix, StringComparison.Ordinal))
            {
                codes[i] = SubscribeTasks(f.Filter, f.Qos); // the connection's task topics (MqttSession.Tasks.cs), not in the trie
                continue;
            }

            if (f.Filter is InboxFilter or "$inbox/+")
            {
                // The client's letters (docs/protocols/mqtt.md, letters): at least once, so QoS 1 at most and not 0.
                codes[i] = f.Qos == 0 ? (V5 ? (byte)MqttReasonCode.ImplementationSpecificError : (byte)0x80) : (byte)1;
                startInbox |= f.Qos > 0;
                continue;
            }

            var options = new SubscriptionOptions
            {
                MaxQos = (QualityOfService)f.Qos,
                NoLocal = f.NoLocal,
                RetainAsPublished = f.RetainAsPublished,
                RetainHandling = (RetainHandling)f.RetainHandling,
                SubscriptionIdentifier = id,
            };
            var shared = f.Filter.StartsWith(TopicNames.SharePrefix, StringComparison.Ordinal);
            if (!TopicNames.IsValidFilter(f.Filter, _engine.Options, out _))
            {
                codes[i] = V5 ? (byte)MqttReasonCode.TopicFilterInvalid : (byte)0x80;
                continue;
            }

            if (shared && f.NoLocal)
            {
                codes[i] = V5 ? (byte)MqttReasonCode.ProtocolError : (byte)0x80; // MQTT-3.8.3-4
                continue;
            }

            codes[i] = f.Qos;
            requests.Add(new SubscriptionRequest(f.Filter, options));
            indexes.Add(i);
        }

        if (startInbox && _session is not null)
        {
            // Kept with a persistent session's subscriptions, so its letters flow again when it resumes (even after a
            // restart); the $ filter matches nothing routed (clients cannot publish on $ topics).
            requests.Add(new SubscriptionRequest(InboxFilter, new SubscriptionOptions { MaxQos = QualityOfService.AtLeastOnce }));
        }

        var stored = Task.CompletedTask;
        if (requests.Count > 0)
        {
            try
            {
                if (_session is { } persistent)
                {
                    _engine.Sessions.Subscribe(persistent, _connection!, requests, out stored);
                }
                else
                {
                    _engine.Topics.Subscribe(_connection!, requests);
                }
            }
            catch (DaakiaException ex)
            {
                var code = ex.Code == DaakiaErrorCode.LimitExceeded ? MqttReasonCode.QuotaExceeded : MqttReasonCode.UnspecifiedError;
                foreach (var i in indexes)
                {
                    codes[i] = V5 ? (byte)code : (byte)0x80;
                }
            }
        }

        // A persistent session's subscriptions are in its record: SUBACK once they are durable (0x80 each if not).
        var refused = (byte[])codes.Clone();
        foreach (var i in indexes)
        {
            refused[i] = V5 ? (byte)MqttReasonCode.UnspecifiedError : (byte)0x80;
        }

        AckAfter(stored, new Control(MqttPacketType.SubAck, subscribe.PacketId, 0, codes), new Control(MqttPacketType.SubAck, subscribe.PacketId, 0, refused));
        if (startInbox && !_inbox)
        {
            _inbox = true;
            _engine.Start(_connection!); // letters flow from the inbox: TryDeliver
        }
    }

    private static byte[] Fill(int count, byte value)
    {
        var codes = new byte[count];
        Array.Fill(codes, value);
        return codes;
    }

    /// <summary>Ends the connection for a protocol violation: 5.0 says why in a DISCONNECT (MQTT-4.13.1-1), 3.1.1 just closes.</summary>
    private bool Violation(in MqttError error)
    {
        MqttLog.ProtocolError(_logger, _client.Value ?? "?", _remote?.ToString(), error.Message);
        if (V5)
        {
            if (_draining.IsCompleted)
            {
                QueueDisconnect(error.Code);
            }
            else
            {
                _violation = error.Code; // after the previous read's answers (ReadLoopAsync): they were for durable writes
            }
        }

        return false;
    }

    private void QueueDisconnect(MqttReasonCode code)
    {
        lock (_gate)
        {
            _closing = true;
            ReleasePacedLocked();
            (_controls ??= new()).Enqueue(new Control(MqttPacketType.Disconnect, 0, code));
        }

        Signal();
    }
}
