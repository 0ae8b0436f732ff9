using System.Text.Json;
using Daakia.Core;

namespace Daakia.Server.Json;

/// <summary>Shared pieces of the JSON wire forms: timestamps, presence objects, roster entries.</summary>
public static class WireFormat
{
    /// <summary>RFC 3339 UTC with milliseconds, e.g. <c>2026-11-24T15:04:05.123Z</c>.</summary>
    public static string Timestamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    public static string Status(PresenceStatus s) => s switch
    {
        PresenceStatus.Online => "online",
        PresenceStatus.Away => "away",
        _ => "offline",
    };

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

    public static void WriteRosterEntry(Utf8JsonWriter w, RosterEntry e, bool online)
    {
        w.WriteStartObject();
        w.WriteString("client", e.Client.Value);
        w.WriteString("first_seen", Timestamp(e.FirstSeen));
        w.WriteString("last_seen", Timestamp(e.LastSeen));
        w.WriteBoolean("online", online);
        w.WriteEndObject();
    }

    /// <summary>The letter fields shared by the WebSocket <c>letter</c> frame and REST inbox entries.</summary>
    public static void WriteLetterFields(Utf8JsonWriter w, Letter letter)
    {
        w.WriteString("message_id", letter.Id);
        w.WriteString("author", letter.Author.Value);
        w.WriteStartArray("recipients");
        foreach (var r in letter.Recipients)
        {
            w.WriteStringValue(r.Value);
        }

        w.WriteEndArray();
        w.WritePropertyName("payload");
        w.WriteRawValue(letter.Payload.Span, skipInputValidation: true);
        w.WriteString("timestamp", Timestamp(letter.Timestamp));
        if (letter.ExpiresAt is { } e)
        {
            w.WriteString("expires_at", Timestamp(e));
        }
        else
        {
            w.WriteNull("expires_at");
        }
    }
}
