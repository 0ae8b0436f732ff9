namespace Daakia.Mqtt;

/// <summary>
/// Decodes packet bodies (after <see cref="MqttFrameReader"/> cut them out). Every method returns false with the
/// reason code to answer and a message when the packet is not valid for the protocol version; none throws.
/// </summary>
internal static class MqttDecoder
{
    private static readonly bool[] PubAckCodes = Codes(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99);
    private static readonly bool[] PubRelCodes = Codes(0x00, 0x92);
    private static readonly bool[] DisconnectCodes = Codes(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F,
        0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2);
    private static readonly bool[] AuthCodes = Codes(0x00, 0x18, 0x19);
    private static readonly bool[] SubAckCodes = Codes(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2);
    private static readonly bool[] UnsubAckCodes = Codes(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91);

    /// <summary>
    /// Decodes a CONNECT. A protocol name other than "MQTT" or a level other than 4 or 5 is
    /// <see cref="MqttReasonCode.UnsupportedProtocolVersion"/> (answered with CONNACK 0x01 in 3.1.1, 0x84 in 5.0, MQTT-3.1.2-2);
    /// <paramref name="level"/> is the level the packet named (0 when unreadable), to pick the answer's form.
    /// </summary>
    public static bool TryDecodeConnect(in MqttFrame frame, out ConnectPacket packet, out MqttError error, out byte level)
    {
        packet = null!;
        error = default;
        level = 0;
        try
        {
            RequireFlags(frame, 0);
            var r = new MqttBodyReader(frame.Body);
            var name = r.ReadUtf8().Span;
            level = r.ReadByte();
            if (!name.SequenceEqual("MQTT"u8) || level is not (4 or 5))
            {
                throw new MqttDecodeException(MqttReasonCode.UnsupportedProtocolVersion,
                    $"Protocol '{System.Text.Encoding.UTF8.GetString(name)}' level {level} is not supported (MQTT 3.1.1 and 5.0 are) [MQTT-3.1.2-2].");
            }

            var version = (MqttVersion)level;
            var flags = r.ReadByte();
            if ((flags & 0x01) != 0)
            {
                throw MqttDecodeException.Malformed("The CONNECT flags' reserved bit is set [MQTT-3.1.2-3].");
            }

            var willFlag = (flags & 0x04) != 0;
            var willQos = (byte)((flags >> 3) & 0x03);
            var willRetain = (flags & 0x20) != 0;
            var passwordFlag = (flags & 0x40) != 0;
            var userFlag = (flags & 0x80) != 0;
            if (willQos == 3)
            {
                throw MqttDecodeException.Malformed("The will QoS is 3 [MQTT-3.1.2-14].");
            }

            if (!willFlag && (willQos != 0 || willRetain))
            {
                throw MqttDecodeException.Malformed("Will QoS or retain is set without the will flag [MQTT-3.1.2-13, MQTT-3.1.2-15].");
            }

            if (version == MqttVersion.V311 && passwordFlag && !userFlag)
            {
                throw MqttDecodeException.Malformed("A password without a user name [MQTT-3.1.2-22].");
            }

            var keepAlive = r.ReadUInt16();
            var props = version == MqttVersion.V500 ? ReadProperties(ref r, PropertyContext.Connect) : null;
            var clientId = r.ReadString();
            WillMessage? will = null;
            if (willFlag)
            {
                var willProps = version == MqttVersion.V500 ? ReadProperties(ref r, PropertyContext.Will) : null;
                var topic = r.ReadUtf8();
                CheckTopicName(topic.Span, allowEmpty: false);
                will = new WillMessage
                {
                    Topic = System.Text.Encoding.UTF8.GetString(topic.Span),
                    Payload = r.ReadBinary().ToArray(),
                    Qos = willQos,
                    Retain = willRetain,
                    Properties = willProps,
                };
            }

            var user = userFlag ? r.ReadString() : null;
            var password = passwordFlag ? r.ReadBinary().ToArray() : null;
            RequireEnd(r);
            packet = new ConnectPacket
            {
                Version = version,
                CleanStart = (flags & 0x02) != 0,
                KeepAlive = keepAlive,
                ClientId = clientId,
                Properties = props,
                Will = will,
                UserName = user,
                Password = password,
            };
            return true;
        }
        catch (MqttDecodeException ex)
        {
            error = new MqttError(ex.Code, ex.Message);
            return false;
        }
    }

