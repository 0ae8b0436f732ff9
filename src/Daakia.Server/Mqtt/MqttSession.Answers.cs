using Daakia.Core;
using Daakia.Mqtt;

namespace Daakia.Server.Mqtt;

/// <summary>
/// The answers that wait for the store: held back in order, given by the read loop or (one read ahead) by a drain off
/// it; and the acknowledgements a read brought, written to the inbox or the persistent session in one call.
/// </summary>
internal sealed partial class MqttSession
{
    /// <summary>
    /// Gives one read's held-back answers, in order, off the read loop (which goes on with the next read); false when one
    /// could not be given and the connection must end, which it then does.
    /// </summary>
    private async Task<bool> DrainAsync(List<PendingAck> batch)
    {
        try
        {
            foreach (var p in batch)
            {
                if (!await AnswerAsync(p, static (s, c) => s.SendFromDrain(c)))
                {
                    Stop();
                    return false;
                }
            }

            return true;
        }
        catch (Exception ex)
        {
            // A cancelled or otherwise broken wait: the connection ends rather than answer anything after it.
            MqttLog.StoreFailed(_logger, ex, _client.Value);
            Stop();
            return false;
        }
        finally
        {
            Signal();
        }
    }

    /// <summary>The previous read's answers could not all be given: nothing after them may be answered.</summary>
    private bool DrainFailed => _draining is { IsCompleted: true } d && !(d.IsCompletedSuccessfully && d.Result);

    /// <summary>Queues an answer from the drain of held-back answers (not the read loop): the writer wakes now.</summary>
    private void SendFromDrain(Control control)
    {
        lock (_gate)
        {
            (_controls ??= new()).Enqueue(control);
        }

        Signal();
    }

    /// <summary>Waits for one held-back answer's write and gives it (or its failure) through <paramref name="send"/>;
    /// false when the connection must end unanswered.</summary>
    private async ValueTask<bool> AnswerAsync(PendingAck p, Action<MqttSession, Control> send)
    {
        try
        {
            // Not cut by the transport's end: a client that half-closed still reads its answers, and the write is
            // bounded (the store completes or faults it; a pace ends by PaceWaitMilliseconds).
            await p.Stored;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            MqttLog.StoreFailed(_logger, ex, _client.Value);
            if (p.Release >= 0)
            {
                _state.Release((ushort)p.Release, p.Stored); // not routed after all: a resend is new
            }

            if (p.Failed is { } failed)
            {
                send(this, failed);
                return true;
            }

            return !p.EndOnFailure;
        }

        if (p.Ack is { } ack)
        {
            send(this, Coded(ack, p.Stored));
        }

        return true;
    }

    /// <summary>Most answers one read holds back for the store before it waits for them.</summary>
    private const int MaxPendingAcks = 1024;

    /// <summary>
    /// Sends <paramref name="ack"/> once <paramref name="stored"/> is durable, after the answers held back before it
    /// (acknowledgements go in the order of their packets, MQTT-4.6.0-2); if the write fails, <paramref name="failed"/>
    /// goes instead, or with none (MQTT 3.1.1 has no way to say a PUBLISH failed) the connection ends unacknowledged.
    /// </summary>
    private void AckAfter(Task stored, Control? ack, Control? failed, bool endOnFailure = false, int release = -1)
    {
        if ((_pending?.Count ?? 0) == 0 && _draining is { IsCompletedSuccessfully: true, Result: true } && stored.IsCompletedSuccessfully)
        {
            if (ack is { } now)
            {
                Send(Coded(now, stored));
            }

            return;
        }

        (_pending ??= []).Add(new PendingAck(stored, ack, failed, endOnFailure, release));
    }

    /// <summary>An acknowledgement whose reason the work it waited for decided (a task request's, 5.0 only): a PUBACK's,
    /// or a PUBREC's, which then ends the QoS 2 flow when it is a failure (no PUBREL follows one, MQTT 4.3.3).</summary>
    private Control Coded(Control ack, Task stored)
    {
        if (!V5 || ack.Type is not (MqttPacketType.PubAck or MqttPacketType.PubRec) ||
            stored is not Task<MqttReasonCode> { IsCompletedSuccessfully: true, Result: var code and not MqttReasonCode.Success })
        {
            return ack;
        }

        if (ack.Type == MqttPacketType.PubRec && code >= MqttReasonCode.UnspecifiedError)
        {
            _state.Release(ack.PacketId, stored); // the id is free again: a resend is a new request
        }

        return ack with { Reason = code };
    }

