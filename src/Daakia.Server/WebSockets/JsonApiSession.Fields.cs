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

    /// <summary>The required <c>message_ids</c>: 1 to <c>InboxPageSize</c> message ids.</summary>
    private Guid[] MessageIds(JsonElement root)
    {
        var raw = Strings(root, "message_ids", 1, Engine.Options.InboxPageSize);
        var ids = new Guid[raw.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = Guid.TryParse(raw[i], out var g) ? g : throw Invalid($"message_ids[{i}] is not a message id.");
        }

        return ids;
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

        var result = new List<string>(count);
        foreach (var item in e.EnumerateArray())
        {
            result.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw Invalid($"'{name}' must contain only strings."));
        }

        return result;
    }
}