    /// <summary>Decodes a PUBLISH without allocating. <paramref name="fromClient"/>: a client must not send subscription
    /// identifiers (MQTT-3.3.4-6).</summary>
    public static bool TryDecodePublish(in MqttFrame frame, MqttVersion version, out PublishPacket packet, out MqttError error, bool fromClient = true)
    {
        packet = default;
        error = default;
        try
        {
            var flags = frame.Flags;
            var qos = (byte)((flags >> 1) & 0x03);
            var dup = (flags & 0x08) != 0;
            if (qos == 3)
            {
                throw MqttDecodeException.Malformed("PUBLISH with QoS 3 [MQTT-3.3.1-4].");
            }

            if (qos == 0 && dup)
            {
                throw MqttDecodeException.Malformed("PUBLISH with QoS 0 and DUP set [MQTT-3.3.1-2].");
            }

            var r = new MqttBodyReader(frame.Body);
            var topic = r.ReadUtf8();
            ushort packetId = 0;
            if (qos > 0)
            {
                packetId = r.ReadUInt16();
                if (packetId == 0)
                {
                    throw MqttDecodeException.Malformed("PUBLISH with QoS > 0 and packet identifier 0 [MQTT-2.2.1-3].");
                }
            }

            ReadOnlyMemory<byte> block = default;
            ushort alias = 0;
            byte? format = null;
            uint? expiry = null;
            ReadOnlyMemory<byte> contentType = default, responseTopic = default, correlation = default;
            bool hasContentType = false, hasResponse = false, hasCorrelation = false, hasUser = false, hasSubIds = false;
            if (version == MqttVersion.V500)
            {
                block = r.ReadSlice(r.ReadVarInt());
                ulong seen = 0;
                var e = new MqttPropertyEnumerator(block);
                while (e.MoveNext())
                {
                    var p = e.Current;
                    MqttProperties.Check(p, PropertyContext.Publish, ref seen);
                    switch (p.Id)
                    {
                        case MqttPropertyId.TopicAlias: alias = (ushort)p.Number; break;
                        case MqttPropertyId.PayloadFormatIndicator: format = (byte)p.Number; break;
                        case MqttPropertyId.MessageExpiryInterval: expiry = p.Number; break;
                        case MqttPropertyId.ContentType: contentType = p.Value; hasContentType = true; break;
                        case MqttPropertyId.ResponseTopic: responseTopic = p.Value; hasResponse = true; break;
                        case MqttPropertyId.CorrelationData: correlation = p.Value; hasCorrelation = true; break;
                        case MqttPropertyId.UserProperty: hasUser = true; break;
                        case MqttPropertyId.SubscriptionIdentifier: hasSubIds = true; break;
                    }
                }

                if (fromClient && hasSubIds)
                {
                    throw MqttDecodeException.Protocol("A client's PUBLISH carries a subscription identifier [MQTT-3.3.4-6].");
                }

                if (hasResponse)
                {
                    CheckTopicName(responseTopic.Span, allowEmpty: false);
                }
            }

            CheckTopicName(topic.Span, allowEmpty: version == MqttVersion.V500 && alias != 0);
            packet = new PublishPacket
            {
                Qos = qos,
                Dup = dup,
                Retain = (flags & 0x01) != 0,
                PacketId = packetId,
                Topic = topic,
                Payload = r.ReadRest(),
                Properties = block,
                TopicAlias = alias,
                PayloadFormatIndicator = format,
                MessageExpiryInterval = expiry,
                ContentType = contentType,
                HasContentType = hasContentType,
                ResponseTopic = responseTopic,
                HasResponseTopic = hasResponse,
                CorrelationData = correlation,
                HasCorrelationData = hasCorrelation,
                HasUserProperties = hasUser,
                HasSubscriptionIdentifiers = hasSubIds,
            };
            return true;
        }
        catch (MqttDecodeException ex)
        {
            error = new MqttError(ex.Code, ex.Message);
            return false;
        }
    }

