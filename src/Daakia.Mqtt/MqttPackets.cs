using System.Text;

namespace Daakia.Mqtt;

/// <summary>CONNECT (§3.1).</summary>
internal sealed class ConnectPacket
{
    public MqttVersion Version { get; init; } = MqttVersion.V500;

    /// <summary>Clean Session (3.1.1) / Clean Start (5.0).</summary>
    public bool CleanStart { get; init; }

    /// <summary>Seconds; 0 turns keep-alive off.</summary>
    public ushort KeepAlive { get; init; }

    /// <summary>May be empty (the server assigns one in 5.0; 3.1.1 allows it only with a clean session).</summary>
    public string ClientId { get; init; } = "";

    public MqttProperties? Properties { get; init; }

    public WillMessage? Will { get; init; }

    public string? UserName { get; init; }

    public byte[]? Password { get; init; }
}

/// <summary>The will of a CONNECT (§3.1.2.5, §3.1.3.2-4).</summary>
internal sealed class WillMessage
{
    public required string Topic { get; init; }

    public required byte[] Payload { get; init; }

    public byte Qos { get; init; }

    public bool Retain { get; init; }

    /// <summary>Will properties (5.0): delay, payload format, expiry, content type, response topic, correlation data, user properties.</summary>
    public MqttProperties? Properties { get; init; }
}

/// <summary>CONNACK (§3.2).</summary>
internal sealed class ConnAckPacket
{
    public bool SessionPresent { get; init; }

    /// <summary>A 5.0 reason code, or a 3.1.1 return code (<see cref="MqttConnectReturnCode"/>).</summary>
    public byte Code { get; init; }

    public MqttProperties? Properties { get; init; }
}

/// <summary>
/// PUBLISH (§3.3) as a view over the packet's bytes: no allocation to decode. Topic, payload and properties are slices
/// of the frame, valid until the next frame is read; copy what is kept.
/// </summary>
internal readonly struct PublishPacket
{
    public byte Qos { get; init; }

    public bool Dup { get; init; }

    public bool Retain { get; init; }

    /// <summary>0 for QoS 0.</summary>
    public ushort PacketId { get; init; }

    /// <summary>The topic name's UTF-8 bytes (validated); empty in 5.0 when a topic alias stands for it.</summary>
    public ReadOnlyMemory<byte> Topic { get; init; }

    public ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>The validated property block (5.0); empty when there is none.</summary>
    public ReadOnlyMemory<byte> Properties { get; init; }

    /// <summary>0 when none.</summary>
    public ushort TopicAlias { get; init; }

    public byte? PayloadFormatIndicator { get; init; }

    public uint? MessageExpiryInterval { get; init; }

    /// <summary>Content type's UTF-8 bytes, when <see cref="HasContentType"/>.</summary>
    public ReadOnlyMemory<byte> ContentType { get; init; }

    public bool HasContentType { get; init; }

    public ReadOnlyMemory<byte> ResponseTopic { get; init; }

    public bool HasResponseTopic { get; init; }

    public ReadOnlyMemory<byte> CorrelationData { get; init; }

    public bool HasCorrelationData { get; init; }

    public bool HasUserProperties { get; init; }

    /// <summary>Subscription identifiers are present (only a server sends them, MQTT-3.3.4-6).</summary>
    public bool HasSubscriptionIdentifiers { get; init; }

    /// <summary>The topic as a string (allocates).</summary>
    public string TopicString() => Encoding.UTF8.GetString(Topic.Span);

    /// <summary>Walks the properties (user properties, subscription identifiers) without allocating.</summary>
    public MqttPropertyEnumerator EnumerateProperties() => new(Properties);
}

/// <summary>PUBACK, PUBREC, PUBREL or PUBCOMP (§3.4-3.7).</summary>
internal readonly struct AckPacket
{
    public MqttPacketType Type { get; init; }

    public ushort PacketId { get; init; }

    public MqttReasonCode Reason { get; init; }

    public MqttProperties? Properties { get; init; }
}

/// <summary>One topic filter of a SUBSCRIBE with its options (§3.8.3.1).</summary>
internal readonly record struct TopicSubscription(string Filter, byte Qos, bool NoLocal = false, bool RetainAsPublished = false, byte RetainHandling = 0);

/// <summary>SUBSCRIBE (§3.8).</summary>
internal sealed class SubscribePacket
{
    public ushort PacketId { get; init; }

    public MqttProperties? Properties { get; init; }

    public required IReadOnlyList<TopicSubscription> Filters { get; init; }
}

/// <summary>SUBACK (§3.9): a reason code per filter (3.1.1: 0, 1, 2 or 0x80).</summary>
internal sealed class SubAckPacket
{
    public ushort PacketId { get; init; }

    public MqttProperties? Properties { get; init; }

    public required byte[] Codes { get; init; }
}

/// <summary>UNSUBSCRIBE (§3.10).</summary>
internal sealed class UnsubscribePacket
{
    public ushort PacketId { get; init; }

    public MqttProperties? Properties { get; init; }

    public required IReadOnlyList<string> Filters { get; init; }
}

/// <summary>UNSUBACK (§3.11): a reason code per filter in 5.0, none in 3.1.1.</summary>
internal sealed class UnsubAckPacket
{
    public ushort PacketId { get; init; }

    public MqttProperties? Properties { get; init; }

    public byte[] Codes { get; init; } = [];
}

/// <summary>DISCONNECT (§3.14) or AUTH (§3.15): a reason code and properties (5.0).</summary>
internal readonly struct ReasonPacket
{
    public MqttPacketType Type { get; init; }

    public MqttReasonCode Reason { get; init; }

    public MqttProperties? Properties { get; init; }
}
