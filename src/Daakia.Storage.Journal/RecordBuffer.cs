using System.Buffers.Binary;
using System.Text;

namespace Daakia.Storage.Journal;

/// <summary>
/// A growable byte buffer records are encoded into: little-endian varints, length-prefixed UTF-8 strings and bytes,
/// times as UTC ticks. One per batch; the writer hands the whole of it to the file.
/// </summary>
internal sealed class RecordBuffer
{
    private byte[] _bytes;

    public RecordBuffer(int capacity = 64 * 1024) => _bytes = new byte[capacity];

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Written => _bytes.AsSpan(0, Length);

    public ReadOnlyMemory<byte> WrittenMemory => _bytes.AsMemory(0, Length);

    /// <summary>Capacity held (the writer shrinks a buffer that grew for one large batch).</summary>
    public int Capacity => _bytes.Length;

    public void Clear() => Length = 0;

    /// <summary>Drops what was written after <paramref name="length"/> (a refused unit of work).</summary>
    public void Truncate(int length) => Length = length;

    public void Shrink(int capacity)
    {
        if (_bytes.Length > capacity && Length <= capacity)
        {
            var smaller = new byte[capacity];
            _bytes.AsSpan(0, Length).CopyTo(smaller);
            _bytes = smaller;
        }
    }

    private Span<byte> Take(int n)
    {
        if ((long)Length + n > _bytes.Length)
        {
            var wanted = Math.Max((long)_bytes.Length * 2, (long)Length + n);
            if ((long)Length + n > Array.MaxLength)
            {
                throw new InsufficientMemoryException($"A journal batch would pass {Array.MaxLength} bytes.");
            }

            Array.Resize(ref _bytes, (int)Math.Min(wanted, Array.MaxLength));
        }

        var span = _bytes.AsSpan(Length, n);
        Length += n;
        return span;
    }

    public void Byte(byte value) => Take(1)[0] = value;

    public void UInt32At(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(offset), value);

    public void UInt32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), value);

    public void Varint(ulong value)
    {
        var span = Take(10);
        var n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[n++] = (byte)value;
        Length -= 10 - n;
    }

    public void Varint(long value) => Varint((ulong)value);

    public void Guid(Guid value) => value.TryWriteBytes(Take(16));

    public void Time(DateTimeOffset value) => Varint((ulong)value.UtcTicks);

    public void OptionalTime(DateTimeOffset? value)
    {
        if (value is { } v)
        {
            Byte(1);
            Time(v);
        }
        else
        {
            Byte(0);
        }
    }

    public void String(string value)
    {
        var n = Encoding.UTF8.GetByteCount(value);
        Varint((ulong)n);
        Encoding.UTF8.GetBytes(value, Take(n));
    }

    /// <summary>A string that may be null: 0, or 1 and the string.</summary>
    public void OptionalString(string? value)
    {
        if (value is null)
        {
            Byte(0);
        }
        else
        {
            Byte(1);
            String(value);
        }
    }

    public void Bytes(ReadOnlySpan<byte> value)
    {
        Varint((ulong)value.Length);
        value.CopyTo(Take(value.Length));
    }

    /// <summary>Raw bytes with no length (a whole encoded record copied in).</summary>
    public void Raw(ReadOnlySpan<byte> value) => value.CopyTo(Take(value.Length));

    /// <summary>The bytes from <paramref name="offset"/> to the end (to checksum a record just written).</summary>
    public ReadOnlySpan<byte> From(int offset) => _bytes.AsSpan(offset, Length - offset);
}

/// <summary>Reads what <see cref="RecordBuffer"/> wrote; throws <see cref="InvalidDataException"/> past the end.</summary>
internal ref struct RecordReader(ReadOnlySpan<byte> bytes)
{
    private ReadOnlySpan<byte> _bytes = bytes;

    public readonly bool End => _bytes.IsEmpty;

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || n > _bytes.Length)
        {
            throw new InvalidDataException("A journal record ends early.");
        }

        var span = _bytes[..n];
        _bytes = _bytes[n..];
        return span;
    }

    public byte Byte() => Take(1)[0];

    public ulong Varint()
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = Byte();
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        throw new InvalidDataException("A journal record has a varint longer than 10 bytes.");
    }

    public long Long() => (long)Varint();

    public int Int() => checked((int)Varint());

    public Guid Guid() => new(Take(16));

    public DateTimeOffset Time() => new((long)Varint(), TimeSpan.Zero);

    public DateTimeOffset? OptionalTime() => Byte() == 0 ? null : Time();

    public string String() => Encoding.UTF8.GetString(Take(Int()));

    public string? OptionalString() => Byte() == 0 ? null : String();

    public byte[] Bytes() => Take(Int()).ToArray();
}
