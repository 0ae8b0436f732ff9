using Daakia.Core;
using Daakia.Mqtt;

namespace Daakia.Server.Mqtt;

/// <summary>The core's side: letters and publications offered to the outbox, closes and takeover.</summary>
internal sealed partial class MqttSession : ISessionTarget
{
    private TaskCompletionSource? _drained2; // under _gate: paced publishers waiting for this outbox to come down

    /// <summary>
    /// A letter from the client's inbox (after it subscribed to <c>$inbox/#</c>): a QoS 1 PUBLISH on
    /// <c>$inbox/{author}</c>, DUP when it comes again; its PUBACK acknowledges it in the inbox.
    /// </summary>
    public bool TryDeliver(Letter letter, int deliveries)
    {
        var p = new Publication
        {
            Tenant = letter.Tenant,
            Topic = "$inbox/" + letter.Author.Value,
            Author = letter.Author,
            Payload = letter.Payload,
            ContentType = letter.ContentType,
            Qos = QualityOfService.AtLeastOnce,
            Timestamp = letter.Timestamp,
        };
        lock (_gate)
        {
            if (_closing)
            {
                return true; // unacknowledged, it goes back to the inbox with the connection
            }
        }

        return Offer(p, QualityOfService.AtLeastOnce, [], retain: false, letter.Id, dup: deliveries > 1);
    }

    /// <summary>
    /// A message of the persistent session's queue: a PUBLISH at the lower of its QoS and the highest matching
    /// subscription's (QoS 1 at most if none matches any more), with their subscription identifiers, DUP and its earlier
    /// packet id when it was sent before. Its PUBACK (QoS 1) or PUBREC (QoS 2) takes it out of the queue. Not refused
    /// for room: the core's window bounds how many are out.
    /// </summary>
    public bool TryDeliver(PersistentSession session, Letter message, int deliveries, ReadOnlySpan<Subscription> matched)
    {
        var envelope = message.Envelope!;
        var publication = message.EncodedCache as Publication ?? (Publication)(message.EncodedCache = PublicationOf(message, envelope));
        // Unsubscribed since it was queued: at least once (the QoS it was granted is not kept with the entry).
        var qos = envelope.Qos > QualityOfService.AtLeastOnce ? QualityOfService.AtLeastOnce : envelope.Qos;
        if (matched.Length > 0)
        {
            var max = QualityOfService.AtMostOnce;
            foreach (var s in matched)
            {
                max = s.Options.MaxQos > max ? s.Options.MaxQos : max;
            }

            qos = envelope.Qos < max ? envelope.Qos : max;
        }

        if (qos == QualityOfService.AtMostOnce)
        {
            qos = QualityOfService.AtLeastOnce; // queued at 1 or 2 for a subscription since downgraded: still acknowledged
        }

        var asPublished = false;
        var ids = 0;
        foreach (var s in matched)
        {
            asPublished |= s.Options.RetainAsPublished;
            ids += s.Options.SubscriptionIdentifier is null ? 0 : 1;
        }

        int[] identifiers = [];
        if (ids > 0 && V5)
        {
            identifiers = new int[ids];
            var n = 0;
            foreach (var s in matched)
            {
                if (s.Options.SubscriptionIdentifier is { } id)
                {
                    identifiers[n++] = id;
                }
            }
        }

        var size = publication.Payload.Length + publication.Topic.Length + (publication.Properties?.Size ?? 0) + 64;
        // Handed out before, but DUP only if it was written (it has a packet id), or may have been (before a restart):
        // a message handed to a connection that was already closing never left (MQTT-3.3.1-1).
        var sentWith = deliveries > 1 ? _state.PacketIdOf(message.Id) : (ushort)0;
        var dup = deliveries > 1 && (sentWith != 0 || _state.FromRestart);
        lock (_gate)
        {
            if (_closing)
            {
                return true; // unacknowledged, it goes back to the queue with the connection
            }

            (_publications ??= new()).Enqueue(new Outgoing(publication, (byte)qos, identifiers, size, envelope.Retain && asPublished && V5)
            {
                LetterId = message.Id,
                FromSession = true,
                Dup = dup,
                PacketId = sentWith,
            });
            _queuedBytes += size;
        }

        Signal();
        return true;
    }

