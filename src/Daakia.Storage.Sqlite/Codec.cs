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
            Envelope = r.IsDBNull(12) ? null : DecodeEnvelope(r.GetFieldValue<byte[]>(12)),
        },
        r.GetInt64(0),
        r.GetInt32(2),
        r.IsDBNull(3) ? null : Time(r.GetInt64(3)));

    /// <remarks>Over <c>entries e JOIN messages m</c>.</remarks>
    public const string EntryColumns =
        "e.pos, e.id, e.deliveries, e.visible_at, e.expires, m.author, m.recipients, m.payload, m.ts, m.content_type, m.headers, m.visible_at, m.envelope";

    /// <summary>
    /// A session message's envelope as one blob: a version byte (1), the QoS and retain flag, the payload format (0xFF:
    /// not said), then the topic, the response topic and the correlation data, each as a 4-byte little-endian length
    /// (-1: absent) and its bytes.
    /// </summary>
    public static byte[]? EncodeEnvelope(PublicationEnvelope? e)
    {
        if (e is null)
        {
            return null;
        }

        var topic = Encoding.UTF8.GetBytes(e.Topic);
        var response = e.ResponseTopic is { } rt ? Encoding.UTF8.GetBytes(rt) : null;
        var correlation = e.CorrelationData;
        var blob = new byte[3 + 12 + topic.Length + (response?.Length ?? 0) + (correlation?.Length ?? 0)];
        blob[0] = 1;
        blob[1] = (byte)((int)e.Qos | (e.Retain ? 4 : 0));
        blob[2] = e.PayloadFormat ?? 0xFF;
        var span = blob.AsSpan(3);
        span = Put(span, topic, present: true);
        span = Put(span, response, response is not null);
        Put(span, correlation is { } c ? c.Span : default, correlation is not null);
        return blob;

        static Span<byte> Put(Span<byte> span, ReadOnlySpan<byte> bytes, bool present)
        {
            BinaryPrimitives.WriteInt32LittleEndian(span, present ? bytes.Length : -1);
            if (present)
            {
                bytes.CopyTo(span[4..]);
                return span[(4 + bytes.Length)..];
            }

            return span[4..];
        }
    }

    /// <summary>The envelope of <see cref="EncodeEnvelope"/>; throws on a blob it did not write.</summary>
    public static PublicationEnvelope DecodeEnvelope(ReadOnlySpan<byte> blob)
    {
        if (blob.Length < 15 || blob[0] != 1)
        {
            throw new InvalidDataException("A stored envelope is damaged.");
        }

        var flags = blob[1];
        var format = blob[2];
        blob = blob[3..];
        var topic = Take(ref blob) ?? throw new InvalidDataException("A stored envelope has no topic.");
        var response = Take(ref blob);
        var correlation = Take(ref blob);
        return new PublicationEnvelope(Encoding.UTF8.GetString(topic), (QualityOfService)(flags & 3), (flags & 4) != 0)
        {
            PayloadFormat = format == 0xFF ? null : format,
            ResponseTopic = response is null ? null : Encoding.UTF8.GetString(response),
            // Typed: a null array would convert to an empty (present) memory.
            CorrelationData = correlation is null ? (ReadOnlyMemory<byte>?)null : correlation,
        };

        static byte[]? Take(ref ReadOnlySpan<byte> blob)
        {
            var n = blob.Length < 4 ? -2 : BinaryPrimitives.ReadInt32LittleEndian(blob);
            if (n < -1 || n > blob.Length - 4)
            {
                throw new InvalidDataException("A stored envelope is damaged.");
            }

            if (n == -1)
            {
                blob = blob[4..];
                return null;
            }

            var bytes = blob.Slice(4, n).ToArray();
            blob = blob[(4 + n)..];
            return bytes;
        }
    }

    /// <summary>
    /// A session's subscriptions as one blob: for each, the filter (a 4-byte length and its UTF-8), one byte of options
    /// (QoS in bits 0-1, no-local bit 2, retain as published bit 3, retain handling bits 4-5) and the subscription
    /// identifier (4 bytes, 0: none).
    /// </summary>
    public static byte[] EncodeSubscriptions(IReadOnlyList<SubscriptionRequest> subscriptions)
    {
        var size = 0;
        foreach (var s in subscriptions)
        {
            size += 9 + Encoding.UTF8.GetByteCount(s.Filter);
        }

        var blob = new byte[size];
        var span = blob.AsSpan();
        foreach (var s in subscriptions)
        {
            var n = Encoding.UTF8.GetBytes(s.Filter, span[4..]);
            BinaryPrimitives.WriteInt32LittleEndian(span, n);
            span = span[(4 + n)..];
            var o = s.Options;
            span[0] = (byte)((int)o.MaxQos | (o.NoLocal ? 4 : 0) | (o.RetainAsPublished ? 8 : 0) | ((int)o.RetainHandling << 4));
            BinaryPrimitives.WriteInt32LittleEndian(span[1..], o.SubscriptionIdentifier ?? 0);
            span = span[5..];
        }

        return blob;
    }

    /// <summary>The subscriptions of <see cref="EncodeSubscriptions"/>; throws on a blob it did not write.</summary>
    public static IReadOnlyList<SubscriptionRequest> DecodeSubscriptions(ReadOnlySpan<byte> blob)
    {
        var result = new List<SubscriptionRequest>();
        while (!blob.IsEmpty)
        {
            var n = blob.Length < 4 ? -1 : BinaryPrimitives.ReadInt32LittleEndian(blob);
            if (n < 0 || n > blob.Length - 9)
            {
                throw new InvalidDataException("A stored subscription list is damaged.");
            }

            var filter = Encoding.UTF8.GetString(blob.Slice(4, n));
            var flags = blob[4 + n];
            var id = BinaryPrimitives.ReadInt32LittleEndian(blob[(5 + n)..]);
            result.Add(new SubscriptionRequest(filter, new SubscriptionOptions
            {
                MaxQos = (QualityOfService)(flags & 3),
                NoLocal = (flags & 4) != 0,
                RetainAsPublished = (flags & 8) != 0,
                RetainHandling = (RetainHandling)((flags >> 4) & 3),
                SubscriptionIdentifier = id == 0 ? null : id,
            }));
            blob = blob[(9 + n)..];
        }

        return result;
    }
}
