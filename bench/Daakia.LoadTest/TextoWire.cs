using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Daakia.LoadTest;

/// <summary>
/// texto (<c>/v1/texto</c>, seed 003): the server greets with a <c>connection</c> frame carrying the client's id;
/// <c>send</c> → <c>ack</c> (same id); <c>receive</c>; the client's <c>ack</c> echoes the receive's id and gets no reply.
/// The sender's timestamp and sequence travel in the text as <c>"{t} {s} {pad}"</c>.
/// </summary>
internal sealed class TextoWire : IDirectWire
{
    public static readonly TextoWire Instance = new();

    public string Scenario => "texto-direct";

    public string DefaultPath => "/v1/texto";

    public async Task<(WsClient Client, string Id)> ConnectAsync(Uri url, string name, string? tenant = null)
    {
        if (tenant is not null)
        {
            throw new ArgumentException("texto clients live in the default tenant; --tenants does not apply to texto-direct.", nameof(tenant));
        }

        var (client, clientId) = await GreetAsync(url);
        return (client, clientId);
    }

    /// <summary>Connects and reads the server's <c>connection</c> greeting: the socket and the id the server gave it.</summary>
    public static async Task<(WsClient Client, string Id)> GreetAsync(Uri url)
    {
        var client = await WsClient.ConnectAsync(url);
        var greeting = await client.ReceiveMessageAsync() ?? throw new IOException("The server closed the connection before its greeting.");
        using var doc = JsonDocument.Parse(greeting);
        if (!doc.RootElement.TryGetProperty("kind"u8, out var kind) || kind.GetString() != "connection"
            || !doc.RootElement.TryGetProperty("client_id"u8, out var id) || id.GetString() is not { } clientId)
        {
            client.Dispose();
            throw new InvalidOperationException("Expected texto's connection greeting, got " + Encoding.UTF8.GetString(greeting.Span));
        }

        return (client, clientId);
    }

    public string SendFrame(string self, int requestId, string recipient, long sentAt, int sequence, string pad) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{{\"client_id\":\"{self}\",\"id\":\"00000000-0000-4000-8000-{requestId:D12}\",\"kind\":\"send\",\"data\":{{\"receiver_id\":\"{recipient}\",\"text\":\"{sentAt} {sequence} {pad}\"}}}}");

    public string AckFrame(string self, int ackId, string messageId) =>
        $"{{\"client_id\":\"{self}\",\"id\":\"{messageId}\",\"kind\":\"ack\",\"data\":null}}";

    public int ParseAckReply(ReadOnlySpan<byte> frame) => -1;

    public ReplyKind ParseReply(ReadOnlySpan<byte> frame, out int requestId)
    {
        requestId = 0;
        var reader = new Utf8JsonReader(frame);
        var kind = ReplyKind.Other;
        bool haveKind = false, haveId = false;
        while ((!haveKind || !haveId) && reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1)
            {
                continue;
            }

            if (reader.ValueTextEquals("kind"u8))
            {
                reader.Read();
                kind = reader.ValueTextEquals("ack"u8) ? ReplyKind.Ok : reader.ValueTextEquals("error"u8) ? ReplyKind.Error : ReplyKind.Other;
                haveKind = true;
            }
            else if (reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                // Request ids are UUIDs (texto requires them): 00000000-0000-4000-8000-<the number in 12 digits>.
                haveId = reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped && reader.ValueSpan.Length == 36
                    && Utf8Parser.TryParse(reader.ValueSpan[24..], out requestId, out var used) && used == 12;
                if (!haveId)
                {
                    return ReplyKind.Other;
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return haveId ? kind : ReplyKind.Other;
    }

    public ReplyKind ParseDelivery(ReadOnlySpan<byte> frame, out string? messageId, out long sentAt, out int sequence)
    {
        messageId = null;
        sentAt = 0;
        sequence = -1;
        var reader = new Utf8JsonReader(frame);
        var kind = ReplyKind.Other;
        var haveText = false;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.CurrentDepth == 1 && reader.ValueTextEquals("kind"u8))
            {
                reader.Read();
                kind = reader.ValueTextEquals("receive"u8) ? ReplyKind.Ok : reader.ValueTextEquals("error"u8) ? ReplyKind.Error : ReplyKind.Other;
                if (kind != ReplyKind.Ok)
                {
                    return kind;
                }
            }
            else if (reader.CurrentDepth == 1 && reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                messageId = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.CurrentDepth == 2 && reader.ValueTextEquals("text"u8))
            {
                reader.Read();
                // "{t} {s} {pad}": digits, spaces and 'x' only, so the raw value is the text.
                var text = reader.ValueSpan;
                haveText = !reader.ValueIsEscaped
                    && Utf8Parser.TryParse(text, out sentAt, out var used) && used < text.Length && text[used] == (byte)' '
                    && Utf8Parser.TryParse(text[(used + 1)..], out sequence, out _);
            }
        }

        return kind == ReplyKind.Ok && (messageId is null || !haveText) ? ReplyKind.Error : kind;
    }
}
