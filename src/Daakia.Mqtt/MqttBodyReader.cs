using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace Daakia.Mqtt;

/// <summary>Why a packet body could not be read; caught at the decoder's entry and turned into an <see cref="MqttError"/>.</summary>
internal sealed class MqttDecodeException(MqttReasonCode code, string message) : Exception(message)
{
    public MqttReasonCode Code { get; } = code;

    public static MqttDecodeException Malformed(string message) => new(MqttReasonCode.MalformedPacket, message);

    public static MqttDecodeException Protocol(string message) => new(MqttReasonCode.ProtocolError, message);
}

/// <summary>
/// Reads the data types of MQTT §1.5 from one packet's body. Every read checks what remains first, so a length that
/// points past the body is malformed, never an out-of-range read.
/// </summary>
internal ref struct MqttBodyReader
{
    private readonly ReadOnlyMemory<byte> _memory;
    private readonly ReadOnlySpan<byte> _span;
    private int _pos;

    public MqttBodyReader(ReadOnlyMemory<byte> body)
    {
        _memory = body;
        _span = body.Span;
        _pos = 0;
    }

    public readonly int Remaining => _span.Length - _pos;

    public readonly int Position => _pos;

    public readonly bool End => _pos == _span.Length;

    public byte ReadByte()
    {
        Need(1, "a byte");
        return _span[_pos++];
    }

    public ushort ReadUInt16()
    {
        Need(2, "a two byte integer");
        var v = BinaryPrimitives.ReadUInt16BigEndian(_span[_pos..]);
        _pos += 2;
        return v;
    }

    public uint ReadUInt32()
    {
        Need(4, "a four byte integer");
        var v = BinaryPrimitives.ReadUInt32BigEndian(_span[_pos..]);
        _pos += 4;
        return v;
    }

    /// <summary>A variable byte integer (§1.5.5): at most four bytes, the smallest encoding not required by the spec.</summary>
    public int ReadVarInt()
    {
        var value = 0;
        for (var i = 0; i < 4; i++)
        {
            var b = ReadByte();
            value |= (b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        throw MqttDecodeException.Malformed("A variable byte integer is longer than four bytes.");
    }

    /// <summary>Binary data (§1.5.6): a two byte length and that many bytes, as a slice of the packet.</summary>
    public ReadOnlyMemory<byte> ReadBinary()
    {
        var length = ReadUInt16();
        Need(length, "binary data");
        var slice = _memory.Slice(_pos, length);
        _pos += length;
        return slice;
    }

    /// <summary>A UTF-8 string (§1.5.4) as a slice of the packet: well-formed UTF-8 without U+0000 (MQTT-1.5.4-1, MQTT-1.5.4-2).</summary>
    public ReadOnlyMemory<byte> ReadUtf8()
    {
        var slice = ReadBinary();
        Validate(slice.Span);
        return slice;
    }

    public string ReadString() => Encoding.UTF8.GetString(ReadUtf8().Span);

    /// <summary>The rest of the body, as a slice.</summary>
    public ReadOnlyMemory<byte> ReadRest()
    {
        var slice = _memory[_pos..];
        _pos = _span.Length;
        return slice;
    }

    /// <summary>A slice of <paramref name="length"/> bytes (a property block), checked against what remains.</summary>
    public ReadOnlyMemory<byte> ReadSlice(int length)
    {
        Need(length, "a property block");
        var slice = _memory.Slice(_pos, length);
        _pos += length;
        return slice;
    }

    public static void Validate(ReadOnlySpan<byte> utf8)
    {
        if (!Utf8.IsValid(utf8))
        {
            throw MqttDecodeException.Malformed("A UTF-8 string is not well-formed UTF-8 [MQTT-1.5.4-1].");
        }

        if (utf8.Contains((byte)0))
        {
            throw MqttDecodeException.Malformed("A UTF-8 string contains U+0000 [MQTT-1.5.4-2].");
        }
    }

    private readonly void Need(int count, string what)
    {
        if (count > _span.Length - _pos)
        {
            throw MqttDecodeException.Malformed($"The packet ends inside {what}.");
        }
    }
}
