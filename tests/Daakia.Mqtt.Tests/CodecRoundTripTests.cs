using System.Buffers;

namespace Daakia.Mqtt.Tests;

public class CodecRoundTripTests
{
    public static TheoryData<string> All => Samples.Names();

    [Theory]
    [MemberData(nameof(All))]
    public void EverySamplePacket_DecodesWithoutError(string name)
    {
        var sample = Samples.Named(name);
        var text = Wire.Describe(Wire.Frame(sample.Bytes), sample.Version, sample.FromClient);
        Assert.DoesNotContain("error", text, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void EveryPrefixOfAPacket_IsIncomplete_AndConsumesNothing(string name)
    {
        var sample = Samples.Named(name);
        var reader = new MqttFrameReader(1 << 20);
        for (var n = 0; n < sample.Bytes.Length; n++)
        {
            var input = new ReadOnlySequence<byte>(sample.Bytes, 0, n);
            var status = reader.TryRead(input, out _, out var consumed, out _);
            Assert.Equal(MqttFrameStatus.Incomplete, status);
            Assert.Equal(input.Start, consumed);
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void APacketSplitAtEveryOffset_DecodesAsTheWholeOne(string name)
    {
        var sample = Samples.Named(name);
        var whole = Wire.Describe(Wire.Frame(sample.Bytes), sample.Version, sample.FromClient);
        var reader = new MqttFrameReader(1 << 20);
        for (var i = 1; i < sample.Bytes.Length; i++)
        {
            foreach (var cuts in new[] { new[] { i }, new[] { i / 2, i } })
            {
                var input = Wire.Segments(sample.Bytes, cuts);
                Assert.Equal(MqttFrameStatus.Complete, reader.TryRead(input, out var frame, out var consumed, out _));
                Assert.Equal(input.End, consumed);
                Assert.Equal(whole, Wire.Describe(frame, sample.Version, sample.FromClient));
            }
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void TwoPacketsInOneBuffer_AreReadOneAfterTheOther(string name)
    {
        var sample = Samples.Named(name);
        var both = sample.Bytes.Concat(sample.Bytes).ToArray();
        var reader = new MqttFrameReader(1 << 20);
        var input = new ReadOnlySequence<byte>(both);
        Assert.Equal(MqttFrameStatus.Complete, reader.TryRead(input, out _, out var first, out _));
        var rest = input.Slice(first);
        Assert.Equal(sample.Bytes.Length, rest.Length);
        Assert.Equal(MqttFrameStatus.Complete, reader.TryRead(rest, out _, out var second, out _));
        Assert.Equal(rest.End, second);
    }

    [Fact]
    public void Connect_RoundTripsEveryField()
    {
        var sample = Samples.Named("CONNECT full 5.0");
        var text = Wire.Describe(Wire.Frame(sample.Bytes), MqttVersion.V500);
        Assert.Equal(
            "CONNECT v5 clean=False ka=65535 id=client-ü user=user pw=0001FF props=SessionExpiryInterval=300;AuthenticationMethod=m;AuthenticationData=09;" +
            "RequestProblemInformation=0;RequestResponseInformation=1;ReceiveMaximum=10;TopicAliasMaximum=5;UserProperties=a:b;MaximumPacketSize=1048576 " +
            "will=will/topic/676F6E65/q1/rTrue/PayloadFormatIndicator=1;MessageExpiryInterval=60;ContentType=text/plain;WillDelayInterval=5",
            text);
    }

    [Fact]
    public void Publish_RoundTripsItsPropertiesInOrder()
    {
        var sample = Samples.Named("PUBLISH properties 5.0");
        Assert.Equal(
            "PUBLISH q1 dup=False r=False id=1 topic=t/1 payload=70 alias=0 pfi=1 exp=3600 ct=text/plain rt=reply/here cd=010203 users=k=v;k=v2;ü=ß;",
            Wire.Describe(Wire.Frame(sample.Bytes), MqttVersion.V500));
        var toClient = Samples.Named("PUBLISH to a client with subscription ids 5.0");
        Assert.EndsWith("alias=4 pfi=1 exp=3600 ct=text/plain rt=reply/here cd=010203 users=k=v;k=v2;ü=ß;sid1;sid268435455;",
            Wire.Describe(Wire.Frame(toClient.Bytes), MqttVersion.V500, fromClient: false), StringComparison.Ordinal);
    }

    [Fact]
    public void Subscribe_RoundTripsOptions()
    {
        var v5 = Samples.Named("SUBSCRIBE 5.0");
        Assert.Equal("SUBSCRIBE id=9 props=SubscriptionIdentifiers=77;UserProperties=u:1 a/+/c/q1/nlTrue/rapTrue/rh2,#/q2/nlFalse/rapFalse/rh0,$share/g/x/#/q0/nlFalse/rapFalse/rh1",
            Wire.Describe(Wire.Frame(v5.Bytes), MqttVersion.V500));
        var v3 = Samples.Named("SUBSCRIBE 3.1.1");
        Assert.Equal("SUBSCRIBE id=9 props=none a/+/c/q1/nlFalse/rapFalse/rh0,#/q2/nlFalse/rapFalse/rh0", Wire.Describe(Wire.Frame(v3.Bytes), MqttVersion.V311));
    }

    [Fact]
    public void ShortFormAcks_AreTwoBytesOfPacketId_AndSuccess()
    {
        var ack = Wire.Encode(w => MqttEncoder.TryWriteAck(w, MqttVersion.V500, MqttPacketType.PubAck, 0x1234));
        Assert.Equal(new byte[] { 0x40, 0x02, 0x12, 0x34 }, ack);
        var rel = Wire.Encode(w => MqttEncoder.TryWriteAck(w, MqttVersion.V311, MqttPacketType.PubRel, 1));
        Assert.Equal(new byte[] { 0x62, 0x02, 0x00, 0x01 }, rel);
        Assert.Equal("PubAck id=4660 reason=Success props=none", Wire.Describe(Wire.Frame(ack), MqttVersion.V500));
    }

    [Fact]
    public void ThreeOneOne_WritesNoPropertiesOrReasonCodes()
    {
        var ack = Wire.Encode(w => MqttEncoder.TryWriteAck(w, MqttVersion.V311, MqttPacketType.PubAck, 5, MqttReasonCode.QuotaExceeded, new MqttProperties { ReasonString = "x" }));
        Assert.Equal(new byte[] { 0x40, 0x02, 0x00, 0x05 }, ack);
        var connack = Wire.Encode(w => MqttEncoder.TryWriteConnAck(w, MqttVersion.V311, false, (byte)MqttConnectReturnCode.IdentifierRejected, new MqttProperties { ReasonString = "x" }));
        Assert.Equal(new byte[] { 0x20, 0x02, 0x00, 0x02 }, connack);
        var disconnect = Wire.Encode(w => MqttEncoder.TryWriteReason(w, MqttVersion.V311, MqttPacketType.Disconnect, MqttReasonCode.ServerShuttingDown));
        Assert.Equal(new byte[] { 0xE0, 0x00 }, disconnect);
    }

    [Fact]
    public void APacketOverThePeersMaximum_DropsReasonStringAndUserPropertiesFirst_ThenIsNotWritten()
    {
        var props = new MqttProperties { ReasonString = new string('r', 100), UserProperties = [new("k", new string('v', 100))] };
        var full = Wire.Encode(w => MqttEncoder.TryWriteAck(w, MqttVersion.V500, MqttPacketType.PubAck, 1, MqttReasonCode.QuotaExceeded, props));
        Assert.True(full.Length > 200);
        var lean = new ArrayBufferWriter<byte>();
        Assert.True(MqttEncoder.TryWriteAck(lean, MqttVersion.V500, MqttPacketType.PubAck, 1, MqttReasonCode.QuotaExceeded, props, maxPacketSize: 10));
        Assert.Equal(new byte[] { 0x40, 0x04, 0x00, 0x01, 0x97, 0x00 }, lean.WrittenSpan.ToArray());
        var none = new ArrayBufferWriter<byte>();
        Assert.False(MqttEncoder.TryWriteAck(none, MqttVersion.V500, MqttPacketType.PubAck, 1, MqttReasonCode.QuotaExceeded, props, maxPacketSize: 5));
        Assert.Equal(0, none.WrittenCount);
        Assert.False(MqttEncoder.TryWritePublish(none, MqttVersion.V500, "t"u8, new byte[100], 1, false, false, 1, maxPacketSize: 100));
        Assert.Equal(0, none.WrittenCount);
        Assert.True(MqttEncoder.TryWritePublish(none, MqttVersion.V500, "t"u8, new byte[100], 1, false, false, 1, maxPacketSize: 108));
        Assert.Equal(108, none.WrittenCount);
    }
}
