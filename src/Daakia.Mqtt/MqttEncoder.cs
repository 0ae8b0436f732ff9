using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Daakia.Mqtt;

/// <summary>
/// Encodes packets into an <see cref="IBufferWriter{T}"/>. Each method sizes the packet first and writes it in one
/// piece, with no intermediate buffer. A packet that would exceed the peer's Maximum Packet Size is not written
/// (false); acknowledgements, SUBACK, UNSUBACK, DISCONNECT and AUTH first drop their reason string and user
/// properties to fit (MQTT-3.1.2-25). Only 5.0 writes properties and reason codes (3.1.1 has CONNACK's and SUBACK's
/// return codes only).
/// </summary>
internal static class MqttEncoder
{
    /// <summary>No limit on the peer's side.</summary>
    public const int NoLimit = int.MaxValue;

    /// <summary>
    /// Writes a PUBLISH. <paramref name="messageProperties"/> is the message's own property block (encoded once per
    /// message with <see cref="MqttProperties.Write"/>, without its length); the topic alias and the subscription
    /// identifiers are this delivery's and are written after it. An empty <paramref name="topic"/> needs an alias.
    /// </summary>
    public static bool TryWritePublish(
        IBufferWriter<byte> writer,
        MqttVersion version,
        ReadOnlySpan<byte> topic,
        ReadOnlySpan<byte> payload,
        byte qos,
        bool retain,
        bool dup,
        ushort packetId,
        ReadOnlySpan<byte> messageProperties = default,
        ushort topicAlias = 0,
        ReadOnlySpan<int> subscriptionIds = default,
        int maxPacketSize = NoLimit)
    {
        var remaining = 2 + topic.Length + (qos > 0 ? 2 : 0) + payload.Length;
        var props = 0;
        if (version == MqttVersion.V500)
        {
            props = messageProperties.Length + (topicAlias != 0 ? 3 : 0);
            foreach (var id in subscriptionIds)
            {
                props += 1 + MqttWire.VarIntSize(id);
            }

            remaining += MqttWire.VarIntSize(props) + props;
        }

        if (remaining > MqttWire.MaxRemainingLength || MqttWire.PacketSize(remaining) > maxPacketSize)
        {
            return false;
        }

        var size = MqttWire.PacketSize(remaining);
        var span = writer.GetSpan(size);
        var flags = (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
        var n = MqttWire.WriteFixedHeader(span, MqttPacketType.Publish, flags, remaining);
        n += WriteBinary(span[n..], topic);
        if (qos > 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span[n..], packetId);
            n += 2;
        }

        if (version == MqttVersion.V500)
        {
            n += MqttWire.WriteVarInt(span[n..], props);
            messageProperties.CopyTo(span[n..]);
            n += messageProperties.Length;
            if (topicAlias != 0)
            {
                span[n++] = (byte)MqttPropertyId.TopicAlias;
                BinaryPrimitives.WriteUInt16BigEndian(span[n..], topicAlias);
                n += 2;
            }

            foreach (var id in subscriptionIds)
            {
                span[n++] = (byte)MqttPropertyId.SubscriptionIdentifier;
                n += MqttWire.WriteVarInt(span[n..], id);
            }
        }

        payload.CopyTo(span[n..]);
        writer.Advance(size);
        return true;
    }

    /// <summary>Writes a CONNACK: <paramref name="code"/> is a 5.0 reason code or a 3.1.1 return code.</summary>
    public static bool TryWriteConnAck(IBufferWriter<byte> writer, MqttVersion version, bool sessionPresent, byte code, MqttProperties? properties = null, int maxPacketSize = NoLimit)
    {
        var v5 = version == MqttVersion.V500;
        ReadOnlySpan<byte> fields = [sessionPresent ? (byte)1 : (byte)0, code];
        return TryWrite(writer, MqttPacketType.ConnAck, 0, fields, v5 ? properties : null, v5, maxPacketSize, []);
    }

    /// <summary>
    /// Writes PUBACK, PUBREC, PUBREL or PUBCOMP. In 5.0 a success without properties is the short form (the packet
    /// identifier only, §3.4.2.1).
    /// </summary>
    public static bool TryWriteAck(IBufferWriter<byte> writer, MqttVersion version, MqttPacketType type, ushort packetId, MqttReasonCode reason = MqttReasonCode.Success, MqttProperties? properties = null, int maxPacketSize = NoLimit)
    {
        var flags = type == MqttPacketType.PubRel ? 2 : 0;
        ReadOnlySpan<byte> fields = [(byte)(packetId >> 8), (byte)packetId, (byte)reason];
        return version == MqttVersion.V311 || (reason == MqttReasonCode.Success && properties is null)
            ? TryWrite(writer, type, flags, fields[..2], null, false, maxPacketSize, [])
            : TryWrite(writer, type, flags, fields, properties, true, maxPacketSize, []);
    }

