using System.Text.Json;
using System.Text.Unicode;

namespace Daakia.Server.Json;

/// <summary>What a payload of bytes is as JSON: a publication's from MQTT may be anything.</summary>
internal static class JsonPayload
{
    /// <summary>Whether the bytes are exactly one JSON value (UTF-8), as an MQTT client's JSON payload is.</summary>
    public static bool IsJsonValue(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty || !Utf8.IsValid(payload))
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = 64 });
            while (reader.Read())
            {
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Whether the bytes are one JSON value of Unicode text: <see cref="IsJsonValue"/>, and no escaped lone
    /// surrogate (<c>"\ud800"</c>) anywhere — what every body the REST APIs take is checked to be.</summary>
    public static bool IsJsonText(ReadOnlySpan<byte> payload) => IsJsonValue(payload) && !JsonEscapes.HasLoneSurrogate(payload);
}