    /// <summary>Waits for the held-back answers' writes, in order, and sends each; false ends the connection.</summary>
    private async ValueTask<bool> FlushPendingAsync()
    {
        WakeWriter(); // what is queued already leaves meanwhile
        try
        {
            foreach (var p in _pending ?? [])
            {
                if (!p.Stored.IsCompleted)
                {
                    WakeWriter(); // the answers sent so far leave while this one waits
                }

                if (!await AnswerAsync(p, static (s, c) => s.Send(c)))
                {
                    return false;
                }
            }

            return true;
        }
        finally
        {
            _pending?.Clear();
            WakeWriter();
        }
    }

    /// <summary>An answer held back until a store write is durable.</summary>
    private readonly record struct PendingAck(Task Stored, Control? Ack, Control? Failed, bool EndOnFailure, int Release);

    /// <summary>Acknowledges in the inbox the letters whose PUBACK this read brought, in one call (one group commit),
    /// and in the persistent session's queue the messages whose PUBACK or PUBREC it brought.</summary>
    private void AckLetters()
    {
        List<Guid>? ids, sessionIds;
        List<(Guid Message, ushort PacketId)>? releases;
        lock (_gate)
        {
            ids = _letterAcks;
            _letterAcks = null;
            sessionIds = _sessionAcks;
            _sessionAcks = null;
            releases = _sessionReleases;
            _sessionReleases = null;
        }

        if (ids is not null)
        {
            Chain(AckLettersAsync(ids));
        }

        if (sessionIds is not null && _session is { } session)
        {
            Chain(AckSessionAsync(session, sessionIds));
        }

        if (releases is not null && _session is { } releasing)
        {
            Chain(ReleaseSessionAsync(releasing, releases));
        }

        void Chain(Task ack)
        {
            var previous = _lastLetterAck;
            _lastLetterAck = previous.IsCompleted ? ack : Task.WhenAll(previous, ack);
        }
    }

    /// <summary>QoS 2 PUBRECs of session messages: out of the queue and awaiting PUBCOMP durably, then their PUBRELs.</summary>
    private async Task ReleaseSessionAsync(PersistentSession session, List<(Guid Message, ushort PacketId)> releases)
    {
        try
        {
            await _engine.Sessions.AckAsync(session, _connection!, [.. releases.Select(r => r.Message)], [.. releases.Select(r => r.PacketId)]);
        }
        catch (Exception ex) when (ex is DaakiaException or InvalidOperationException or IOException)
        {
            // Not stored: the messages stay in the queue and come again on the next connection (no PUBREL now).
            MqttLog.LetterAckFailed(_logger, ex, _client.Value);
            return;
        }

        lock (_gate)
        {
            if (_closing)
            {
                return; // the next connection sends them (the ids are awaiting PUBCOMP)
            }

            foreach (var (_, id) in releases)
            {
                (_controls ??= new()).Enqueue(new Control(MqttPacketType.PubRel, id, 0));
            }
        }

        Signal();
    }

    private async Task AckSessionAsync(PersistentSession session, List<Guid> ids)
    {
        try
        {
            await _engine.Sessions.AckAsync(session, _connection!, ids);
        }
        catch (Exception ex) when (ex is DaakiaException or InvalidOperationException or IOException)
        {
            // Not acknowledged: the messages stay in the session's queue and come again (at least once).
            MqttLog.LetterAckFailed(_logger, ex, _client.Value);
        }
    }

    private async Task AckLettersAsync(List<Guid> ids)
    {
        try
        {
            await _engine.Letters.AckAsync(_tenant, _client, ids);
        }
        catch (Exception ex) when (ex is DaakiaException or InvalidOperationException or IOException)
        {
            // Not acknowledged: the letters stay in the inbox and come again (at least once).
            MqttLog.LetterAckFailed(_logger, ex, _client.Value);
        }
    }
}
