using System.Text;
using Daakia.Core;
using Daakia.Mqtt;

namespace Daakia.Server.Mqtt;

/// <summary>A client's PUBLISH: topic aliases, its properties, routing on the core, and pacing the publisher.</summary>
internal sealed partial class MqttSession
{
    private bool OnPublish(in PublishPacket p)
    {
        string topic;
        if (p.TopicAlias != 0)
        {
            if (p.TopicAlias > _aliasMaximum)
            {
                return Violation(new MqttError(MqttReasonCode.TopicAliasInvalid, $"Topic alias {p.TopicAlias} is above the maximum {_aliasMaximum} [MQTT-3.3.2-9]."));
            }

            // Made on first use: most clients never set an alias.
            var aliases = _aliases ??= new string?[_aliasMaximum + 1];
            if (p.Topic.IsEmpty)
            {
                if (aliases[p.TopicAlias] is not { } known)
                {
                    return Violation(MqttError.Protocol($"Topic alias {p.TopicAlias} was never set [MQTT-3.3.2-7]."));
                }

                topic = known;
            }
            else
            {
                topic = p.TopicString();
                aliases[p.TopicAlias] = topic;
            }
        }
        else
        {
            topic = p.TopicString();
        }

        if (p.Qos == 2)
        {
            if (_state.IsAwaitingRelease(p.PacketId, out var first))
            {
                // A resend of a message not yet released: routed once only (MQTT-4.3.3-10), also across reconnects of a
                // persistent session; answered once what the first copy reached is durable.
                AckAfter(first, new Control(MqttPacketType.PubRec, p.PacketId, 0), V5 ? new Control(MqttPacketType.PubRec, p.PacketId, MqttReasonCode.UnspecifiedError) : null, endOnFailure: true);
                return true;
            }

            if (_state.AwaitingReleaseCount >= _options.ReceiveMaximum)
            {
                return Violation(new MqttError(MqttReasonCode.ReceiveMaximumExceeded, $"More than {_options.ReceiveMaximum} QoS 2 messages awaiting PUBREL [MQTT-3.3.4-9]."));
            }
        }

        var reason = Route(topic, p, out var stored);
        RoutedWithHeldWakes();
        var type = p.Qos == 2 ? MqttPacketType.PubRec : MqttPacketType.PubAck;
        var release = -1;
        if (p.Qos == 2 && reason < MqttReasonCode.UnspecifiedError)
        {
            _state.StartRelease(p.PacketId, stored); // at once: a resend (in this read, or the next connection's) is not routed again
            release = p.PacketId;
        }

        // Acknowledged once durable where something keeps it (a persistent session's queue, a bound named queue, a
        // retained message); a QoS 0 publish that reached a bound queue, or a retained one, still holds the read loop
        // back, so a flood waits for the store instead of queueing in it.
        Control? ack = p.Qos == 0 ? null : new Control(type, p.PacketId, reason);
        Control? failed = p.Qos == 0 || !V5 ? null : new Control(type, p.PacketId, MqttReasonCode.UnspecifiedError);
        AckAfter(stored, ack, failed, endOnFailure: p.Qos > 0, release);
        return true;
    }

    /// <summary>A 5.0 PUBLISH's response topic, correlation data, user properties and payload format, for every subscriber.</summary>
    private static PublicationProperties? PropertiesOf(in PublishPacket p)
    {
        if (!p.HasResponseTopic && !p.HasCorrelationData && !p.HasUserProperties && p.PayloadFormatIndicator is null)
        {
            return null;
        }

        List<KeyValuePair<string, string>>? user = null;
        if (p.HasUserProperties)
        {
            var properties = p.EnumerateProperties();
            while (properties.MoveNext())
            {
                var property = properties.Current;
                if (property.Id == MqttPropertyId.UserProperty)
                {
                    (user ??= []).Add(new(property.String, property.PairValue));
                }
            }
        }

        return new PublicationProperties
        {
            PayloadFormat = p.PayloadFormatIndicator,
            ResponseTopic = p.HasResponseTopic ? Encoding.UTF8.GetString(p.ResponseTopic.Span) : null,
            // Typed: a null array would convert to an empty, present memory (and go out as empty correlation data).
            CorrelationData = p.HasCorrelationData ? p.CorrelationData.ToArray() : (ReadOnlyMemory<byte>?)null,
            UserProperties = user ?? [],
        };
    }

    /// <summary>Publishes on the core's topics; the reason code to acknowledge with.</summary>
    private MqttReasonCode Route(string topic, in PublishPacket p, out Task stored)
    {
        stored = Task.CompletedTask;
        if (topic.StartsWith(TasksPrefix, StringComparison.Ordinal))
        {
            return OnTaskRequest(topic, p, out stored); // the task operations (MqttSession.Tasks.cs)
        }

        if (topic.StartsWith('$'))
        {
            return MqttReasonCode.NotAuthorized; // $ topics are the server's (MQTT-4.7.2-1); 3.1.1 acknowledges and drops
        }

        var contentType = p.HasContentType ? Encoding.UTF8.GetString(p.ContentType.Span) : Publication.OpaqueContentType;
        int delivered;
        try
        {
            MqttPacing.Begin(this);
            try
            {
                delivered = _engine.Topics.Publish(_tenant, _client, topic, p.Payload.ToArray(), contentType, (QualityOfService)p.Qos, p.Retain, out stored,
                    V5 ? PropertiesOf(p) : null, p.MessageExpiryInterval is { } expiry ? TimeSpan.FromSeconds(expiry) : null);
            }
            finally
            {
                MqttPacing.End(); // the read loop paces this client on what the route noted once the read is handled
            }
        }
        catch (DaakiaException ex)
        {
            return ex.Code switch
            {
                DaakiaErrorCode.QuotaExceeded => MqttReasonCode.QuotaExceeded,
                DaakiaErrorCode.PayloadTooLarge => MqttReasonCode.PacketTooLarge,
                DaakiaErrorCode.InvalidArgument => MqttReasonCode.TopicNameInvalid,
                DaakiaErrorCode.Forbidden => MqttReasonCode.NotAuthorized,
                _ => MqttReasonCode.UnspecifiedError,
            };
        }

        return delivered == 0 ? MqttReasonCode.NoMatchingSubscribers : MqttReasonCode.Success;
    }
}
