using System.Buffers.Binary;
using System.Text;

namespace Daakia.Core.Storage;

/// <summary>
/// Reads the little-endian fields the core's record encodings are written with (named queues, claims, subscriptions,
/// tasks): bytes and strings as an <see cref="int"/> length and the bytes, a null string as length -1, times as Unix
/// milliseconds (<see cref="long.MinValue"/>: none).
/// </summary>
internal ref struct RecordReader(ReadOnlySpan<byte> value)
{
    private ReadOnlySpan<byte> _rest = value;

    public byte Byte()
    {
        var b = _rest[0];
        _rest = _rest[1..];
        return b;
    }

    public int Int()
    {
        var v = BinaryPrimitives.ReadInt32LittleEndian(_rest);
        _rest = _rest[4..];
        return v;
    }

    public long Long()
    {
        var v = BinaryPrimitives.ReadInt64LittleEndian(_rest);
        _rest = _rest[8..];
        return v;
    }

    public Guid Guid()
    {
        var v = new Guid(_rest[..16]);
        _rest = _rest[16..];
        return v;
    }

    public DateTimeOffset? Time()
    {
        var v = Long();
        return v == long.MinValue ? null : DateTimeOffset.FromUnixTimeMilliseconds(v);
    }

    public ReadOnlySpan<byte> Bytes()
    {
        var n = Int();
        var v = _rest[..n];
        _rest = _rest[n..];
        return v;
    }

    public string? String()
    {
        if (BinaryPrimitives.ReadInt32LittleEndian(_rest) < 0)
        {
            _rest = _rest[4..];
            return null;
        }

        return Encoding.UTF8.GetString(Bytes());
    }
}