    /// <summary>Writes a SUBACK with one code per filter (3.1.1: 0, 1, 2 or 0x80).</summary>
    public static bool TryWriteSubAck(IBufferWriter<byte> writer, MqttVersion version, ushort packetId, ReadOnlySpan<byte> codes, MqttProperties? properties = null, int maxPacketSize = NoLimit)
    {
        var v5 = version == MqttVersion.V500;
        ReadOnlySpan<byte> fields = [(byte)(packetId >> 8), (byte)packetId];
        return TryWrite(writer, MqttPacketType.SubAck, 0, fields, v5 ? properties : null, v5, maxPacketSize, codes);
    }

    /// <summary>Writes an UNSUBACK (5.0: one reason code per filter; 3.1.1: the packet identifier only).</summary>
    public static bool TryWriteUnsubAck(IBufferWriter<byte> writer, MqttVersion version, ushort packetId, ReadOnlySpan<byte> codes, MqttProperties? properties = null, int maxPacketSize = NoLimit)
    {
        var v5 = version == MqttVersion.V500;
        ReadOnlySpan<byte> fields = [(byte)(packetId >> 8), (byte)packetId];
        return TryWrite(writer, MqttPacketType.UnsubAck, 0, fields, v5 ? properties : null, v5, maxPacketSize, v5 ? codes : []);
    }

    public static void WritePingResp(IBufferWriter<byte> writer) => WriteEmpty(writer, MqttPacketType.PingResp);

    public static void WritePingReq(IBufferWriter<byte> writer) => WriteEmpty(writer, MqttPacketType.PingReq);

    /// <summary>
    /// Writes a DISCONNECT (3.1.1: empty; 5.0: empty for a normal disconnection without properties, else the reason code
    /// and properties) or an AUTH (5.0 only).
    /// </summary>
    public static bool TryWriteReason(IBufferWriter<byte> writer, MqttVersion version, MqttPacketType type, MqttReasonCode reason, MqttProperties? properties = null, int maxPacketSize = NoLimit)
    {
        if (version == MqttVersion.V311 || (reason == MqttReasonCode.Success && properties is null))
        {
            if (version == MqttVersion.V311 && type == MqttPacketType.Auth)
            {
                return false;
            }

            WriteEmpty(writer, type);
            return true;
        }

        ReadOnlySpan<byte> fields = [(byte)reason];
        return TryWrite(writer, type, 0, fields, properties, true, maxPacketSize, []);
    }

    /// <summary>Writes a CONNECT (what a client sends).</summary>
    public static void WriteConnect(IBufferWriter<byte> writer, ConnectPacket packet)
    {
        var v5 = packet.Version == MqttVersion.V500;
        var will = packet.Will;
        var propsSize = v5 ? packet.Properties?.Size() ?? 0 : 0;
        var willPropsSize = v5 && will is not null ? will.Properties?.Size() ?? 0 : 0;
        var remaining = 6 + 1 + 1 + 2 + (v5 ? MqttWire.VarIntSize(propsSize) + propsSize : 0) + StringSize(packet.ClientId);
        if (will is not null)
        {
            remaining += (v5 ? MqttWire.VarIntSize(willPropsSize) + willPropsSize : 0) + StringSize(will.Topic) + 2 + will.Payload.Length;
        }

        remaining += packet.UserName is null ? 0 : StringSize(packet.UserName);
        remaining += packet.Password is null ? 0 : 2 + packet.Password.Length;
        var size = MqttWire.PacketSize(remaining);
        var span = writer.GetSpan(size);
        var n = MqttWire.WriteFixedHeader(span, MqttPacketType.Connect, 0, remaining);
        n += WriteBinary(span[n..], "MQTT"u8);
        span[n++] = (byte)packet.Version;
        var flags = (packet.CleanStart ? 0x02 : 0) | (packet.UserName is not null ? 0x80 : 0) | (packet.Password is not null ? 0x40 : 0);
        if (will is not null)
        {
            flags |= 0x04 | (will.Qos << 3) | (will.Retain ? 0x20 : 0);
        }

        span[n++] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(span[n..], packet.KeepAlive);
        n += 2;
        if (v5)
        {
            n += WriteProperties(span[n..], packet.Properties, propsSize, lean: false);
        }

        n += WriteString(span[n..], packet.ClientId);
        if (will is not null)
        {
            if (v5)
            {
                n += WriteProperties(span[n..], will.Properties, willPropsSize, lean: false);
            }

            n += WriteString(span[n..], will.Topic);
            n += WriteBinary(span[n..], will.Payload);
        }

        if (packet.UserName is not null)
        {
            n += WriteString(span[n..], packet.UserName);
        }

        if (packet.Password is not null)
        {
            n += WriteBinary(span[n..], packet.Password);
        }

        writer.Advance(n);
    }

