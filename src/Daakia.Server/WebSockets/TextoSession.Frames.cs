using System.Text.Unicode;
using System.Text.Json;
using Daakia.Core;

namespace Daakia.Server.WebSockets;

internal sealed partial class TextoSession
{
    /// <summary>
    /// <c>{"client_id", "resume_secret"}</c>: the secret is Daakia's addition (texto clients ignore fields they do not
    /// know); a later <c>registration</c> needs it to resume this identity.
    /// </summary>
    private Action<Utf8JsonWriter> ConnectionData(ClientId client)
    {
        var secret = Context.ResumeSecrets.For(_tenant, client);
        return w =>
        {
            w.WriteStartObject();
            w.WriteString("client_id"u8, client.Value);
            w.WriteString("resume_secret"u8, secret);
            w.WriteEndObject();
        };
    }

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

    protected override byte[] EncodeLetter(Letter letter, int deliveries)
    {
        // texto's `receive` names the recipient in client_id, so the frame is per recipient; cache only single-recipient
        // letters. A redelivery copies the first delivery's bytes with `"deliveries": n` added at the end of `data`.
        var single = letter.Recipients.Count == 1;
        if (!single || letter.EncodedCache is not EncodedFrames { Texto: { } bytes })
        {
            var payload = letter.Payload;
            if (!Utf8.IsValid(payload.Span))
            {
                throw new FrameEncodingException("The letter's payload is not UTF-8.");
            }

            bytes = Frame(Connection?.Client ?? letter.Recipients[0], letter.Id.ToString(), "receive", w =>
            {
                w.WriteStartObject();
                w.WriteString("sender_id"u8, letter.Author.Value);
                w.WritePropertyName("text"u8);
                WriteText(w, payload.Span);
                if (letter.Headers.Count > 0)
                {
                    Json.WireFormat.WriteHeaders(w, letter.Headers);
                }

                w.WriteEndObject();
            });
            if (single)
            {
                EncodedFrames.Of(letter).Texto = bytes;
            }
        }

        return deliveries <= 1 ? bytes : FrameEncoder.Splice(bytes, 2, ",\"deliveries\":"u8, deliveries, "}}"u8);
    }

    /// <summary>Texto has no topics; publications (presence events) are not sent to texto clients.</summary>
    protected override byte[] EncodePublication(Publication publication) => [];

    /// <summary>
    /// A JSON string payload is texto text as is: its JSON string literal is copied, escapes included, without decoding
    /// it — so an escaped lone surrogate (legal JSON text, not a .NET string) passes as the same escape. Any other JSON
    /// value is passed as its JSON text. The payload is UTF-8 (checked by the caller).
    /// </summary>
    private static void WriteText(Utf8JsonWriter w, ReadOnlySpan<byte> payload)
    {
        try
        {
            var reader = new Utf8JsonReader(payload);
            if (reader.Read() && reader.TokenType == JsonTokenType.String && !reader.HasValueSequence)
            {
                w.WriteRawValue(payload.Slice((int)reader.TokenStartIndex, reader.ValueSpan.Length + 2), skipInputValidation: true);
                return;
            }
        }
        catch (JsonException)
        {
            // Not a JSON value after all: pass its text.
        }

        w.WriteStringValue(payload);
    }
}
