using System.Buffers.Binary;
using System.Text;

namespace Daakia.Core.Storage;

/// <summary>
/// A publication's properties (<see cref="PublicationProperties"/>) as one blob, for stores that keep them beside a
/// retained message: a version byte (1); the payload format (0xFF: not said); the response topic and the correlation
/// data, each a presence byte then a 32-bit length and its bytes; the user properties as a 32-bit count, then each name
/// and value as a 32-bit length and UTF-8 bytes. Integers are little-endian.
/// </summary>
public static class PropertiesBlob
{
    private const byte Version = 1;

    /// <summary>The blob of <paramref name="properties"/>, or null when there are none.</summary>
    public static byte[]? Encode(PublicationProperties? properties)
    {
        if (properties is null)
        {
            return null;
        }

        var size = 1 + 1 + 5 + Encoding.UTF8.GetMaxByteCount(properties.ResponseTopic?.Length ?? 0) + 5 + (properties.CorrelationData?.Length ?? 0) + 4;
        foreach (var (k, v) in properties.UserProperties)
        {
            size += 8 + Encoding.UTF8.GetMaxByteCount(k.Length) + Encoding.UTF8.GetMaxByteCount(v.Length);
        }

        var buffer = new byte[size];
        var span = buffer.AsSpan();
        var at = 0;
        span[at++] = Version;
        span[at++] = properties.PayloadFormat ?? 0xFF;
        at += WriteOptional(span[at..], properties.ResponseTopic is { } topic ? Encoding.UTF8.GetBytes(topic) : null);
        at += WriteOptional(span[at..], properties.CorrelationData?.Span.ToArray());
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], properties.UserProperties.Count);
        at += 4;
        foreach (var (k, v) in properties.UserProperties)
        {
            at += WriteString(span[at..], k);
            at += WriteString(span[at..], v);
        }

        return buffer.AsSpan(0, at).ToArray();
    }

    /// <summary>The properties of a blob <see cref="Encode"/> wrote; throws <see cref="InvalidDataException"/> on any other.</summary>
    public static PublicationProperties Decode(ReadOnlySpan<byte> blob)
    {
        try
        {
            if (blob.Length < 2 || blob[0] != Version)
            {
                throw new InvalidDataException("Stored publication properties are damaged.");
            }

            var format = blob[1];
            var rest = blob[2..];
            var topic = ReadOptional(ref rest);
            var correlation = ReadOptional(ref rest);
            var count = Int(ref rest);
            if (count < 0 || count > rest.Length / 8)
            {
                throw new InvalidDataException("Stored publication properties are damaged.");
            }

            var user = new List<KeyValuePair<string, string>>(count);
            for (var i = 0; i < count; i++)
            {
                var k = Encoding.UTF8.GetString(Bytes(ref rest));
                var v = Encoding.UTF8.GetString(Bytes(ref rest));
                user.Add(new(k, v));
            }

            if (!rest.IsEmpty)
            {
                throw new InvalidDataException("Stored publication properties are damaged.");
            }

            return new PublicationProperties
            {
                PayloadFormat = format == 0xFF ? null : format,
                ResponseTopic = topic is null ? null : Encoding.UTF8.GetString(topic),
                // Typed: an untyped null here would become an empty memory through the array conversion.
                CorrelationData = correlation is null ? (ReadOnlyMemory<byte>?)null : correlation,
                UserProperties = user,
            };
        }
        catch (ArgumentOutOfRangeException)
        {
            throw new InvalidDataException("Stored publication properties are damaged.");
        }
    }

    private static int WriteOptional(Span<byte> span, byte[]? bytes)
    {
        if (bytes is null)
        {
            span[0] = 0;
            return 1;
        }

        span[0] = 1;
        BinaryPrimitives.WriteInt32LittleEndian(span[1..], bytes.Length);
        bytes.CopyTo(span[5..]);
        return 5 + bytes.Length;
    }

    private static int WriteString(Span<byte> span, string value)
    {
        var n = Encoding.UTF8.GetBytes(value, span[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(span, n);
        return 4 + n;
    }

    private static byte[]? ReadOptional(ref ReadOnlySpan<byte> rest)
    {
        var present = rest[0];
        rest = rest[1..];
        return present switch
        {
            0 => null,
            1 => Bytes(ref rest).ToArray(),
            _ => throw new InvalidDataException("Stored publication properties are damaged."),
        };
    }

    private static int Int(ref ReadOnlySpan<byte> rest)
    {
        var n = BinaryPrimitives.ReadInt32LittleEndian(rest);
        rest = rest[4..];
        return n;
    }

    private static ReadOnlySpan<byte> Bytes(ref ReadOnlySpan<byte> rest)
    {
        var n = Int(ref rest);
        if (n < 0 || n > rest.Length)
        {
            throw new InvalidDataException("Stored publication properties are damaged.");
        }

        var bytes = rest[..n];
        rest = rest[n..];
        return bytes;
    }
}
