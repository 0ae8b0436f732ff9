using System.Text;
using System.Text.Json;
using Daakia.Core;

namespace Daakia.Server.WebSockets;

internal sealed partial class TextoSession
{
    private static Action<Utf8JsonWriter> ConnectionData(ClientId client) => w =>
    {
        w.WriteStartObject();
        w.WriteString("client_id"u8, client.Value);
        w.WriteEndObject();
    };

    /// <summary>A texto frame: <c>{"client_id", "id", "kind", "data"}</c>.</summary>
    private static byte[] Frame(ClientId? client, string? id, string kind, Action<Utf8JsonWriter>? data) =>
        FrameEncoder.Encode((client, id, kind, data), static (w, s) =>
        {
            w.WriteStartObject();
            if (s.client is { } c)
            {
                w.WriteString("client_id"u8, c.Value);
            }
            else
            {
                w.WriteNull("client_id"u8);
            }

            if (s.id is null)
            {
                w.WriteNull("id"u8);
            }
            else
            {
                w.WriteString("id"u8, s.id);
            }

            w.WriteString("kind"u8, s.kind);
            w.WritePropertyName("data"u8);
            if (s.data is null)
            {
                w.WriteNullValue();
            }
            else
            {
                s.data(w);
            }

            w.WriteEndObject();
        });

    private void Error(string? id, string code, string description)
    {
        SessionLog.RequestRejected(Context.Logger, code, description);
        Send(Frame(Connection?.Client, id, "error", w =>
        {
            w.WriteStartObject();
            w.WriteString("code"u8, code);
            w.WriteString("description"u8, description);
            w.WriteEndObject();
        }));
    }

    protected override byte[] EncodeLetter(Letter letter)
    {
        // texto's `receive` names the recipient in client_id, so the frame is per recipient; cache only single-recipient letters.
        var single = letter.Recipients.Count == 1;
        if (single && letter.EncodedCache is EncodedFrames { Texto: { } cached })
        {
            return cached;
        }

        var bytes = Frame(Connection?.Client ?? letter.Recipients[0], letter.Id.ToString(), "receive", w =>
        {
            w.WriteStartObject();
            w.WriteString("sender_id"u8, letter.Author.Value);
            w.WriteString("text"u8, TextOf(letter.Payload.Span));
            w.WriteEndObject();
        });
        if (single)
        {
            EncodedFrames.Of(letter).Texto = bytes;
        }

        return bytes;
    }

    /// <summary>Texto has no topics; publications (presence events) are not sent to texto clients.</summary>
    protected override byte[] EncodePublication(Publication publication) => [];

    /// <summary>A JSON string payload is texto text as is; any other JSON value is passed as its JSON text.</summary>
    private static string TextOf(ReadOnlySpan<byte> payload)
    {
        var reader = new Utf8JsonReader(payload);
        if (reader.Read() && reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString()!;
        }

        return Encoding.UTF8.GetString(payload);
    }
}