    /// <summary>Decodes PUBACK, PUBREC, PUBREL or PUBCOMP (5.0: a reason code and properties may follow the id).</summary>
    public static bool TryDecodeAck(in MqttFrame frame, MqttVersion version, out AckPacket packet, out MqttError error)
    {
        packet = default;
        error = default;
        try
        {
            var type = frame.Type;
            RequireFlags(frame, type == MqttPacketType.PubRel ? 2 : 0);
            var r = new MqttBodyReader(frame.Body);
            var id = r.ReadUInt16();
            if (id == 0)
            {
                throw MqttDecodeException.Malformed("An acknowledgement with packet identifier 0 [MQTT-2.2.1-3].");
            }

            var reason = MqttReasonCode.Success;
            MqttProperties? props = null;
            if (version == MqttVersion.V500 && !r.End)
            {
                reason = (MqttReasonCode)r.ReadByte();
                var allowed = type is MqttPacketType.PubAck or MqttPacketType.PubRec ? PubAckCodes : PubRelCodes;
                if (!allowed[(byte)reason])
                {
                    throw MqttDecodeException.Malformed($"Reason code 0x{(byte)reason:X2} is not one of {type}'s.");
                }

                if (!r.End)
                {
                    props = ReadProperties(ref r, PropertyContext.Ack);
                }
            }

            RequireEnd(r);
            packet = new AckPacket { Type = type, PacketId = id, Reason = reason, Properties = props };
            return true;
        }
        catch (MqttDecodeException ex)
        {
            error = new MqttError(ex.Code, ex.Message);
            return false;
        }
    }

    /// <summary>Decodes a SUBSCRIBE: at least one filter (MQTT-3.8.3-2), each non-empty, options without reserved bits.</summary>
    public static bool TryDecodeSubscribe(in MqttFrame frame, MqttVersion version, out SubscribePacket packet, out MqttError error)
    {
        packet = null!;
        error = default;
        try
        {
            RequireFlags(frame, 2);
            var r = new MqttBodyReader(frame.Body);
            var id = RequirePacketId(ref r);
            var props = version == MqttVersion.V500 ? ReadProperties(ref r, PropertyContext.Subscribe) : null;
            var filters = new List<TopicSubscription>();
            while (!r.End)
            {
                var filter = ReadFilter(ref r);
                var options = r.ReadByte();
                var qos = (byte)(options & 0x03);
                if (qos == 3)
                {
                    throw MqttDecodeException.Malformed("A subscription's QoS is 3 [MQTT-3.8.3-4].");
                }

                if (version == MqttVersion.V311)
                {
                    if ((options & 0xFC) != 0)
                    {
                        throw MqttDecodeException.Malformed("A subscription's reserved bits are set [MQTT-3.8.3-4].");
                    }

                    filters.Add(new TopicSubscription(filter, qos));
                    continue;
                }

                var handling = (byte)((options >> 4) & 0x03);
                if (handling == 3)
                {
                    throw MqttDecodeException.Protocol("Retain handling 3 [MQTT 5.0 §3.8.3.1].");
                }

                if ((options & 0xC0) != 0)
                {
                    throw MqttDecodeException.Malformed("A subscription's reserved bits are set [MQTT-3.8.3-5].");
                }

                filters.Add(new TopicSubscription(filter, qos, (options & 0x04) != 0, (options & 0x08) != 0, handling));
            }

            if (filters.Count == 0)
            {
                throw MqttDecodeException.Protocol("A SUBSCRIBE without topic filters [MQTT-3.8.3-2].");
            }

            packet = new SubscribePacket { PacketId = id, Properties = props, Filters = filters };
            return true;
        }
        catch (MqttDecodeException ex)
        {
            error = new MqttError(ex.Code, ex.Message);
            return false;
        }
    }

