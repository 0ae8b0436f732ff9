using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Daakia.LoadTest;

/// <summary>Daakia's WebSocket JSON API (<c>/v1/ws</c>): <c>hello</c>, <c>send</c> → <c>ack</c>, <c>letter</c>, <c>ack</c> of message ids.</summary>
internal sealed class JsonApiWire : IDirectWire
{
    public static readonly JsonApiWire Instance = new();

    public string Scenario => "ws-direct";

    public string DefaultPath => "/v1/ws";

    public async Task<(WsClient Client, string Id)> ConnectAsync(Uri url, string name, string? tenant = null) => (await HelloAsync(url, name, tenant), name);

    /// <summary>Connects and says hello as <paramref name="author"/>, in <paramref name="tenant"/> (null: the server's first open tenant).</summary>
    public static async Task<WsClient> HelloAsync(Uri url, string author, string? tenant = null)
    {
        var client = await WsClient.ConnectAsync(url);
        var tenantField = tenant is null ? "" : $",\"tenant\":\"{tenant}\"";
        await client.SendNowAsync($"{{\"id\":0,\"type\":\"hello\",\"author\":\"{author}\"{tenantField},\"heartbeat\":300}}");
        var reply = await client.ReceiveMessageAsync() ?? throw new IOException("The server closed the connection after hello.");
        if (!Encoding.UTF8.GetString(reply.Span).Contains("\"ack\"", StringComparison.Ordinal))
        {
            client.Dispose();
            throw new InvalidOperationException("hello refused: " + Encoding.UTF8.GetString(reply.Span));
        }

        return client;
    }

    public string SendFrame(string self, int requestId, string recipient, long sentAt, int sequence, string pad) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{{\"id\":{requestId},\"type\":\"send\",\"recipients\":[\"{recipient}\"],\"payload\":{{\"t\":{sentAt},\"s\":{sequence},\"pad\":\"{pad}\"}}}}");

    public string AckFrame(string self, int ackId, string messageId) =>
        string.Create(CultureInfo.InvariantCulture, $"{{\"id\":{ackId},\"type\":\"ack\",\"message_ids\":[\"{messageId}\"]}}");

    public ReplyKind ParseReply(ReadOnlySpan<byte> frame, out int requestId)
    {
        var reader = new Utf8JsonReader(frame);
        requestId = 0;
        var kind = ReplyKind.Other;
        bool haveType = false, haveId = false;
        while ((!haveType || !haveId) && reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1)
            {
                continue;
            }

            if (reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                kind = reader.ValueTextEquals("ack"u8) ? ReplyKind.Ok : reader.ValueTextEquals("error"u8) ? ReplyKind.Error : ReplyKind.Other;
                haveType = true;
            }
            else if (reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                haveId = reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out requestId);
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

    public int ParseAckReply(ReadOnlySpan<byte> frame)
    {
        // {"type":"ack","id":7,"acknowledged":1}: only the reply to an ack carries "acknowledged".
        var reader = new Utf8JsonReader(frame);
        var isAck = false;
        var acknowledged = -1;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1)
            {
                continue;
            }

            if (reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                isAck = reader.ValueTextEquals("ack"u8);
                if (!isAck)
                {
                    return -1;
                }
            }
            else if (reader.ValueTextEquals("acknowledged"u8))
            {
                reader.Read();
                acknowledged = reader.TokenType == JsonTokenType.Number ? reader.GetInt32() : -1;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return isAck ? acknowledged : -1;
    }

    public ReplyKind ParseDelivery(ReadOnlySpan<byte> frame, out string? messageId, out long sentAt, out int sequence)
    {
        messageId = null;
        sentAt = 0;
        sequence = -1;
        var reader = new Utf8JsonReader(frame);
        var kind = ReplyKind.Other;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.CurrentDepth == 1 && reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                kind = reader.ValueTextEquals("letter"u8) ? ReplyKind.Ok : reader.ValueTextEquals("error"u8) ? ReplyKind.Error : ReplyKind.Other;
                if (kind != ReplyKind.Ok)
                {
                    return kind;
                }
            }
            else if (reader.CurrentDepth == 1 && reader.ValueTextEquals("message_id"u8))
            {
                reader.Read();
                messageId = reader.GetString();
            }
            else if (reader.CurrentDepth == 2 && reader.ValueTextEquals("t"u8))
            {
                reader.Read();
                sentAt = reader.GetInt64();
            }
            else if (reader.CurrentDepth == 2 && reader.ValueTextEquals("s"u8))
            {
                reader.Read();
                sequence = reader.GetInt32();
            }
        }

        return kind == ReplyKind.Ok && messageId is null ? ReplyKind.Error : kind; // a letter without an id cannot be acked
    }
}
