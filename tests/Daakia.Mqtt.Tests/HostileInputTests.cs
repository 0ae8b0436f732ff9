using System.Buffers;

namespace Daakia.Mqtt.Tests;

/// <summary>Each malformed or forbidden packet gets the spec's reason code, never an exception.</summary>
public class HostileInputTests
{
    private static string Decode(byte[] bytes, bool v5 = true, bool fromClient = true)
    {
        var status = new MqttFrameReader(1 << 20).TryRead(new ReadOnlySequence<byte>(bytes), out var frame, out _, out var error);
        return status switch
        {
            MqttFrameStatus.Error => Wire.Err(error),
            MqttFrameStatus.Incomplete => "incomplete",
            _ => Wire.Describe(frame, v5 ? MqttVersion.V500 : MqttVersion.V311, fromClient),
        };
    }

    /// <summary>A fixed header for <paramref name="body"/> (remaining length of one byte).</summary>
    private static byte[] Packet(byte first, params byte[] body) => [first, (byte)body.Length, .. body];

    [Fact]
    public void ARemainingLengthPastTheMaximum_IsRefusedOnItsLengthBytes_WithoutAllocating()
    {
        byte[] head = [0x30, 0xFF, 0xFF, 0xFF, 0x7F]; // PUBLISH, 268,435,455 bytes announced, none sent
        var reader = new MqttFrameReader(1024);
        var input = new ReadOnlySequence<byte>(head);
        reader.TryRead(input, out _, out _, out _);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var status = reader.TryRead(input, out _, out var consumed, out var error);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(MqttFrameStatus.Error, status);
        Assert.Equal(MqttReasonCode.PacketTooLarge, error.Code);
        Assert.Equal(input.Start, consumed);
        Assert.True(allocated < 512, $"{allocated} bytes allocated"); // the error's message only
    }

    [Fact]
    public void AFifthLengthByte_IsMalformed()
    {
        Assert.Equal("error 0x81", Decode([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]));
        Assert.Equal("incomplete", Decode([0x30, 0xFF, 0xFF]));
    }

    [Fact]
    public void ReservedPacketType0_IsMalformed() => Assert.Equal("error 0x81", Decode([0x00, 0x00]));

    [Fact]
    public void Auth_IsReservedIn311() => Assert.Equal("error 0x81", Decode([0xF0, 0x00], v5: false));

    [Theory]
    [InlineData(new byte[] { 0x41, 0x02, 0x00, 0x01 })] // PUBACK with flags 1
    [InlineData(new byte[] { 0x60, 0x02, 0x00, 0x01 })] // PUBREL without its 0010 flags
    [InlineData(new byte[] { 0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00 })] // SUBSCRIBE without its flags
    [InlineData(new byte[] { 0xC1, 0x00 })] // PINGREQ with flags
    [InlineData(new byte[] { 0xE2, 0x00 })] // DISCONNECT with flags
    public void ReservedFixedHeaderFlags_AreMalformed(byte[] packet) => Assert.Equal("error 0x81", Decode(packet));

    [Fact]
    public void PublishWithQos3_OrDupOnQos0_IsMalformed()
    {
        Assert.Equal("error 0x81", Decode(Packet(0x36, 0, 1, (byte)'a', 0, 1, 0)));
        Assert.Equal("error 0x81", Decode(Packet(0x38, 0, 1, (byte)'a', 0)));
    }

    [Fact]
    public void PacketIdentifierZero_IsMalformed()
    {
        Assert.Equal("error 0x81", Decode(Packet(0x32, 0, 1, (byte)'a', 0, 0, 0), v5: true));
        Assert.Equal("error 0x81", Decode(Packet(0x40, 0, 0)));
        Assert.Equal("error 0x81", Decode(Packet(0x82, 0, 0, 0, 0, 1, (byte)'a', 0)));
    }

