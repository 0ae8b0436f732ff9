using System.Net.WebSockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using Daakia.Core;
using Daakia.Server.Json;

namespace Daakia.Server.WebSockets;

/// <summary>
/// The native WebSocket JSON API (docs/protocols/websocket.md): the Swarm envelope plus a request <c>id</c>; every
/// request gets exactly one <c>ack</c> or <c>error</c> with the same id.
/// </summary>
internal sealed partial class JsonApiSession(WebSocket socket, SessionContext context) : WebSocketSession(socket, context)
{
    private TenantId _tenant;
    private int _outstanding;

    protected override string Protocol => "ws";

    protected override ValueTask HandleTextAsync(ReadOnlyMemory<byte> message)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(message, Context.JsonOptions);
        }
        catch (JsonException)
        {
            Error(null, ErrorCodes.InvalidJson, "The frame is not valid JSON.");
            return ValueTask.CompletedTask;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                Error(null, ErrorCodes.InvalidJson, "A frame must be a JSON object.");
                return ValueTask.CompletedTask;
            }

            byte[]? id = null;
            if (root.TryGetProperty("id"u8, out var idElement))
            {
                if (idElement.ValueKind is not (JsonValueKind.String or JsonValueKind.Number) || idElement.ValueKind == JsonValueKind.String && !IdFits(idElement, Context.Options.MaxRequestIdLength))
                {
                    Error(null, ErrorCodes.InvalidArgument, $"'id' must be a string (at most {Context.Options.MaxRequestIdLength} characters) or a number.");
                    return ValueTask.CompletedTask;
                }

                id = JsonMarshal.GetRawUtf8Value(idElement).ToArray();
            }

            if (!root.TryGetProperty("type"u8, out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
            {
                Error(id, ErrorCodes.UnknownType, "'type' is required and must be a string.");
                return ValueTask.CompletedTask;
            }

            if (id is null)
            {
                Error(null, ErrorCodes.InvalidArgument, "'id' is required: every request gets a reply carrying it.");
                return ValueTask.CompletedTask;
            }

            var type = TypeName(typeElement);
            try
            {
                var task = Dispatch(type, id, root);
                return task.IsCompletedSuccessfully ? ValueTask.CompletedTask : GuardAsync(task, id, type);
            }
            catch (Exception ex)
            {
                Fail(ex, id, type);
            }

            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Turns a failure of an asynchronous request into its error reply.</summary>
    private async ValueTask GuardAsync(ValueTask task, byte[] id, string type)
    {
        try
        {
            await task;
        }
        catch (Exception ex)
        {
            Fail(ex, id, type);
        }
    }

    /// <summary>The one reply to a failed request: its error code, or <c>internal</c> (logged) for a server fault.</summary>
    private void Fail(Exception exception, byte[]? id, string type)
    {
        switch (exception)
        {
            case DaakiaException ex:
                Error(id, ErrorCodes.For(ex.Code), ex.Message);
                break;
            case RequestException ex:
                Error(id, ex.Code, ex.Message);
                break;
            default:
                SessionLog.RequestFailed(Context.Logger, exception, type);
                Error(id, ErrorCodes.Internal, type == "send"
                    ? "The letter could not be stored; it was not accepted."
                    : "The request failed on the server.");
                break;
        }
    }

    protected override void RejectFrame(string code, string description, ReadOnlyMemory<byte> message)
    {
        byte[]? id = null;
        if (!message.IsEmpty && FrameText.Check(message.Span) == FrameTextFault.None)
        {
            try
            {
                using var doc = JsonDocument.Parse(message, Context.JsonOptions);
                if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("id"u8, out var e) && e.ValueKind is JsonValueKind.String or JsonValueKind.Number)
                {
                    id = JsonMarshal.GetRawUtf8Value(e).ToArray();
                }
            }
            catch (JsonException)
            {
            }
        }

        Error(id, code, description);
    }

    private ValueTask Dispatch(string type, byte[] id, JsonElement root)
    {
        if (type == "hello")
        {
            return HelloAsync(id, root);
        }

        if (type == "ping")
        {
            Ack(id);
            return ValueTask.CompletedTask;
        }

        if (Connection is null)
        {
            if (!IsKnownType(type))
            {
                throw new RequestException(ErrorCodes.UnknownType, $"Unknown type '{Truncate(type)}'.");
            }

            throw new RequestException(ErrorCodes.NotIdentified, "Send 'hello' first.");
        }

        switch (type)
        {
            case "send":
                return SendAsync(id, root);
            case "ack":
                return AckLettersAsync(id, root);
            case "release":
                return ReleaseAsync(id, root);
            case "dead_letters":
                return DeadLettersAsync(id, root);
            case "dead_letters_count":
                return DeadLettersCountAsync(id);
            case "dead_letters_ack":
                return DeadLettersAckAsync(id, root);
            case "delivery_mode":
                Engine.SetDeliveryMode(Connection, ParseMode(root, "mode") ?? throw Invalid("'mode' must be \"all\" or \"any\"."));
                Ack(id);
                return ValueTask.CompletedTask;
            case "presence":
                SetPresence(id, root);
                return ValueTask.CompletedTask;
            case "presence_query":
                return PresenceQueryAsync(id, root);
            case "roster":
                return RosterAsync(id, root);
            case "subscribe":
                Engine.Topics.Subscribe(Connection, Strings(root, "topics", 1, Engine.Options.MaxSubscriptionsPerConnection));
                Ack(id);
                return ValueTask.CompletedTask;
            case "unsubscribe":
                Engine.Topics.Unsubscribe(Connection, Strings(root, "topics", 1, Engine.Options.MaxSubscriptionsPerConnection));
                Ack(id);
                return ValueTask.CompletedTask;
            case "publish":
                return PublishAsync(id, root);
            case "queue_bind":
                return BindAsync(id, root);
            case "queue_unbind":
                return UnbindAsync(id, root);
            case "queue_bindings":
                Bindings(id, root);
                return ValueTask.CompletedTask;
            default:
                if (TryDispatchTask(type, id, root, out var task) || TryDispatchActivity(type, id, root, out task))
                {
                    return task;
                }


                throw new RequestException(ErrorCodes.UnknownType, $"Unknown type '{Truncate(type)}'.");
        }
    }

    /// <summary>
    /// <c>publish</c>: to the topic's subscribers now; with <c>"retain": true</c> also kept as the topic's retained
    /// message (acknowledged once durable), and <c>"retain": true</c> without a payload removes it.
    /// </summary>
    private ValueTask PublishAsync(byte[] id, JsonElement root)
    {
        var topic = RequiredString(root, "topic");
        var retain = OptionalBool(root, "retain") == true;
        var clear = retain && !root.TryGetProperty("payload"u8, out _);
        var payload = clear ? ReadOnlyMemory<byte>.Empty : Payload(root);
        var properties = WireFormat.ReadPublicationProperties(root, Invalid);
        Engine.Topics.Publish(_tenant, Connection!.Client, topic, payload, clear ? Publication.OpaqueContentType : Letter.JsonContentType,
            QualityOfService.AtMostOnce, retain, out var stored, properties);
        if (stored.IsCompletedSuccessfully)
        {
            Ack(id);
            return ValueTask.CompletedTask;
        }

        return AckWhenStoredAsync(id, stored);
    }

    private async ValueTask AckWhenStoredAsync(byte[] id, Task stored)
    {
        await stored;
        Ack(id);
    }

    private static bool IsKnownType(string type) => type is "send" or "ack" or "release" or "dead_letters" or "dead_letters_count" or "dead_letters_ack" or "delivery_mode" or "presence" or "presence_query" or "roster" or "subscribe" or "unsubscribe" or "publish"
        or "queue_bind" or "queue_unbind" or "queue_bindings" or "worker_register" or "worker_unregister" or "worker_stats" or "services_list" or "peer_services"
        or "workers_available" or "task_submit" or "task_get" or "tasks_list" or "task_cancel" or "task_started" or "task_progress" or "task_complete"
        or "activity_subscribe" or "activity_unsubscribe";

    private async ValueTask HelloAsync(byte[] id, JsonElement root)
    {
        if (Connection is not null)
        {
            throw new RequestException(ErrorCodes.AlreadyIdentified, "This connection already said hello.");
        }

        _tenant = Context.Tenants.Resolve(OptionalString(root, "tenant"));
        var author = OptionalString(root, "author");
        ClientId client;
        if (author is null)
        {
            client = ClientId.NewUnique();
        }
        else if (!ClientId.TryCreate(author, out client))
        {
            throw Invalid($"'author' must be 1-{ClientId.MaxLength} of [A-Za-z0-9._:@-].");
        }

        TimeSpan? heartbeat = null;
        if (root.TryGetProperty("heartbeat"u8, out var hb))
        {
            heartbeat = hb.ValueKind == JsonValueKind.Number && hb.TryGetDouble(out var s) && s > 0 && s <= 86400
                ? TimeSpan.FromSeconds(s)
                : throw Invalid("'heartbeat' must be a positive number of seconds.");
        }

        var mode = ParseMode(root, "delivery_mode");
        if (root.TryGetProperty("delivery_mode"u8, out _) && mode is null)
        {
            throw Invalid("'delivery_mode' must be \"all\" or \"any\".");
        }

        var connection = await Engine.ConnectAsync(_tenant, client, this, new ConnectOptions("ws", mode, heartbeat));
        Connection = connection;
        var options = Engine.Options;
        var frameLimit = Context.Options.MaxFrameBytes;
        Send(FrameEncoder.Encode((id, connection, options, frameLimit, mode ?? DeliveryMode.All), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "ack"u8);
            w.WritePropertyName("id"u8);
            w.WriteRawValue(s.id, skipInputValidation: true);
            w.WriteString("client_id"u8, s.connection.Client.Value);
            w.WriteString("connection_id"u8, s.connection.Id.ToString());
            w.WriteString("delivery_mode"u8, s.Item5 == DeliveryMode.Any ? "any"u8 : "all"u8);
            w.WriteNumber("heartbeat"u8, s.connection.Heartbeat.TotalSeconds);
            w.WriteStartObject("limits"u8);
            w.WriteNumber("max_payload_bytes"u8, s.options.MaxPayloadBytes);
            w.WriteNumber("max_recipients"u8, s.options.MaxRecipients);
            w.WriteNumber("max_frame_bytes"u8, s.frameLimit);
            w.WriteNumber("max_inflight"u8, s.options.MaxInflightPerConnection);
            w.WriteEndObject();
            w.WriteEndObject();
        }));
        Engine.Start(connection);
    }

    private ValueTask SendAsync(byte[] id, JsonElement root)
    {
        var ids = Recipients(root);

        TimeSpan? ttl = null;
        if (root.TryGetProperty("ttl"u8, out var ttlElement) && ttlElement.ValueKind != JsonValueKind.Null)
        {
            ttl = ttlElement.ValueKind == JsonValueKind.Number && ttlElement.TryGetDouble(out var s) && s > 0 && s <= Engine.Options.MaxTtl.TotalSeconds
                ? TimeSpan.FromSeconds(s)
                : throw Invalid($"'ttl' must be a positive number of seconds, at most {Engine.Options.MaxTtl.TotalSeconds:0}.");
        }

        var delay = Delay(root);
        var headers = WireFormat.ReadHeaders(root, Engine.Options);
        var send = Engine.Letters.SendAsync(_tenant, Connection!.Client, ids, Payload(root), ttl, delay, headers);
        if (send.IsCompletedSuccessfully)
        {
            ReplySent(id, send.Result);
            return ValueTask.CompletedTask;
        }

        // The reply waits for the durable write, but the read loop does not: the next requests of this connection
        // join the same group commit. Past the limit, the loop waits, which pushes back on the client.
        var pending = CompleteSendAsync(id, send);
        return Interlocked.Increment(ref _outstanding) > Context.Options.OutboxCapacity / 2 ? new ValueTask(pending) : ValueTask.CompletedTask;
    }

    private async Task CompleteSendAsync(byte[] id, ValueTask<SendReceipt> send)
    {
        try
        {
            ReplySent(id, await send);
        }
        catch (Exception ex)
        {
            Fail(ex, id, "send");
        }
        finally
        {
            Interlocked.Decrement(ref _outstanding);
        }
    }

    private void ReplySent(byte[] id, SendReceipt receipt) => Send(FrameEncoder.Encode((id, receipt), static (w, s) =>
    {
        w.WriteStartObject();
        w.WriteString("type"u8, "ack"u8);
        w.WritePropertyName("id"u8);
        w.WriteRawValue(s.id, skipInputValidation: true);
        w.WriteString("message_id"u8, s.receipt.MessageId);
        WireFormat.WriteTimestamp(w, "timestamp"u8, s.receipt.Timestamp);
        w.WriteNumber("recipients"u8, s.receipt.Recipients);
        w.WriteEndObject();
    }));

    private ValueTask AckLettersAsync(byte[] id, JsonElement root)
    {
        var ids = MessageIds(root);

        // Like sends, acks complete in the background so a receiver's acks share group commits.
        var pending = CompleteAckAsync(id, Engine.Letters.AckAsync(_tenant, Connection!.Client, ids));
        return Interlocked.Increment(ref _outstanding) > Context.Options.OutboxCapacity / 2 ? new ValueTask(pending) : ValueTask.CompletedTask;
    }

    private async Task CompleteAckAsync(byte[] id, ValueTask<int> ack)
    {
        try
        {
            var acknowledged = await ack;
            Send(FrameEncoder.Encode((id, acknowledged), static (w, s) =>
            {
                w.WriteStartObject();
                w.WriteString("type"u8, "ack"u8);
                w.WritePropertyName("id"u8);
                w.WriteRawValue(s.id, skipInputValidation: true);
                w.WriteNumber("acknowledged"u8, s.acknowledged);
                w.WriteEndObject();
            }));
        }
        catch (Exception ex)
        {
            Fail(ex, id, "ack");
        }
        finally
        {
            Interlocked.Decrement(ref _outstanding);
        }
    }
}
