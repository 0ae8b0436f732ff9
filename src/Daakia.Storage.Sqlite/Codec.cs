using System.Buffers.Binary;
using System.Text;
using Daakia.Core;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite;

/// <summary>
/// Row ↔ value conversions: times as unix milliseconds, ids as 16-byte blobs, recipient lists joined by newlines, the
/// default content type as NULL, headers as length-prefixed UTF-8 pairs (NULL when there are none).
/// </summary>
internal static class Codec
{
    public static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    public static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    public static string JoinRecipients(IReadOnlyList<ClientId> recipients)
    {
        if (recipients.Count == 1)
        {
            return recipients[0].Value;
        }

        return string.Join('\n', recipients.Select(r => r.Value));
    }

    public static ClientId[] SplitRecipients(string joined)
    {
        if (joined.Length == 0)
        {
            return []; // a message of a queue may have no recipients
        }

        var parts = joined.Split('\n');
        var result = new ClientId[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            result[i] = ClientId.Parse(parts[i]);
        }

        return result;
    }

    /// <summary>The stored content type: NULL for the default (most messages), so that it costs nothing.</summary>
    public static string? StoredContentType(string contentType) =>
        string.Equals(contentType, Letter.JsonContentType, StringComparison.Ordinal) ? null : contentType;

    /// <summary>
    /// Headers as one blob: for each pair, the UTF-8 byte length of the key (4 bytes, little endian), the key, the
    /// length of the value, the value. Null when there are none (most messages: nothing stored).
    /// </summary>
    public static byte[]? EncodeHeaders(IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        if (headers.Count == 0)
        {
            return null;
        }

        var size = 0;
        foreach (var (key, value) in headers)
        {
            size += 8 + Encoding.UTF8.GetByteCount(key) + Encoding.UTF8.GetByteCount(value);
        }

        var blob = new byte[size];
        var span = blob.AsSpan();
        foreach (var (key, value) in headers)
        {
            span = Put(span, key);
            span = Put(span, value);
        }

        return blob;

        static Span<byte> Put(Span<byte> span, string text)
        {
            var n = Encoding.UTF8.GetBytes(text, span[4..]);
            BinaryPrimitives.WriteInt32LittleEndian(span, n);
            return span[(4 + n)..];
        }
    }

    /// <summary>The headers of <see cref="EncodeHeaders"/>; throws on a blob it did not write.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> DecodeHeaders(ReadOnlySpan<byte> blob)
    {
        if (blob.IsEmpty)
        {
            return [];
        }

        var result = new List<KeyValuePair<string, string>>();
        while (!blob.IsEmpty)
        {
            var key = Take(ref blob);
            var value = Take(ref blob);
            result.Add(new KeyValuePair<string, string>(key, value));
        }

        return result;

        static string Take(ref ReadOnlySpan<byte> blob)
        {
            var n = blob.Length < 4 ? -1 : BinaryPrimitives.ReadInt32LittleEndian(blob);
            if (n < 0 || n > blob.Length - 4)
            {
                throw new InvalidDataException("A stored header list is damaged.");
            }

            var text = Encoding.UTF8.GetString(blob.Slice(4, n));
            blob = blob[(4 + n)..];
            return text;
        }
    }

    /// <summary>Reads one queue entry from the columns of <see cref="EntryColumns"/>.</summary>
    public static QueueEntry ReadEntry(SqliteDataReader r, TenantId tenant) => new(
        new Letter
        {
            Tenant = tenant,
            Id = new Guid(r.GetFieldValue<byte[]>(1)),
            Author = ClientId.Parse(r.GetString(5)),
            Recipients = SplitRecipients(r.GetString(6)),
            Payload = r.GetFieldValue<byte[]>(7),
            Timestamp = Time(r.GetInt64(8)),
            ExpiresAt = r.IsDBNull(4) ? null : Time(r.GetInt64(4)),
            ContentType = r.IsDBNull(9) ? Letter.JsonContentType : r.GetString(9),
            Headers = r.IsDBNull(10) ? [] : DecodeHeaders(r.GetFieldValue<byte[]>(10)),
            VisibleAt = r.IsDBNull(11) ? null : Time(r.GetInt64(11)),
        },
        r.GetInt64(0),
        r.GetInt32(2),
        r.IsDBNull(3) ? null : Time(r.GetInt64(3)));

    /// <remarks>Over <c>entries e JOIN messages m</c>.</remarks>
    public const string EntryColumns =
        "e.pos, e.id, e.deliveries, e.visible_at, e.expires, m.author, m.recipients, m.payload, m.ts, m.content_type, m.headers, m.visible_at";
}
