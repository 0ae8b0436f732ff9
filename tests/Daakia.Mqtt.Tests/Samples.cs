using System.Text;

namespace Daakia.Mqtt.Tests;

/// <summary>One valid packet of every type in both versions, as our encoder writes them.</summary>
internal static class Samples
{
    public sealed record Sample(string Name, MqttVersion Version, byte[] Bytes, bool FromClient)
    {
        public override string ToString() => Name;
    }

    public static MqttProperties FullMessageProperties() => new()
    {
        PayloadFormatIndicator = 1,
        MessageExpiryInterval = 3600,
        ContentType = "text/plain",
        ResponseTopic = "reply/here",
        CorrelationData = [1, 2, 3],
        UserProperties = [new("k", "v"), new("k", "v2"), new("ü", "ß")],
    };

    public static IEnumerable<Sample> All()
    {
        foreach (var v in new[] { MqttVersion.V311, MqttVersion.V500 })
        {
            var v5 = v == MqttVersion.V500;
            var tag = v5 ? "5.0" : "3.1.1";
            yield return new($"CONNECT minimal {tag}", v, Wire.Encode(w => MqttEncoder.WriteConnect(w, new ConnectPacket { Version = v, CleanStart = true, KeepAlive = 30, ClientId = "c1" })), true);
            yield return new($"CONNECT full {tag}", v, Wire.Encode(w => MqttEncoder.WriteConnect(w, new ConnectPacket
            {
                Version = v,
                KeepAlive = 65535,
                ClientId = "client-ü",
                UserName = "user",
                Password = [0, 1, 255],
                Properties = v5 ? new MqttProperties { SessionExpiryInterval = 300, ReceiveMaximum = 10, MaximumPacketSize = 1 << 20, TopicAliasMaximum = 5, RequestProblemInformation = 0, RequestResponseInformation = 1, AuthenticationMethod = "m", AuthenticationData = [9], UserProperties = [new("a", "b")] } : null,
                Will = new WillMessage
                {
                    Topic = "will/topic",
                    Payload = Encoding.UTF8.GetBytes("gone"),
                    Qos = 1,
                    Retain = true,
                    Properties = v5 ? new MqttProperties { WillDelayInterval = 5, MessageExpiryInterval = 60, ContentType = "text/plain", PayloadFormatIndicator = 1 } : null,
                },
            })), true);
            yield return new($"CONNACK {tag}", v, Wire.Encode(w => MqttEncoder.TryWriteConnAck(w, v, true, 0, v5 ? new MqttProperties
            {
                AssignedClientIdentifier = "auto-1",
                ServerKeepAlive = 60,
                ReceiveMaximum = 100,
                MaximumQos = 1,
                RetainAvailable = 1,
                MaximumPacketSize = 1 << 20,
                TopicAliasMaximum = 10,
                WildcardSubscriptionAvailable = 1,
                SubscriptionIdentifierAvailable = 1,
                SharedSubscriptionAvailable = 1,
                ReasonString = "welcome",
                SessionExpiryInterval = 10,
            } : null)), false);
            yield return new($"PUBLISH qos0 {tag}", v, Wire.Encode(w => MqttEncoder.TryWritePublish(w, v, "a/b"u8, "hello"u8, 0, false, false, 0)), true);
            yield return new($"PUBLISH qos1 retain dup {tag}", v, Wire.Encode(w => MqttEncoder.TryWritePublish(w, v, "a/b/c"u8, new byte[300], 1, true, true, 7)), true);
            yield return new($"PUBLISH qos2 empty payload {tag}", v, Wire.Encode(w => MqttEncoder.TryWritePublish(w, v, "x"u8, [], 2, false, false, 65535)), true);
            if (v5)
            {
                var block = MqttEncoder.EncodeProperties(FullMessageProperties());
                yield return new("PUBLISH properties 5.0", v, Wire.Encode(w => MqttEncoder.TryWritePublish(w, v, "t/1"u8, "p"u8, 1, false, false, 1, block)), true);
                yield return new("PUBLISH alias, no topic 5.0", v, Wire.Encode(w => MqttEncoder.TryWritePublish(w, v, [], "p"u8, 0, false, false, 0, topicAlias: 3)), true);
                yield return new("PUBLISH to a client with subscription ids 5.0", v, Wire.Encode(w => MqttEncoder.TryWritePublish(w, v, "t"u8, "p"u8, 1, false, false, 2, block, 4, [1, 268_435_455])), false);
            }

            foreach (var type in new[] { MqttPacketType.PubAck, MqttPacketType.PubRec, MqttPacketType.PubRel, MqttPacketType.PubComp })
            {
                yield return new($"{type} {tag}", v, Wire.Encode(w => MqttEncoder.TryWriteAck(w, v, type, 42)), true);
                if (v5)
                {
                    var reason = type is MqttPacketType.PubAck or MqttPacketType.PubRec ? MqttReasonCode.QuotaExceeded : MqttReasonCode.PacketIdentifierNotFound;
                    yield return new($"{type} reason 5.0", v, Wire.Encode(w => MqttEncoder.TryWriteAck(w, v, type, 42, reason)), true);
                    yield return new($"{type} reason and properties 5.0", v, Wire.Encode(w => MqttEncoder.TryWriteAck(w, v, type, 42, reason, new MqttProperties { ReasonString = "why", UserProperties = [new("x", "y")] })), true);
                }
            }

            yield return new($"SUBSCRIBE {tag}", v, Wire.Encode(w => MqttEncoder.WriteSubscribe(w, v, new SubscribePacket
            {
                PacketId = 9,
                Properties = v5 ? new MqttProperties { SubscriptionIdentifiers = [77], UserProperties = [new("u", "1")] } : null,
                Filters = v5
                    ? [new("a/+/c", 1, true, true, 2), new("#", 2), new("$share/g/x/#", 0, false, false, 1)]
                    : [new("a/+/c", 1), new("#", 2)],
            })), true);
            yield return new($"SUBACK {tag}", v, Wire.Encode(w => MqttEncoder.TryWriteSubAck(w, v, 9, v5 ? [1, 2, 0x8F] : [1, 2, 0x80], v5 ? new MqttProperties { ReasonString = "partly" } : null)), false);
            yield return new($"UNSUBSCRIBE {tag}", v, Wire.Encode(w => MqttEncoder.WriteUnsubscribe(w, v, new UnsubscribePacket { PacketId = 10, Filters = ["a/+/c", "#"], Properties = v5 ? new MqttProperties { UserProperties = [new("u", "2")] } : null })), true);
            yield return new($"UNSUBACK {tag}", v, Wire.Encode(w => MqttEncoder.TryWriteUnsubAck(w, v, 10, v5 ? [0, 0x11] : [])), false);
            yield return new($"PINGREQ {tag}", v, Wire.Encode(MqttEncoder.WritePingReq), true);
            yield return new($"PINGRESP {tag}", v, Wire.Encode(MqttEncoder.WritePingResp), false);
            yield return new($"DISCONNECT {tag}", v, Wire.Encode(w => MqttEncoder.TryWriteReason(w, v, MqttPacketType.Disconnect, MqttReasonCode.Success)), true);
            if (v5)
            {
                yield return new("DISCONNECT with will, properties 5.0", v, Wire.Encode(w => MqttEncoder.TryWriteReason(w, v, MqttPacketType.Disconnect, MqttReasonCode.DisconnectWithWill, new MqttProperties { SessionExpiryInterval = 0, ReasonString = "bye" })), true);
                yield return new("DISCONNECT session taken over 5.0", v, Wire.Encode(w => MqttEncoder.TryWriteReason(w, v, MqttPacketType.Disconnect, MqttReasonCode.SessionTakenOver, new MqttProperties { ServerReference = "other" })), false);
                yield return new("AUTH 5.0", v, Wire.Encode(w => MqttEncoder.TryWriteReason(w, v, MqttPacketType.Auth, MqttReasonCode.ContinueAuthentication, new MqttProperties { AuthenticationMethod = "SCRAM", AuthenticationData = [1, 2] })), true);
            }
        }
    }

    private static readonly Dictionary<string, Sample> ByName = All().ToDictionary(s => s.Name);

    public static Sample Named(string name) => ByName[name];

    /// <summary>Every sample's name, for theories (the samples' types are internal to the codec).</summary>
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var s in All())
        {
            data.Add(s.Name);
        }

        return data;
    }
}
