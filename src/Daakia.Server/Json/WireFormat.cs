using System.Text.Json;
using Daakia.Core;

namespace Daakia.Server.Json;

/// <summary>Shared pieces of the JSON wire forms: timestamps, presence objects, roster entries.</summary>
public static class WireFormat
{
    /// <summary>Characters of a <see cref="Timestamp"/>.</summary>
    public const int TimestampLength = 24;

    /// <summary>RFC 3339 UTC with milliseconds, e.g. <c>2026-11-24T15:04:05.123Z</c>.</summary>
    public static string Timestamp(DateTimeOffset t) => string.Create(TimestampLength, t.UtcDateTime, static (chars, u) =>
    {
        Span<byte> bytes = stackalloc byte[TimestampLength];
        FormatTimestamp(u, bytes);
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[i] = (char)bytes[i];
        }
    });

    /// <summary>Writes a property holding a <see cref="Timestamp"/>, without making a string of it.</summary>
    public static void WriteTimestamp(Utf8JsonWriter w, ReadOnlySpan<byte> name, DateTimeOffset t)
    {
        Span<byte> bytes = stackalloc byte[TimestampLength];
        FormatTimestamp(t.UtcDateTime, bytes);
        w.WriteString(name, bytes);
    }

    // By hand: DateTime.ToString with a custom format parses the format on every call, which showed in the hot path's
    // profile (every letter and every send's reply carries a timestamp). DateTime's year is 1-9999: four digits.
    private static void FormatTimestamp(DateTime u, Span<byte> d)
    {
        Digits(d[..4], u.Year);
        d[4] = (byte)'-';
        Digits(d.Slice(5, 2), u.Month);
        d[7] = (byte)'-';
        Digits(d.Slice(8, 2), u.Day);
        d[10] = (byte)'T';
        Digits(d.Slice(11, 2), u.Hour);
        d[13] = (byte)':';
        Digits(d.Slice(14, 2), u.Minute);
        d[16] = (byte)':';
        Digits(d.Slice(17, 2), u.Second);
        d[19] = (byte)'.';
        Digits(d.Slice(20, 3), u.Millisecond);
        d[23] = (byte)'Z';
    }

    private static void Digits(Span<byte> d, int value)
    {
        for (var i = d.Length - 1; i >= 0; i--)
        {
            d[i] = (byte)('0' + (value % 10));
            value /= 10;
        }
    }

    public static string Status(PresenceStatus s) => s switch
    {
        PresenceStatus.Online => "online",
        PresenceStatus.Away => "away",
        _ => "offline",
    };

    /// <summary>An activity log entry: <c>{"id", "at", "kind", "actor", "subject", "detail"}</c>.</summary>
    public static void WriteActivity(Utf8JsonWriter w, ActivityEntry e)
    {
        w.WriteStartObject();
        w.WriteNumber("id"u8, e.Id);
        w.WriteString("at"u8, Timestamp(e.At));
        w.WriteString("kind"u8, e.Kind);
        w.WriteString("actor"u8, e.Actor?.Value);
        w.WriteString("subject"u8, e.Subject);
        w.WriteString("detail"u8, e.Detail);
        w.WriteEndObject();
    }

    public static void WritePresence(Utf8JsonWriter w, PresenceInfo p)
    {
        w.WriteStartObject();
        w.WriteString("client", p.Client.Value);
        w.WriteString("status", Status(p.Status));
        w.WriteBoolean("available", p.Available);
        w.WriteBoolean("active", p.Active);
        if (p.StatusText is null)
        {
            w.WriteNull("status_text");
        }
        else
        {
            w.WriteString("status_text", p.StatusText);
        }

        w.WriteNumber("connections", p.Connections);
        if (p.LastSeen is { } seen)
        {
            w.WriteString("last_seen", Timestamp(seen));
        }
        else
        {
            w.WriteNull("last_seen");
        }

        w.WriteEndObject();
    }

    /// <summary>The <c>clients</c> and <c>next</c> fields of a roster page (scope <c>all</c>).</summary>
    public static void WriteRosterFields(Utf8JsonWriter w, IReadOnlyList<RosterListing> page, bool full)
    {
        w.WriteStartArray("clients"u8);
        foreach (var (e, online) in page)
        {
            w.WriteStartObject();
            w.WriteString("client"u8, e.Client.Value);
            w.WriteString("first_seen"u8, Timestamp(e.FirstSeen));
            w.WriteString("last_seen"u8, Timestamp(e.LastSeen));
            w.WriteBoolean("online"u8, online);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        if (full && page.Count > 0)
        {
            w.WriteString("next"u8, page[^1].Entry.Client.Value);
        }
        else
        {
            w.WriteNull("next"u8);
        }
    }

    /// <summary>The <c>clients</c> and <c>next</c> fields of the online roster (scope <c>online</c>).</summary>
    public static void WriteOnlineFields(Utf8JsonWriter w, IReadOnlyList<PresenceInfo> online)
    {
        w.WriteStartArray("clients"u8);
        foreach (var p in online)
        {
            WritePresence(w, p);
        }

        w.WriteEndArray();
        w.WriteNull("next"u8);
    }

    /// <summary>The letter fields shared by the WebSocket <c>letter</c> frame and REST inbox entries.</summary>
    public static void WriteLetterFields(Utf8JsonWriter w, Letter letter)
    {
        w.WriteString("message_id"u8, letter.Id);
        w.WriteString("author"u8, letter.Author.Value);
        w.WriteStartArray("recipients"u8);
        foreach (var r in letter.Recipients)
        {
            w.WriteStringValue(r.Value);
        }

        w.WriteEndArray();
        w.WritePropertyName("payload"u8);
        w.WriteRawValue(letter.Payload.Span, skipInputValidation: true);
        WriteTimestamp(w, "timestamp"u8, letter.Timestamp);
        if (letter.ExpiresAt is { } e)
        {
            WriteTimestamp(w, "expires_at"u8, e);
        }
        else
        {
            w.WriteNull("expires_at"u8);
        }

        if (letter.Headers.Count > 0)
        {
            WriteHeaders(w, letter.Headers);
        }
    }

    /// <summary>
    /// Reads the optional <c>delay</c> of a send or release on every wire: seconds, a number from 0 to
    /// <see cref="DaakiaCoreOptions.MaxDelay"/>. Absent, <c>null</c>, or <paramref name="obj"/> not an object: no delay.
    /// False when it is anything else; each protocol says so in its own words.
    /// </summary>
    public static bool TryReadDelay(JsonElement obj, DaakiaCoreOptions options, out TimeSpan? delay)
    {
        delay = null;
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty("delay"u8, out var d) || d.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (d.ValueKind == JsonValueKind.Number && d.TryGetDouble(out var s) && s >= 0 && s <= options.MaxDelay.TotalSeconds)
        {
            delay = TimeSpan.FromSeconds(s);
            return true;
        }

        return false;
    }

    /// <summary><c>"headers": {"key": "value", …}</c>, in the sender's order.</summary>
    public static void WriteHeaders(Utf8JsonWriter w, IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        w.WriteStartObject("headers"u8);
        foreach (var (key, value) in headers)
        {
            w.WriteString(key, value);
        }

        w.WriteEndObject();
    }

    /// <summary>
    /// Reads the optional <c>headers</c> of a send: a JSON object of string values, at most
    /// <see cref="DaakiaCoreOptions.MaxHeadersPerLetter"/> of them (counted before anything is copied; the core checks
    /// the rest). Null when absent, <c>null</c> or empty. A key given twice is refused: an object has one value per key.
    /// </summary>
    public static List<KeyValuePair<string, string>>? ReadHeaders(JsonElement root, DaakiaCoreOptions options)
    {
        if (!root.TryGetProperty("headers"u8, out var e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (e.ValueKind != JsonValueKind.Object)
        {
            throw DaakiaException.Invalid("'headers' must be an object of string values.");
        }

        List<KeyValuePair<string, string>>? headers = null;
        HashSet<string>? seen = null;
        foreach (var p in e.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
            {
                throw DaakiaException.Invalid("'headers' must be an object of string values.");
            }

            headers ??= [];
            if (headers.Count >= options.MaxHeadersPerLetter)
            {
                throw DaakiaException.Invalid($"At most {options.MaxHeadersPerLetter} headers per letter.");
            }

            var key = p.Name;
            if (headers.Count == 8)
            {
                seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var h in headers)
                {
                    seen.Add(h.Key);
                }
            }

            if (seen is not null ? !seen.Add(key) : headers.Exists(h => h.Key == key))
            {
                throw DaakiaException.Invalid($"Header '{(key.Length > 40 ? key[..40] + "…" : key)}' is given twice.");
            }

            headers.Add(new(key, p.Value.GetString()!));
        }

        return headers;
    }

    /// <summary>Most user properties one publication may carry from the JSON API or REST.</summary>
    public const int MaxUserProperties = 100;

    /// <summary>
    /// A publish request's optional <c>"properties"</c> (the shape publications are rendered with): <c>response_topic</c>,
    /// <c>correlation_data_base64</c>, <c>user_properties</c> as <c>[[name, value], …]</c>. Null when absent; a wrong shape
    /// is <paramref name="invalid"/>'s exception.
    /// </summary>
    public static PublicationProperties? ReadPublicationProperties(JsonElement root, Func<string, Exception> invalid)
    {
        if (!root.TryGetProperty("properties"u8, out var p) || p.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (p.ValueKind != JsonValueKind.Object)
        {
            throw invalid("'properties' must be an object.");
        }

        string? responseTopic = null;
        if (p.TryGetProperty("response_topic"u8, out var rt))
        {
            responseTopic = rt.ValueKind == JsonValueKind.String && rt.GetString() is { Length: > 0 } t && t.AsSpan().IndexOfAny('+', '#', '\0') < 0
                ? t
                : throw invalid("'properties.response_topic' must be a topic name (a non-empty string without wildcards).");
        }

        byte[]? correlation = null;
        if (p.TryGetProperty("correlation_data_base64"u8, out var cd))
        {
            if (cd.ValueKind != JsonValueKind.String || !cd.TryGetBytesFromBase64(out correlation) || correlation.Length > ushort.MaxValue)
            {
                throw invalid("'properties.correlation_data_base64' must be base64 of at most 65535 bytes.");
            }
        }

        List<KeyValuePair<string, string>>? user = null;
        if (p.TryGetProperty("user_properties"u8, out var up))
        {
            if (up.ValueKind != JsonValueKind.Array || up.GetArrayLength() > MaxUserProperties)
            {
                throw invalid($"'properties.user_properties' must be an array of at most {MaxUserProperties} [name, value] pairs.");
            }

            user = new List<KeyValuePair<string, string>>(up.GetArrayLength());
            foreach (var pair in up.EnumerateArray())
            {
                if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2 || pair[0].ValueKind != JsonValueKind.String || pair[1].ValueKind != JsonValueKind.String)
                {
                    throw invalid("Each of 'properties.user_properties' must be a [name, value] pair of strings.");
                }

                var (name, value) = (pair[0].GetString()!, pair[1].GetString()!);
                if (name.Contains('\0', StringComparison.Ordinal) || value.Contains('\0', StringComparison.Ordinal))
                {
                    throw invalid("'properties.user_properties' may not contain U+0000 (MQTT refuses it).");
                }

                user.Add(new(name, value));
            }
        }

        return responseTopic is null && correlation is null && user is not { Count: > 0 }
            ? null
            : new PublicationProperties
            {
                ResponseTopic = responseTopic,
                CorrelationData = correlation is null ? (ReadOnlyMemory<byte>?)null : correlation, // not an empty, present one
                UserProperties = user ?? [],
            };
    }

    /// <summary>A queue's topic bindings, <c>"queue"</c> and <c>"bindings": [{"filter", "created_at"}]</c>, into the
    /// object being written (REST's answer and the WebSocket API's ack alike).</summary>
    public static void Bindings(Utf8JsonWriter w, string queue, IReadOnlyList<QueueBinding> bindings)
    {
        w.WriteString("queue"u8, queue);
        w.WriteStartArray("bindings"u8);
        foreach (var b in bindings)
        {
            w.WriteStartObject();
            w.WriteString("filter"u8, b.Filter);
            w.WriteString("created_at"u8, Timestamp(b.CreatedAt));
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }
}