    /// <summary>Writes a SUBSCRIBE (what a client sends).</summary>
    public static void WriteSubscribe(IBufferWriter<byte> writer, MqttVersion version, SubscribePacket packet)
    {
        var v5 = version == MqttVersion.V500;
        var propsSize = v5 ? packet.Properties?.Size() ?? 0 : 0;
        var remaining = 2 + (v5 ? MqttWire.VarIntSize(propsSize) + propsSize : 0);
        foreach (var f in packet.Filters)
        {
            remaining += StringSize(f.Filter) + 1;
        }

        var span = writer.GetSpan(MqttWire.PacketSize(remaining));
        var n = MqttWire.WriteFixedHeader(span, MqttPacketType.Subscribe, 2, remaining);
        BinaryPrimitives.WriteUInt16BigEndian(span[n..], packet.PacketId);
        n += 2;
        if (v5)
        {
            n += WriteProperties(span[n..], packet.Properties, propsSize, lean: false);
        }

        foreach (var f in packet.Filters)
        {
            n += WriteString(span[n..], f.Filter);
            span[n++] = (byte)(f.Qos | (f.NoLocal ? 0x04 : 0) | (f.RetainAsPublished ? 0x08 : 0) | (f.RetainHandling << 4));
        }

        writer.Advance(n);
    }

    /// <summary>Writes an UNSUBSCRIBE (what a client sends).</summary>
    public static void WriteUnsubscribe(IBufferWriter<byte> writer, MqttVersion version, UnsubscribePacket packet)
    {
        var v5 = version == MqttVersion.V500;
        var propsSize = v5 ? packet.Properties?.Size() ?? 0 : 0;
        var remaining = 2 + (v5 ? MqttWire.VarIntSize(propsSize) + propsSize : 0);
        foreach (var f in packet.Filters)
        {
            remaining += StringSize(f);
        }

        var span = writer.GetSpan(MqttWire.PacketSize(remaining));
        var n = MqttWire.WriteFixedHeader(span, MqttPacketType.Unsubscribe, 2, remaining);
        BinaryPrimitives.WriteUInt16BigEndian(span[n..], packet.PacketId);
        n += 2;
        if (v5)
        {
            n += WriteProperties(span[n..], packet.Properties, propsSize, lean: false);
        }

        foreach (var f in packet.Filters)
        {
            n += WriteString(span[n..], f);
        }

        writer.Advance(n);
    }

    /// <summary>Encodes a property block once (for a message's PUBLISH properties, reused for every delivery).</summary>
    public static byte[] EncodeProperties(MqttProperties properties)
    {
        var block = new byte[properties.Size()];
        properties.Write(block);
        return block;
    }

    /// <summary>
    /// The shape of every packet but PUBLISH and CONNECT: the fixed fields, a property block (5.0), then
    /// <paramref name="tail"/>. Properties shrink to fit the peer's limit, else nothing is written.
    /// </summary>
    private static bool TryWrite(IBufferWriter<byte> writer, MqttPacketType type, int flags, ReadOnlySpan<byte> fields, MqttProperties? properties, bool withProperties,
        int maxPacketSize, ReadOnlySpan<byte> tail)
    {
        var fixedFields = fields.Length;
        var lean = false;
        var props = withProperties ? properties?.Size() ?? 0 : 0;
        var remaining = fixedFields + (withProperties ? MqttWire.VarIntSize(props) + props : 0) + tail.Length;
        if (MqttWire.PacketSize(remaining) > maxPacketSize && properties is not null && withProperties)
        {
            lean = true;
            props = properties.Size(lean: true);
            remaining = fixedFields + MqttWire.VarIntSize(props) + props + tail.Length;
        }

        if (MqttWire.PacketSize(remaining) > maxPacketSize)
        {
            return false;
        }

        var size = MqttWire.PacketSize(remaining);
        var span = writer.GetSpan(size);
        var n = MqttWire.WriteFixedHeader(span, type, flags, remaining);
        fields.CopyTo(span[n..]);
        n += fixedFields;
        if (withProperties)
        {
            n += WriteProperties(span[n..], properties, props, lean);
        }

        tail.CopyTo(span[n..]);
        writer.Advance(size);
        return true;
    }

    private static int WriteProperties(Span<byte> span, MqttProperties? properties, int size, bool lean)
    {
        var n = MqttWire.WriteVarInt(span, size);
        if (properties is not null)
        {
            n += properties.Write(span[n..], lean);
        }

        return n;
    }

    private static void WriteEmpty(IBufferWriter<byte> writer, MqttPacketType type)
    {
        var span = writer.GetSpan(2);
        span[0] = (byte)((int)type << 4);
        span[1] = 0;
        writer.Advance(2);
    }

    private static int StringSize(string s) => 2 + Encoding.UTF8.GetByteCount(s);

    private static int WriteString(Span<byte> span, string s)
    {
        var n = Encoding.UTF8.GetBytes(s, span[2..]);
        BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)n);
        return 2 + n;
    }

    private static int WriteBinary(Span<byte> span, ReadOnlySpan<byte> data)
    {
        BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)data.Length);
        data.CopyTo(span[2..]);
        return 2 + data.Length;
    }
}
