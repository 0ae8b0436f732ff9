using System.Buffers;

namespace Daakia.Mqtt;

/// <summary>Variable byte integers (§1.5.5) and the fixed header (§2.1).</summary>
internal static class MqttWire
{
    /// <summary>The largest remaining length MQTT can express (four length bytes).</summary>
    public const int MaxRemainingLength = 268_435_455;

    public static int VarIntSize(int value) => value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;

    public static int WriteVarInt(Span<byte> span, int value)
    {
        var i = 0;
        do
        {
            var b = (byte)(value & 0x7F);
            value >>= 7;
            span[i++] = value > 0 ? (byte)(b | 0x80) : b;
        }
        while (value > 0);
        return i;
    }

    /// <summary>The size of a whole packet whose remaining length is <paramref name="remaining"/>.</summary>
    public static int PacketSize(int remaining) => 1 + VarIntSize(remaining) + remaining;

    /// <summary>Writes the fixed header; returns its length.</summary>
    public static int WriteFixedHeader(Span<byte> span, MqttPacketType type, int flags, int remaining)
    {
        span[0] = (byte)(((int)type << 4) | flags);
        return 1 + WriteVarInt(span[1..], remaining);
    }
}

/// <summary>The outcome of reading one packet from a stream of bytes.</summary>
internal enum MqttFrameStatus
{
    /// <summary>Not all of the packet is there yet: nothing was consumed.</summary>
    Incomplete,

    /// <summary>A whole packet; <see cref="MqttFrameReader"/> says where it ended.</summary>
    Complete,

    /// <summary>The bytes are not a packet this side accepts (see the error): the connection ends.</summary>
    Error,
}

/// <summary>One packet's fixed header and its body (contiguous: a slice of the input, or of the reader's buffer).</summary>
internal readonly struct MqttFrame(MqttPacketType type, byte flags, ReadOnlyMemory<byte> body)
{
    public MqttPacketType Type { get; } = type;

    /// <summary>The fixed header's low four bits.</summary>
    public byte Flags { get; } = flags;

    public ReadOnlyMemory<byte> Body { get; } = body;

    /// <summary>The packet's whole size on the wire.</summary>
    public int Size => MqttWire.PacketSize(Body.Length);
}

/// <summary>
/// Cuts packets out of a byte stream (a PipeReader's buffer). The remaining length is checked against the maximum
/// packet size as soon as its bytes are read, before anything of the body is buffered; a body that spans segments is
/// copied once into this reader's buffer (at most the maximum packet size, reused), so every packet decodes from one
/// contiguous span. A frame's body is valid until the next call.
/// </summary>
internal sealed class MqttFrameReader(int maxPacketSize)
{
    private byte[]? _scratch;

    public int MaxPacketSize { get; } = maxPacketSize;

    public MqttFrameStatus TryRead(in ReadOnlySequence<byte> input, out MqttFrame frame, out SequencePosition consumed, out MqttError error)
    {
        frame = default;
        consumed = input.Start;
        error = default;
        if (input.IsEmpty)
        {
            return MqttFrameStatus.Incomplete;
        }

        // The fixed header: one type byte and 1-4 length bytes.
        Span<byte> head = stackalloc byte[5];
        var headLength = (int)Math.Min(5, input.Length);
        input.Slice(0, headLength).CopyTo(head);
        var typeByte = head[0];
        var remaining = 0;
        var lengthBytes = 0;
        for (var i = 1; ; i++)
        {
            if (i > 4)
            {
                error = MqttError.Malformed("The remaining length is longer than four bytes.");
                return MqttFrameStatus.Error;
            }

            if (i >= headLength)
            {
                return MqttFrameStatus.Incomplete;
            }

            var b = head[i];
            remaining |= (b & 0x7F) << (7 * (i - 1));
            if ((b & 0x80) == 0)
            {
                lengthBytes = i;
                break;
            }
        }

        var type = (MqttPacketType)(typeByte >> 4);
        if (type == 0)
        {
            error = MqttError.Malformed("Packet type 0 is reserved.");
            return MqttFrameStatus.Error;
        }

        var total = 1L + lengthBytes + remaining;
        if (total > MaxPacketSize)
        {
            error = new MqttError(MqttReasonCode.PacketTooLarge, $"The packet is {total} bytes; at most {MaxPacketSize} are accepted.");
            return MqttFrameStatus.Error;
        }

        if (input.Length < total)
        {
            return MqttFrameStatus.Incomplete;
        }

        var body = input.Slice(1 + lengthBytes, remaining);
        ReadOnlyMemory<byte> memory;
        if (body.IsSingleSegment)
        {
            memory = body.First;
        }
        else
        {
            if (_scratch is null || _scratch.Length < remaining)
            {
                _scratch = new byte[Math.Max(remaining, Math.Min(MaxPacketSize, 4096))];
            }

            body.CopyTo(_scratch);
            memory = _scratch.AsMemory(0, remaining);
        }

        frame = new MqttFrame(type, (byte)(typeByte & 0x0F), memory);
        consumed = body.End;
        return MqttFrameStatus.Complete;
    }
}
