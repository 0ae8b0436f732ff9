using System.Runtime.InteropServices;
using System.Text.Json;
using Daakia.Core;

namespace Daakia.Server.WebSockets;

internal sealed partial class JsonApiSession
{
    private const string TooManyRecipients = ErrorCodes.TooManyRecipients;

    private static RequestException Invalid(string message) => new(ErrorCodes.InvalidArgument, message);

    private static string Truncate(string s) => s.Length > 40 ? s[..40] + "…" : s;

    private static void StartAck(Utf8JsonWriter w, byte[] id)
    {
        w.WriteStartObject();
        w.WriteString("type"u8, "ack"u8);
        w.WritePropertyName("id"u8);
        w.WriteRawValue(id, skipInputValidation: true);
    }

    private void Ack(byte[] id) => Send(FrameEncoder.Encode(id, static (w, i) =>
    {
        StartAck(w, i);
        w.WriteEndObject();
    }));

    private void Error(byte[]? id, string code, string description)
    {
        SessionLog.RequestRejected(Context.Logger, code, description);
        Send(FrameEncoder.Encode((id, code, description), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "error"u8);
            w.WritePropertyName("id"u8);
            if (s.id is null)
            {
                w.WriteNullValue();
            }
            else
            {
                w.WriteRawValue(s.id, skipInputValidation: true);
            }

            w.WriteString("code"u8, s.code);
            w.WriteString("description"u8, s.description);
            w.WriteEndObject();
        }));
    }

    /// <summary>The request types, so that a known <c>type</c> costs no new string per request.</summary>
    private static readonly string[] KnownTypes = ["send", "ack", "hello", "ping", "release", "dead_letters", "dead_letters_count", "dead_letters_ack", "delivery_mode", "presence", "presence_query", "roster", "subscribe", "unsubscribe", "publish", "queue_bind", "queue_unbind", "queue_bindings",
        "worker_register", "worker_unregister", "worker_stats", "services_list", "peer_services", "workers_available", "task_submit", "task_get", "tasks_list", "task_cancel", "task_started", "task_progress", "task_complete", "activity_subscribe", "activity_unsubscribe"];

    /// <summary>The <c>type</c> string: one of <see cref="KnownTypes"/> when it equals it, else as sent.</summary>
    private static string TypeName(JsonElement type)
    {
        foreach (var known in KnownTypes)
        {
            if (type.ValueEquals(known))
            {
                return known;
            }
        }

        return type.GetString()!;
    }

    /// <summary>Whether a string <c>id</c> has at most <paramref name="max"/> characters (UTF-16), read without a string
    /// when its raw bytes are few enough: every character takes at least one byte of JSON.</summary>
    private static bool IdFits(JsonElement id, int max) =>
        JsonMarshal.GetRawUtf8Value(id).Length - 2 <= max || id.GetString()!.Length <= max;

    private ClientId _lastRecipient;

    /// <summary>The required <c>recipients</c>: 1 to <c>MaxRecipients</c> client ids.</summary>
    private ClientId[] Recipients(JsonElement root)
    {
        var e = Array(root, "recipients", 1, Engine.Options.MaxRecipients, TooManyRecipients);
        var ids = new ClientId[e.GetArrayLength()];
        var i = 0;
        foreach (var item in e.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                throw Invalid("'recipients' must contain only strings.");
            }

            // A connection mostly writes to the same few clients: the last valid id is reused when equal, not read again.
            if (_lastRecipient.Value is { } last && item.ValueEquals(last))
            {
                ids[i] = _lastRecipient;
            }
            else if (ClientId.TryCreate(item.GetString()!, out var r))
            {
                ids[i] = _lastRecipient = r;
            }

            i++;
        }

        // Every item is a string before any is judged as a client id, as before.
        for (i = 0; i < ids.Length; i++)
        {
            if (ids[i].Value is null)
            {
                throw Invalid($"recipients[{i}] is not a valid client id.");
            }
        }

        return ids;
    }

    /// <summary>The required <c>message_ids</c>: 1 to <c>InboxPageSize</c> message ids.</summary>
    private Guid[] MessageIds(JsonElement root)
    {
        var e = Array(root, "message_ids", 1, Engine.Options.InboxPageSize);
        var ids = new Guid[e.GetArrayLength()];
        var bad = -1;
        var i = 0;
        foreach (var item in e.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                throw Invalid("'message_ids' must contain only strings.");
            }

            // The usual form ("D") without a string; any other form Guid.TryParse takes, through one.
            if (!item.TryGetGuid(out ids[i]) && !Guid.TryParse(item.GetString(), out ids[i]) && bad < 0)
            {
                bad = i;
            }

            i++;
        }

        return bad < 0 ? ids : throw Invalid($"message_ids[{bad}] is not a message id.");
    }

    /// <summary>The optional <c>delay</c>: seconds from 0 to <c>Core:MaxDelay</c>.</summary>
    private TimeSpan? Delay(JsonElement root) => Json.WireFormat.TryReadDelay(root, Engine.Options, out var delay)
        ? delay
        : throw Invalid($"'delay' must be a number of seconds from 0 to {Engine.Options.MaxDelay.TotalSeconds:0}.");

    /// <summary>The raw UTF-8 JSON of <c>payload</c> (any JSON value; required).</summary>
    private ReadOnlyMemory<byte> Payload(JsonElement root)
    {
        if (!root.TryGetProperty("payload"u8, out var payload))
        {
            throw Invalid("'payload' is required (any JSON value).");
        }

        var raw = JsonMarshal.GetRawUtf8Value(payload);
        if (raw.Length > Engine.Options.MaxPayloadBytes)
        {
            throw new RequestException(ErrorCodes.PayloadTooLarge, $"The payload is {raw.Length} bytes; at most {Engine.Options.MaxPayloadBytes} are allowed.");
        }

        return raw.ToArray();
    }

    private static string? OptionalString(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return e.ValueKind == JsonValueKind.String ? e.GetString() : throw Invalid($"'{name}' must be a string.");
    }

    private static string RequiredString(JsonElement root, string name) =>
        OptionalString(root, name) ?? throw Invalid($"'{name}' is required and must be a string.");

    private static bool? OptionalBool(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Invalid($"'{name}' must be true or false."),
        };
    }

    private static DeliveryMode? ParseMode(JsonElement root, string name) => OptionalStringOrNull(root, name) switch
    {
        "all" => DeliveryMode.All,
        "any" => DeliveryMode.Any,
        _ => null,
    };

    private static string? OptionalStringOrNull(JsonElement root, string name) =>
        root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;

    /// <summary>A required array of strings with <paramref name="min"/> to <paramref name="max"/> items.</summary>
    private static List<string> Strings(JsonElement root, string name, int min, int max, string tooManyCode = ErrorCodes.LimitExceeded)
    {
        var e = Array(root, name, min, max, tooManyCode);
        var result = new List<string>(e.GetArrayLength());
        foreach (var item in e.EnumerateArray())
        {
            result.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw Invalid($"'{name}' must contain only strings."));
        }

        return result;
    }

    /// <summary>A required array with <paramref name="min"/> to <paramref name="max"/> items.</summary>
    private static JsonElement Array(JsonElement root, string name, int min, int max, string tooManyCode = ErrorCodes.LimitExceeded)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind != JsonValueKind.Array)
        {
            throw Invalid($"'{name}' is required and must be an array of strings.");
        }

        var count = e.GetArrayLength();
        if (count < min)
        {
            throw Invalid($"'{name}' needs at least {min} item(s).");
        }

        if (count > max)
        {
            throw new RequestException(tooManyCode, $"'{name}' may have at most {max} items.");
        }

        return e;
    }
}
