using System.Buffers;
using System.Text;
using MQTTnet.Adapter;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Daakia.Mqtt.Tests;

/// <summary>Packets MQTTnet 5.2's own formatter writes decode with ours, and ours decode with it — both versions.</summary>
public class InteropTests
{
    private static MqttPacketFormatterAdapter Formatter(bool v5) =>
        new(v5 ? MqttProtocolVersion.V500 : MqttProtocolVersion.V311, new MqttBufferWriter(4096, 65536));

    private static byte[] TheirBytes(MqttPacket packet, bool v5) => Formatter(v5).Encode(packet).ToArray();

    private static MqttPacket TheirDecode(byte[] bytes, bool v5)
    {
        var frame = Wire.Frame(bytes);
        return Formatter(v5).Decode(new ReceivedMqttPacket(bytes[0], new ArraySegment<byte>(frame.Body.ToArray()), bytes.Length));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheirConnect_DecodesWithOurs(bool v5)
    {
        var bytes = TheirBytes(new MqttConnectPacket
        {
            ClientId = "dev-1",
            CleanSession = true,
            KeepAlivePeriod = 42,
            Username = "u",
            Password = [1, 2],
            WillFlag = true,
            WillTopic = "w/t",
            WillMessage = Encoding.UTF8.GetBytes("bye"),
            WillQoS = MqttQualityOfServiceLevel.AtLeastOnce,
            WillRetain = true,
            SessionExpiryInterval = v5 ? 120u : 0,
            ReceiveMaximum = v5 ? (ushort)50 : (ushort)0,
            WillDelayInterval = v5 ? 7u : 0,
        }, v5);
        Assert.True(MqttDecoder.TryDecodeConnect(Wire.Frame(bytes), out var c, out var error, out _), error.Message);
        Assert.Equal(v5 ? MqttVersion.V500 : MqttVersion.V311, c.Version);
        Assert.Equal(("dev-1", true, (ushort)42, "u"), (c.ClientId, c.CleanStart, c.KeepAlive, c.UserName));
        Assert.Equal(new byte[] { 1, 2 }, c.Password);
        Assert.Equal(("w/t", "bye", (byte)1, true), (c.Will!.Topic, Encoding.UTF8.GetString(c.Will.Payload), c.Will.Qos, c.Will.Retain));
        if (v5)
        {
            Assert.Equal((120u, (ushort)50, 7u), (c.Properties!.SessionExpiryInterval!.Value, c.Properties.ReceiveMaximum!.Value, c.Will.Properties!.WillDelayInterval!.Value));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheirPublish_DecodesWithOurs(bool v5)
    {
        var packet = new MqttPublishPacket
        {
            Topic = "sensors/1/temp",
            Payload = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes("21.5")),
            QualityOfServiceLevel = MqttQualityOfServiceLevel.ExactlyOnce,
            PacketIdentifier = 1234,
            Retain = true,
        };
        if (v5)
        {
            packet.ContentType = "text/plain";
            packet.ResponseTopic = "r/1";
            packet.CorrelationData = [7];
            packet.MessageExpiryInterval = 99;
            packet.UserProperties = [new MqttUserProperty("unit", new ReadOnlyMemory<byte>("C"u8.ToArray()))];
        }

        var text = Wire.Describe(Wire.Frame(TheirBytes(packet, v5)), v5 ? MqttVersion.V500 : MqttVersion.V311);
        Assert.StartsWith("PUBLISH q2 dup=False r=True id=1234 topic=sensors/1/temp payload=32312E35", text, StringComparison.Ordinal);
        if (v5)
        {
            Assert.EndsWith("exp=99 ct=text/plain rt=r/1 cd=07 users=unit=C;", text, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheirSubscribeAndUnsubscribe_DecodeWithOurs(bool v5)
    {
        var sub = TheirBytes(new MqttSubscribePacket
        {
            PacketIdentifier = 5,
            SubscriptionIdentifier = v5 ? 9u : 0,
            TopicFilters =
            [
                new MqttTopicFilter { Topic = "a/#", QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce, NoLocal = v5, RetainHandling = v5 ? MqttRetainHandling.DoNotSendOnSubscribe : 0 },
                new MqttTopicFilter { Topic = "b/+", QualityOfServiceLevel = MqttQualityOfServiceLevel.ExactlyOnce },
            ],
        }, v5);
        var version = v5 ? MqttVersion.V500 : MqttVersion.V311;
        Assert.True(MqttDecoder.TryDecodeSubscribe(Wire.Frame(sub), version, out var s, out var error), error.Message);
        Assert.Equal(5, s.PacketId);
        Assert.Equal(new TopicSubscription("a/#", 1, v5, false, (byte)(v5 ? 2 : 0)), s.Filters[0]);
        Assert.Equal(new TopicSubscription("b/+", 2), s.Filters[1]);
        Assert.Equal(v5 ? 9 : (int?)null, s.Properties?.SubscriptionIdentifiers?[0]);

        var unsub = TheirBytes(new MqttUnsubscribePacket { PacketIdentifier = 6, TopicFilters = ["a/#"] }, v5);
        Assert.True(MqttDecoder.TryDecodeUnsubscribe(Wire.Frame(unsub), version, out var u, out error), error.Message);
        Assert.Equal((6, "a/#"), (u.PacketId, u.Filters.Single()));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OurConnAck_DecodesWithTheirs(bool v5)
    {
        var version = v5 ? MqttVersion.V500 : MqttVersion.V311;
        var bytes = Wire.Encode(w => MqttEncoder.TryWriteConnAck(w, version, true, 0, v5 ? new MqttProperties { AssignedClientIdentifier = "auto", ReceiveMaximum = 64, TopicAliasMaximum = 10, SharedSubscriptionAvailable = 1, MaximumQos = 1 } : null));
        var ack = Assert.IsType<MqttConnAckPacket>(TheirDecode(bytes, v5));
        Assert.True(ack.IsSessionPresent);
        if (v5)
        {
            Assert.Equal(MqttConnectReasonCode.Success, ack.ReasonCode);
            Assert.Equal(("auto", (ushort)64, (ushort)10, true, MqttQualityOfServiceLevel.AtLeastOnce), (ack.AssignedClientIdentifier, ack.ReceiveMaximum, ack.TopicAliasMaximum, ack.SharedSubscriptionAvailable, ack.MaximumQoS));
        }
        else
        {
            Assert.Equal(MQTTnet.Protocol.MqttConnectReturnCode.ConnectionAccepted, ack.ReturnCode);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OurPublish_DecodesWithTheirs(bool v5)
    {
        var version = v5 ? MqttVersion.V500 : MqttVersion.V311;
        var props = v5 ? MqttEncoder.EncodeProperties(Samples.FullMessageProperties()) : [];
        var bytes = Wire.Encode(w => MqttEncoder.TryWritePublish(w, version, "x/y"u8, "data"u8, 1, true, true, 77, props, 0, v5 ? [3] : []));
        var p = Assert.IsType<MqttPublishPacket>(TheirDecode(bytes, v5));
        Assert.Equal(("x/y", "data", MqttQualityOfServiceLevel.AtLeastOnce, (ushort)77, true, true), (p.Topic, Encoding.UTF8.GetString(p.Payload.ToArray()), p.QualityOfServiceLevel, p.PacketIdentifier, p.Retain, p.Dup));
        if (v5)
        {
            Assert.Equal(("text/plain", "reply/here", 3600u, 3), (p.ContentType, p.ResponseTopic, p.MessageExpiryInterval, p.UserProperties.Count));
            Assert.Equal(3u, p.SubscriptionIdentifiers.Single());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OurAcks_DecodeWithTheirs(bool v5)
    {
        var version = v5 ? MqttVersion.V500 : MqttVersion.V311;
        var suback = Assert.IsType<MqttSubAckPacket>(TheirDecode(Wire.Encode(w => MqttEncoder.TryWriteSubAck(w, version, 3, [1, 0x80])), v5));
        Assert.Equal(3, suback.PacketIdentifier);
        Assert.Equal(2, suback.ReasonCodes.Count);
        var unsuback = Assert.IsType<MqttUnsubAckPacket>(TheirDecode(Wire.Encode(w => MqttEncoder.TryWriteUnsubAck(w, version, 4, [0, 0x11])), v5));
        Assert.Equal(4, unsuback.PacketIdentifier);
        var puback = Assert.IsType<MqttPubAckPacket>(TheirDecode(Wire.Encode(w => MqttEncoder.TryWriteAck(w, version, MqttPacketType.PubAck, 8, v5 ? MqttReasonCode.QuotaExceeded : 0)), v5));
        Assert.Equal(8, puback.PacketIdentifier);
        Assert.Equal(v5 ? MqttPubAckReasonCode.QuotaExceeded : MqttPubAckReasonCode.Success, puback.ReasonCode);
        Assert.IsType<MqttPingRespPacket>(TheirDecode(Wire.Encode(MqttEncoder.WritePingResp), v5));
    }
}