    /// <summary>Decodes an UNSUBSCRIBE: at least one filter (MQTT-3.10.3-2).</summary>
    public static bool TryDecodeUnsubscribe(in MqttFrame frame, MqttVersion version, out UnsubscribePacket packet, out MqttError error)
    {
        packet = null!;
        error = default;
        try
        {
            RequireFlags(frame, 2);
            var r = new MqttBodyReader(frame.Body);
            var id = RequirePacketId(ref r);
            var props = version == MqttVersion.V500 ? ReadProperties(ref r, PropertyContext.Unsubscribe) : null;
            var filters = new List<string>();
            while (!r.End)
            {
                filters.Add(ReadFilter(ref r));
            }

            if (filters.Count == 0)
            {
                throw MqttDecodeException.Protocol("An UNSUBSCRIBE without topic filters [MQTT-3.10.3-2].");
            }

            packet = new UnsubscribePacket { PacketId = id, Properties = props, Filters = filters };
            return true;
        }
        catch (MqttDecodeException ex)
        {
            error = new MqttError(ex.Code, ex.Message);
            return false;
        }
    }

    /// <summary>Decodes PINGREQ or PINGRESP: no flags, no body.</summary>
    public static bool TryDecodeEmpty(in MqttFrame frame, out MqttError error)
    {
        error = default;
        if (frame.Flags != 0 || !frame.Body.IsEmpty)
        {
            error = MqttError.Malformed($"{frame.Type} must have no flags and no body [MQTT-2.1.3-1].");
            return false;
        }

        return true;
    }

    /// <summary>Decodes DISCONNECT (both versions) or AUTH (5.0 only; in 3.1.1 type 15 is reserved).</summary>
    public static bool TryDecodeReason(in MqttFrame frame, MqttVersion version, out ReasonPacket packet, out MqttError error)
    {
        packet = default;
        error = default;
        try
        {
            RequireFlags(frame, 0);
            var auth = frame.Type == MqttPacketType.Auth;
            if (auth && version != MqttVersion.V500)
            {
                throw MqttDecodeException.Malformed("Packet type 15 is reserved in MQTT 3.1.1.");
            }

            var r = new MqttBodyReader(frame.Body);
            var reason = MqttReasonCode.Success;
            MqttProperties? props = null;
            if (version == MqttVersion.V500 && !r.End)
            {
                reason = (MqttReasonCode)r.ReadByte();
                if (!(auth ? AuthCodes : DisconnectCodes)[(byte)reason])
                {
                    throw MqttDecodeException.Malformed($"Reason code 0x{(byte)reason:X2} is not one of {frame.Type}'s.");
                }

                if (!r.End)
                {
                    props = ReadProperties(ref r, auth ? PropertyContext.Auth : PropertyContext.Disconnect);
                }
            }

            RequireEnd(r);
            packet = new ReasonPacket { Type = frame.Type, Reason = reason, Properties = props };
            return true;
        }
        catch (MqttDecodeException ex)
        {
            error = new MqttError(ex.Code, ex.Message);
            return false;
        }
    }

    /// <summary>Decodes a CONNACK (what a client receives).</summary>
    public static bool TryDecodeConnAck(in MqttFrame frame, MqttVersion version, out ConnAckPacket packet, out MqttError error)
    {
        packet = null!;
        error = default;
        try
        {
            RequireFlags(frame, 0);
            var r = new MqttBodyReader(frame.Body);
            var ackFlags = r.ReadByte();
            if ((ackFlags & 0xFE) != 0)
            {
                throw MqttDecodeException.Malformed("The CONNACK flags' reserved bits are set [MQTT-3.2.2-1].");
            }

            var code = r.ReadByte();
            var props = version == MqttVersion.V500 ? ReadProperties(ref r, PropertyContext.ConnAck) : null;
            RequireEnd(r);
            packet = new ConnAckPacket { SessionPresent = (ackFlags & 1) != 0, Code = code, Properties = props };
            return true;
        }
        catch (MqttDecodeException ex)
        {
            error = new MqttError(ex.Code, ex.Message);
            return false;
        }
    }