    private static Publication PublicationOf(Letter m, PublicationEnvelope e) => new()
    {
        Tenant = m.Tenant,
        Topic = e.Topic,
        Author = m.Author,
        Payload = m.Payload,
        ContentType = m.ContentType,
        Qos = e.Qos,
        Retain = e.Retain,
        Timestamp = m.Timestamp,
        ExpiresAt = m.ExpiresAt,
        Properties = e.PayloadFormat is null && e.ResponseTopic is null && e.CorrelationData is null && m.Headers.Count == 0 ? null : new PublicationProperties
        {
            PayloadFormat = e.PayloadFormat,
            ResponseTopic = e.ResponseTopic,
            CorrelationData = e.CorrelationData,
            UserProperties = m.Headers,
        },
    };

    public bool TryPublish(Publication publication) => Offer(publication, QualityOfService.AtMostOnce, []);

    public bool TryPublish(Publication publication, ReadOnlySpan<Subscription> matched)
    {
        var max = QualityOfService.AtMostOnce;
        var ids = 0;
        var asPublished = false;
        foreach (var s in matched)
        {
            max = s.Options.MaxQos > max ? s.Options.MaxQos : max;
            ids += s.Options.SubscriptionIdentifier is null ? 0 : 1;
            asPublished |= s.Options.RetainAsPublished;
        }

        // The retain flag: set on a retained message sent for a new subscription; on a live one only in 5.0 with
        // Retain As Published (MQTT-3.3.1-12/13; 3.1.1 clears it, MQTT-3.3.1-9).
        var retain = publication.IsRetainedCopy || (publication.Retain && asPublished && V5);

        int[] identifiers = [];
        if (ids > 0 && V5)
        {
            identifiers = new int[ids];
            var n = 0;
            foreach (var s in matched)
            {
                if (s.Options.SubscriptionIdentifier is { } id)
                {
                    identifiers[n++] = id;
                }
            }
        }

        // Delivered at the lower of the published QoS and the highest granted one (MQTT-3.8.4-8).
        return Offer(publication, publication.Qos < max ? publication.Qos : max, identifiers, retain);
    }

    private bool Offer(Publication publication, QualityOfService qos, int[] identifiers, bool retain = false, Guid letterId = default, bool dup = false)
    {
        var size = publication.Payload.Length + publication.Topic.Length + (publication.Properties?.Size ?? 0) + 64;
        lock (_gate)
        {
            if (_closing || (_controls?.Count ?? 0) + (_publications?.Count ?? 0) >= _options.OutboxCapacity || _queuedBytes + size > _options.OutboxBytes)
            {
                return false;
            }

            (_publications ??= new()).Enqueue(new Outgoing(publication, (byte)qos, identifiers, size, retain) { LetterId = letterId, Dup = dup });
            _queuedBytes += size;
            if (_options.PaceBytes > 0 && _queuedBytes > _mark.Bytes && !_paceExempt)
            {
                MqttPacing.Note(this); // the publisher routing this waits for the outbox to come down
            }
        }

        Signal();
        return true;
    }

    public void Close(CloseReason reason)
    {
        var code = reason switch
        {
            CloseReason.ServerShutdown => MqttReasonCode.ServerShuttingDown,
            CloseReason.HeartbeatTimeout => MqttReasonCode.KeepAliveTimeout,
            CloseReason.SlowConsumer => MqttReasonCode.QuotaExceeded,
            _ => MqttReasonCode.Success,
        };
        CloseWith(code);
    }

    /// <summary>Another connection with this client id connected: this one ends (5.0: DISCONNECT 0x8E, MQTT-3.1.4-3).</summary>
    public void TakeOver()
    {
        MqttLog.TakenOver(_logger, _client.Value);
        _disconnectedNormally = true; // the session moves on; its will is not sent
        if (_connection is { } c)
        {
            _engine.Disconnect(c);
        }

        CloseWith(MqttReasonCode.SessionTakenOver);
    }

    private void CloseWith(MqttReasonCode code)
    {
        lock (_gate)
        {
            if (_closing)
            {
                return;
            }

            _closing = true;
            ReleasePacedLocked();
            if (V5)
            {
                (_controls ??= new()).Enqueue(new Control(MqttPacketType.Disconnect, 0, code));
            }
        }

        Signal();
        if (!V5)
        {
            // Not inline: this may run under the core's tenant lock, and the read loop's end must not.
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Stop(), this, preferLocal: false);
        }
        else
        {
            // The DISCONNECT ends the session once it is written; a client that reads nothing never lets it be, so the
            // session also ends itself after a grace.
            _ = Task.Delay(CloseGrace).ContinueWith(static (_, s) => ((MqttSession)s!).Stop(), this, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }
}
