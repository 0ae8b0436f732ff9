using System.Text.Json;
using Daakia.Core;
using Daakia.Server.Json;

namespace Daakia.Server.WebSockets;

internal sealed partial class JsonApiSession
{
    private void SetPresence(byte[] id, JsonElement root)
    {
        var update = new PresenceUpdate(
            OptionalBool(root, "available"),
            OptionalBool(root, "active"),
            OptionalString(root, "status_text"),
            root.TryGetProperty("status_text"u8, out var st) && st.ValueKind == JsonValueKind.Null);
        var presence = Engine.Presence.Set(Connection!, update);
        Send(FrameEncoder.Encode((id, presence), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WritePropertyName("presence"u8);
            WireFormat.WritePresence(w, s.presence);
            w.WriteEndObject();
        }));
    }

    private async ValueTask PresenceQueryAsync(byte[] id, JsonElement root)
    {
        var names = Strings(root, "clients", 1, Engine.Options.MaxPageSize);
        var clients = new ClientId[names.Count];
        for (var i = 0; i < clients.Length; i++)
        {
            clients[i] = ClientId.TryCreate(names[i], out var c) ? c : throw Invalid($"clients[{i}] is not a valid client id.");
        }

        var presence = await Engine.Presence.GetAsync(_tenant, clients);
        Send(FrameEncoder.Encode((id, presence), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WriteStartArray("presence"u8);
            foreach (var p in s.presence)
            {
                WireFormat.WritePresence(w, p);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }));
    }

    private async ValueTask RosterAsync(byte[] id, JsonElement root)
    {
        var scope = OptionalString(root, "scope") ?? "online";
        if (scope == "online")
        {
            Send(FrameEncoder.Encode((id, Engine.Presence.GetOnline(_tenant)), static (w, s) =>
            {
                StartAck(w, s.id);
                WireFormat.WriteOnlineFields(w, s.Item2);
                w.WriteEndObject();
            }));
            return;
        }

        if (scope != "all")
        {
            throw Invalid("'scope' must be \"online\" or \"all\".");
        }

        ClientId? after = null;
        if (OptionalString(root, "after") is { } a)
        {
            after = ClientId.TryCreate(a, out var c) ? c : throw Invalid("'after' is not a valid client id.");
        }

        var limit = 100;
        if (root.TryGetProperty("limit"u8, out var l))
        {
            limit = l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var n) && n > 0 && n <= Engine.Options.MaxPageSize
                ? n
                : throw Invalid($"'limit' must be 1-{Engine.Options.MaxPageSize}.");
        }

        var page = await Engine.Presence.ListRosterAsync(_tenant, after, limit);
        Send(FrameEncoder.Encode((id, page, page.Count == limit), static (w, s) =>
        {
            StartAck(w, s.id);
            WireFormat.WriteRosterFields(w, s.page, s.Item3);
            w.WriteEndObject();
        }));
    }

    /// <summary>
    /// Payloads are written into text frames as they are, so they must be UTF-8 (RFC 6455 §8.1: a browser fails the
    /// connection otherwise). Checked once per message (the frame is cached); vectorised.
    /// </summary>
    private static void RequireUtf8(ReadOnlySpan<byte> payload, string what)
    {
        if (!System.Text.Unicode.Utf8.IsValid(payload))
        {
            throw new FrameEncodingException($"The {what}'s payload is not UTF-8.");
        }
    }

    protected override byte[] EncodeLetter(Letter letter, int deliveries)
    {
        // Encode once: every connection on this protocol shares the bytes of a letter's first delivery, which end in
        // `"deliveries":1}`; a redelivery copies them with its own count.
        if (letter.EncodedCache is not EncodedFrames { JsonApi: { } cached })
        {
            RequireUtf8(letter.Payload.Span, "letter");
            cached = FrameEncoder.Encode(letter, static (w, l) =>
            {
                w.WriteStartObject();
                w.WriteString("type"u8, "letter"u8);
                WireFormat.WriteLetterFields(w, l);
                w.WriteNumber("deliveries"u8, 1);
                w.WriteEndObject();
            });
            EncodedFrames.Of(letter).JsonApi = cached;
        }

        return deliveries <= 1 ? cached : FrameEncoder.Splice(cached, 2, default, deliveries, "}"u8);
    }

    protected override byte[] EncodePublication(Publication publication)
    {
        if (publication.EncodedCache is EncodedFrames { JsonApi: { } cached })
        {
            return cached;
        }

        // A JSON publication is embedded as it is; bytes of another type (MQTT's) are embedded when they are one JSON
        // value, else sent as base64, so a subscriber always gets valid JSON and the exact bytes.
        var embed = publication.Presence is not null || publication.ContentType == Letter.JsonContentType
            ? EmbedPayload.Json
            : JsonPayload.IsJsonValue(publication.Payload.Span) ? EmbedPayload.JsonOfOtherType : EmbedPayload.Base64;
        if (embed == EmbedPayload.Json)
        {
            RequireUtf8(publication.Payload.Span, "publication");
        }

        var bytes = FrameEncoder.Encode((publication, embed), static (w, s) =>
        {
            var p = s.publication;
            w.WriteStartObject();
            w.WriteString("type"u8, "publication"u8);
            w.WriteString("topic"u8, p.Topic);
            if (p.IsRetainedCopy)
            {
                w.WriteBoolean("retained"u8, true);
            }
            if (p.Author is { } author)
            {
                w.WriteString("author"u8, author.Value);
            }
            else
            {
                w.WriteNull("author"u8);
            }

            if (s.embed != EmbedPayload.Json)
            {
                w.WriteString("content_type"u8, p.ContentType);
            }

            if (p.Properties is { } x)
            {
                // An MQTT 5 publisher's request/response and user properties, as sent.
                w.WriteStartObject("properties"u8);
                if (x.ResponseTopic is { } responseTopic)
                {
                    w.WriteString("response_topic"u8, responseTopic);
                }

                if (x.CorrelationData is { } correlation)
                {
                    w.WriteBase64String("correlation_data_base64"u8, correlation.Span);
                }

                if (x.UserProperties.Count > 0)
                {
                    w.WriteStartArray("user_properties"u8);
                    foreach (var (name, value) in x.UserProperties)
                    {
                        w.WriteStartArray();
                        w.WriteStringValue(name);
                        w.WriteStringValue(value);
                        w.WriteEndArray();
                    }

                    w.WriteEndArray();
                }

                w.WriteEndObject();
            }

            if (p.Presence is { } presence)
            {
                w.WritePropertyName("payload"u8);
                WireFormat.WritePresence(w, presence);
            }
            else if (s.embed == EmbedPayload.Base64)
            {
                w.WriteBase64String("payload_base64"u8, p.Payload.Span);
            }
            else
            {
                w.WritePropertyName("payload"u8);
                w.WriteRawValue(p.Payload.Span, skipInputValidation: true);
            }

            w.WriteString("timestamp"u8, WireFormat.Timestamp(p.Timestamp));
            w.WriteEndObject();
        });
        EncodedFrames.Of(publication).JsonApi = bytes;
        return bytes;
    }

    private enum EmbedPayload
    {
        Json,
        JsonOfOtherType,
        Base64,
    }
}