    /// <summary>Decodes a SUBACK (what a client receives).</summary>
    public static bool TryDecodeSubAck(in MqttFrame frame, MqttVersion version, out SubAckPacket packet, out MqttError error)
    {
        packet = null!;
        error = default;
        try
        {
            RequireFlags(frame, 0);
            var r = new MqttBodyReader(frame.Body);
            var id = RequirePacketId(ref r);
            var props = version == MqttVersion.V500 ? ReadProperties(ref r, PropertyContext.SubAck) : null;
            var codes = r.ReadRest().ToArray();
            foreach (var c in codes)
            {
                if (version == MqttVersion.V311 ? c is not (0 or 1 or 2 or 0x80) : !SubAckCodes[c])
                {
                    throw MqttDecodeException.Malformed($"SUBACK return code 0x{c:X2}.");
                }
            }

            packet = new SubAckPacket { PacketId = id, Properties = props, Codes = codes };
            return true;
        }
        catch (MqttDecodeException ex)
        {
            error = new MqttError(ex.Code, ex.Message);
            return false;
        }
    }

    /// <summary>Decodes an UNSUBACK (what a client receives).</summary>
    public static bool TryDecodeUnsubAck(in MqttFrame frame, MqttVersion version, out UnsubAckPacket packet, out MqttError error)
    {
        packet = null!;
        error = default;
        try
        {
            RequireFlags(frame, 0);
            var r = new MqttBodyReader(frame.Body);
            var id = RequirePacketId(ref r);
            MqttProperties? props = null;
            byte[] codes = [];
            if (version == MqttVersion.V500)
            {
                props = ReadProperties(ref r, PropertyContext.UnsubAck);
                codes = r.ReadRest().ToArray();
                foreach (var c in codes)
                {
                    if (!UnsubAckCodes[c])
                    {
                        throw MqttDecodeException.Malformed($"UNSUBACK reason code 0x{c:X2}.");
                    }
                }
            }

            RequireEnd(r);
            packet = new UnsubAckPacket { PacketId = id, Properties = props, Codes = codes };
            return true;
        }
        catch (MqttDecodeException ex)
        {
            error = new MqttError(ex.Code, ex.Message);
            return false;
        }
    }

    /// <summary>A topic name (§4.7): no wildcards (MQTT-3.3.2-2), not empty unless a topic alias stands for it.</summary>
    private static void CheckTopicName(ReadOnlySpan<byte> topic, bool allowEmpty)
    {
        if (topic.IsEmpty && !allowEmpty)
        {
            throw MqttDecodeException.Protocol("The topic name is empty [MQTT-4.7.3-1].");
        }

        if (topic.IndexOfAny((byte)'+', (byte)'#') >= 0)
        {
            throw new MqttDecodeException(MqttReasonCode.TopicNameInvalid, "A topic name contains a wildcard [MQTT-3.3.2-2].");
        }
    }

    private static string ReadFilter(ref MqttBodyReader r)
    {
        var filter = r.ReadUtf8();
        if (filter.IsEmpty)
        {
            throw MqttDecodeException.Protocol("An empty topic filter [MQTT-4.7.3-1].");
        }

        return System.Text.Encoding.UTF8.GetString(filter.Span);
    }

    private static MqttProperties? ReadProperties(ref MqttBodyReader r, PropertyContext context)
    {
        var length = r.ReadVarInt();
        return MqttProperties.Read(r.ReadSlice(length), context);
    }

    private static ushort RequirePacketId(ref MqttBodyReader r)
    {
        var id = r.ReadUInt16();
        if (id == 0)
        {
            throw MqttDecodeException.Malformed("Packet identifier 0 [MQTT-2.2.1-3].");
        }

        return id;
    }

    private static void RequireFlags(in MqttFrame frame, int flags)
    {
        if (frame.Flags != flags)
        {
            throw MqttDecodeException.Malformed($"{frame.Type} with fixed-header flags {frame.Flags}, not {flags} [MQTT-2.1.3-1].");
        }
    }

    private static void RequireEnd(in MqttBodyReader r)
    {
        if (!r.End)
        {
            throw MqttDecodeException.Malformed($"{r.Remaining} bytes after the end of the packet.");
        }
    }

    private static bool[] Codes(params byte[] codes)
    {
        var table = new bool[256];
        foreach (var c in codes)
        {
            table[c] = true;
        }

        return table;
    }
}