    [Fact]
    public void WildcardsInAPublishTopic_AreTopicNameInvalid()
    {
        Assert.Equal("error 0x90", Decode(Packet(0x30, 0, 3, (byte)'a', (byte)'/', (byte)'#', 0)));
        Assert.Equal("error 0x90", Decode(Packet(0x30, 0, 1, (byte)'+'), v5: false));
    }

    [Fact]
    public void AnEmptyTopic_IsAProtocolError_UnlessAnAliasStandsForIt()
    {
        Assert.Equal("error 0x82", Decode(Packet(0x30, 0, 0, 0)));
        Assert.Equal("error 0x82", Decode(Packet(0x30, 0, 0), v5: false));
        Assert.StartsWith("PUBLISH", Decode(Packet(0x30, 0, 0, 3, 0x23, 0, 1)), StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidUtf8_OrUPlus0000_InAString_IsMalformed()
    {
        Assert.Equal("error 0x81", Decode(Packet(0x30, 0, 2, 0xC3, 0x28, 0)));
        Assert.Equal("error 0x81", Decode(Packet(0x30, 0, 3, (byte)'a', 0, (byte)'b', 0)));
        Assert.Equal("error 0x81", Decode(Packet(0x30, 0, 3, 0xED, 0xA0, 0x80, 0))); // an encoded surrogate
    }

    [Fact]
    public void LengthsPastTheEnd_AreMalformed()
    {
        Assert.Equal("error 0x81", Decode(Packet(0x30, 0, 9, (byte)'a')));        // topic length 9, one byte
        Assert.Equal("error 0x81", Decode(Packet(0x30, 0, 1, (byte)'a', 50, 1))); // property length 50
        Assert.Equal("error 0x81", Decode(Packet(0x30, 0, 1, (byte)'a', 3, 0x03, 0, 9))); // a property string past its block
    }

    [Fact]
    public void ADuplicatedProperty_IsAProtocolError_ExceptUserProperties()
    {
        Assert.Equal("error 0x82", Decode(Packet(0x30, 0, 1, (byte)'a', 4, 0x01, 1, 0x01, 1)));
        Assert.StartsWith("PUBLISH", Decode(Packet(0x30, 0, 1, (byte)'a', 11, 0x26, 0, 1, (byte)'k', 0, 0, 0x26, 0, 0, 0, 0)), StringComparison.Ordinal);
    }

    [Fact]
    public void APropertyNotAllowedOnThePacket_IsAProtocolError()
    {
        Assert.Equal("error 0x82", Decode(Packet(0x30, 0, 1, (byte)'a', 5, 0x11, 0, 0, 0, 1))); // session expiry on PUBLISH
        Assert.Equal("error 0x82", Decode(Packet(0x40, 0, 1, 0, 3, 0x23, 0, 1))); // topic alias on PUBACK
        Assert.Equal("error 0x82", Decode(Packet(0x30, 0, 1, (byte)'a', 2, 0x0B, 1))); // a client's subscription identifier
        Assert.StartsWith("PUBLISH", Decode(Packet(0x30, 0, 1, (byte)'a', 2, 0x0B, 1), fromClient: false), StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownPropertyId_IsMalformed() => Assert.Equal("error 0x81", Decode(Packet(0x30, 0, 1, (byte)'a', 2, 0x05, 0)));

    [Fact]
    public void PropertyValuesOutOfRange_AreProtocolErrors()
    {
        Assert.Equal("error 0x82", Decode(Packet(0x30, 0, 1, (byte)'a', 2, 0x01, 2)));    // payload format 2
        Assert.Equal("error 0x82", Decode(Packet(0x30, 0, 1, (byte)'a', 3, 0x23, 0, 0))); // topic alias 0
    }

    [Fact]
    public void Subscribe_WithoutFilters_OrAnEmptyFilter_OrReservedOptionBits_IsRefused()
    {
        Assert.Equal("error 0x82", Decode(Packet(0x82, 0, 1, 0)));
        Assert.Equal("error 0x82", Decode(Packet(0x82, 0, 1, 0, 0, 0, 1)));
        Assert.Equal("error 0x81", Decode(Packet(0x82, 0, 1, 0, 0, 1, (byte)'a', 0x40)));  // 5.0 reserved bits 6-7
        Assert.Equal("error 0x82", Decode(Packet(0x82, 0, 1, 0, 0, 1, (byte)'a', 0x30)));  // retain handling 3
        Assert.Equal("error 0x81", Decode(Packet(0x82, 0, 1, 0, 0, 1, (byte)'a', 0x03)));  // QoS 3
        Assert.Equal("error 0x81", Decode(Packet(0x82, 0, 1, 0, 1, (byte)'a', 0x04), v5: false)); // 3.1.1: no-local is reserved
        Assert.Equal("error 0x82", Decode(Packet(0xA2, 0, 1, 0)));  // UNSUBSCRIBE without filters
    }

    private static byte[] Connect(byte level, byte flags, params byte[] rest) =>
        Packet(0x10, [0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', level, flags, 0, 60, .. rest]);

    [Fact]
    public void Connect_ReservedFlag_WillInconsistency_AndPasswordWithoutUser_AreMalformed()
    {
        Assert.Equal("error 0x81", Decode(Connect(4, 0x01, 0, 1, (byte)'c')));
        Assert.Equal("error 0x81", Decode(Connect(4, 0x08, 0, 1, (byte)'c'))); // will QoS without the will flag
        Assert.Equal("error 0x81", Decode(Connect(4, 0x20, 0, 1, (byte)'c'))); // will retain without the will flag
        Assert.Equal("error 0x81", Decode(Connect(4, 0x1C, 0, 1, (byte)'c'))); // will QoS 3
        Assert.Equal("error 0x81", Decode(Connect(4, 0x40, 0, 1, (byte)'c', 0, 1, 1))); // 3.1.1 password without a user name
        Assert.StartsWith("CONNECT", Decode(Connect(5, 0x40, 0, 0, 1, (byte)'c', 0, 1, 1)), StringComparison.Ordinal); // allowed in 5.0
    }

    [Fact]
    public void Connect_OfAnotherProtocolOrLevel_IsUnsupportedProtocolVersion_NamingTheLevel()
    {
        var mqisdp = Packet(0x10, [0, 6, (byte)'M', (byte)'Q', (byte)'I', (byte)'s', (byte)'d', (byte)'p', 3, 0, 0, 60, 0, 1, (byte)'c']);
        var status = new MqttFrameReader(1024).TryRead(new ReadOnlySequence<byte>(mqisdp), out var frame, out _, out _);
        Assert.Equal(MqttFrameStatus.Complete, status);
        Assert.False(MqttDecoder.TryDecodeConnect(frame, out _, out var error, out var level));
        Assert.Equal(MqttReasonCode.UnsupportedProtocolVersion, error.Code);
        Assert.Equal(3, level);
        Assert.Equal("error 0x84", Decode(Connect(6, 0x02, 0, 1, (byte)'c')));
    }

    [Fact]
    public void TrailingBytes_AreMalformed()
    {
        Assert.Equal("error 0x81", Decode(Connect(4, 0x02, 0, 1, (byte)'c', 0xAA)));
        Assert.Equal("error 0x81", Decode(Packet(0x40, 0, 1, 0, 0, 7), v5: false)); // 3.1.1 PUBACK is two bytes
        Assert.Equal("error 0x81", Decode(Packet(0xC0, 1)));
    }

    [Fact]
    public void AReasonCodeThatIsNotThePackets_IsMalformed()
    {
        Assert.Equal("error 0x81", Decode(Packet(0x40, 0, 1, 0x92)));   // PUBACK with PUBREL's 0x92
        Assert.Equal("error 0x81", Decode(Packet(0x62, 0, 1, 0x10)));   // PUBREL with 0x10
        Assert.Equal("error 0x81", Decode(Packet(0xE0, 0x01)));         // DISCONNECT 0x01
        Assert.Equal("error 0x81", Decode(Packet(0xF0, 0x04)));         // AUTH 0x04
    }
}
