using System.Buffers;
using System.Text;
using System.Text.Json;
using Daakia.Core;

namespace Daakia.Server.Notifications;

/// <summary>
/// What a notification says, as Zaqar 15 says it (docs/zaqar-wire.md §8.4, §8.5), for webhooks and e-mail alike: a
/// message as <c>{"ttl", "body", "Message_Type": "Notification", "queue_name"}</c>; a confirmation request with the
/// pre-signed <c>PUT</c> of the subscription's confirm path (valid for the subscription's TTL) and the bodies that
/// confirm or unsubscribe; the notice sent when a subscriber is unconfirmed.
/// </summary>
public static class NotificationBody
{
    /// <summary>The JSON of <paramref name="n"/>; <paramref name="signingKey"/> signs a confirmation's URL (required
    /// for one: the server refuses to start requiring confirmation without it).</summary>
    public static byte[] Json(QueueNotification n, string? signingKey, DateTimeOffset now)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + n.Message.Payload.Length);
        using (var w = new Utf8JsonWriter(buffer))
        {
            var queue = n.Subscription.Queue;
            w.WriteStartObject();
            if (n.Kind == NotificationKind.Message)
            {
                MessageFields(w, n.Message);
            }
            else
            {
                var confirm = n.Kind == NotificationKind.ConfirmationRequest;
                var path = $"/v2/queues/{queue}/subscriptions/{n.Subscription.Id}/confirm";
                var expires = Zaqar.ZaqarSigner.FormatExpires((now + n.Subscription.Ttl).UtcDateTime);
                w.WriteString("Message_Type", confirm ? "SubscriptionConfirmation" : "UnsubscribeConfirmation");
                w.WriteString("Message", confirm
                    ? $"You have chosen to subscribe to the queue: {queue}"
                    : $"You have unsubscribed successfully to the queue: {queue}, you can resubscribe it by using confirmed=True.");
                w.WriteString("URL-Signature", string.IsNullOrEmpty(signingKey) ? "" : Zaqar.ZaqarSigner.Sign(signingKey, [path], ["PUT"], n.Subscription.Project, expires));
                w.WriteString("URL-Methods", "PUT");
                w.WriteString("URL-Paths", path);
                w.WriteString("X-Project-ID", n.Subscription.Project);
                w.WriteString("URL-Expires", expires);
                w.WriteStartObject("SubscribeBody");
                w.WriteBoolean("confirmed", true);
                w.WriteEndObject();
                w.WriteStartObject("UnsubscribeBody");
                w.WriteBoolean("confirmed", false);
                w.WriteEndObject();
            }

            w.WriteString("queue_name", queue);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A message's notification without a subscription (a WebSocket subscriber's frame, §9.5).</summary>
    public static byte[] Json(string queue, Letter message)
    {
        var buffer = new ArrayBufferWriter<byte>(128 + message.Payload.Length);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            MessageFields(w, message);
            w.WriteString("queue_name", queue);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void MessageFields(Utf8JsonWriter w, Letter message)
    {
        var ttl = message.ExpiresAt is { } e ? (long)Math.Round((e - message.Timestamp).TotalSeconds) : 0;
        w.WriteNumber("ttl", ttl);
        w.WritePropertyName("body");
        if (message.Payload.IsEmpty)
        {
            w.WriteNullValue();
        }
        else
        {
            w.WriteRawValue(message.Payload.Span, skipInputValidation: true); // validated JSON when it was posted
        }

        w.WriteString("Message_Type", "Notification");
    }

    /// <summary>
    /// A subscription's <c>post_data</c> option, if it has one (a string sent instead of the notification, with the
    /// literal <c>"$zaqar_message$"</c>, quotes included, replaced by the notification's JSON), else the JSON itself.
    /// </summary>
    public static byte[] Apply(ReadOnlyMemory<byte> options, byte[] json)
    {
        if (Option(options, "post_data") is not { ValueKind: JsonValueKind.String } template)
        {
            return json;
        }

        var text = template.GetString()!;
        return Encoding.UTF8.GetBytes(text.Replace("\"$zaqar_message$\"", Encoding.UTF8.GetString(json), StringComparison.Ordinal));
    }

    /// <summary>One key of a subscription's options (the adapter's JSON), or null.</summary>
    public static JsonElement? Option(ReadOnlyMemory<byte> options, string name)
    {
        if (options.IsEmpty)
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(options);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(name, out var v) ? v.Clone() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
