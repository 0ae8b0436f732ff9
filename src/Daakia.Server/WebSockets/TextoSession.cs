using System.Net.WebSockets;
using System.Text.Json;
using Daakia.Core;

namespace Daakia.Server.WebSockets;

/// <summary>
/// The texto protocol (<c>/v1/texto</c>, seed 003): every frame is <c>{client_id, id, kind, data}</c>. The server
/// greets with a <c>connection</c> frame carrying a server-made UUID; <c>send</c> is acknowledged with <c>ack</c> (same
/// id) once durable; letters arrive as <c>receive</c> and leave the inbox on the client's <c>ack</c>. Beyond texto:
/// <c>registration</c> with <c>{"client_id": …}</c> resumes an earlier identity and replays what arrived meanwhile.
/// </summary>
internal sealed partial class TextoSession(WebSocket socket, SessionContext context) : WebSocketSession(socket, context)
{
    private readonly TenantId _tenant = context.Tenants.Default;
    private int _outstanding;

    protected override string Protocol => "texto";

    protected override async Task OnOpenAsync()
    {
        var client = ClientId.NewUnique();
        await ConnectAsAsync(client);
        Send(Frame(client, Guid.NewGuid().ToString(), "connection", ConnectionData(client)));
        Engine.Start(Connection!);
    }

    protected override async ValueTask HandleTextAsync(ReadOnlyMemory<byte> message)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(message, Context.JsonOptions);
        }
        catch (JsonException)
        {
            Error(null, TextoErrors.BadMessage, "The frame is not valid JSON.");
            return;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                Error(null, TextoErrors.BadMessage, "A frame must be a JSON object.");
                return;
            }

            // Seed 003: ids are UUIDs, so strings. A number (or any other value) is refused rather than read as no id.
            string? id = null;
            if (root.TryGetProperty("id"u8, out var idElement) && idElement.ValueKind != JsonValueKind.Null)
            {
                if (idElement.ValueKind != JsonValueKind.String)
                {
                    Error(null, TextoErrors.Invalid, "'id' must be a string (a UUID).");
                    return;
                }

                id = idElement.GetString()!;
                if (id.Length > Context.Options.MaxRequestIdLength)
                {
                    Error(null, TextoErrors.Invalid, $"'id' may be at most {Context.Options.MaxRequestIdLength} characters.");
                    return;
                }
            }

            var kind = root.TryGetProperty("kind"u8, out var k) && k.ValueKind == JsonValueKind.String ? k.GetString() : null;
            root.TryGetProperty("data"u8, out var data);
            try
            {
                switch (kind)
                {
                    case "registration":
                        await RegisterAsync(id, data);
                        break;
                    case "send":
                        await SendAsync(id, data);
                        break;
                    case "ack":
                        await AckAsync(id);
                        break;
                    case "release":
                        await ReleaseAsync(id, data);
                        break;
                    case null:
                        Error(id, TextoErrors.Invalid, "'kind' is required and must be a string.");
                        break;
                    default:
                        Error(id, TextoErrors.NotImplemented, $"Unknown kind '{(kind.Length > 40 ? kind[..40] + "…" : kind)}'.");
                        break;
                }
            }
            catch (DaakiaException ex)
            {
                Error(id, TextoErrors.For(ex.Code), ex.Message);
            }
        }
    }

    protected override void RejectFrame(string code, string description, ReadOnlyMemory<byte> message) =>
        Error(null, TextoErrors.ForWire(code), description);

    private async ValueTask RegisterAsync(string? id, JsonElement data)
    {
        var current = Connection!.Client;
        if (data.ValueKind == JsonValueKind.Object && data.TryGetProperty("client_id"u8, out var earlier))
        {
            if (!TryUuid(earlier, out var resumed))
            {
                Error(id, TextoErrors.Invalid, "'data.client_id' must be a client id this server gave out in a 'connection' frame (a UUID).");
                return;
            }

            if (resumed != current)
            {
                // Only the client the identity was given to holds its secret: an id learnt from a `receive` is not enough.
                var secret = data.TryGetProperty("resume_secret"u8, out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
                if (!Context.ResumeSecrets.Verify(_tenant, resumed, secret))
                {
                    Error(id, TextoErrors.Access, "'data.resume_secret' must be the resume_secret of the 'connection' frame that gave out 'data.client_id'; nothing was resumed.");
                    return;
                }

                // Resume: this connection becomes the earlier identity and gets what was sent to it while away. The
                // earlier identity is connected before this one is let go, so a refusal (its connection limit: EDQUOT;
                // a drain: ESHUTDOWN) is only an error reply and the connection stays what it was, still registered
                // with the core (heartbeats, drain) and still receiving.
                var previous = Connection;
                await ConnectAsAsync(resumed);
                Engine.Disconnect(previous);
                Send(Frame(resumed, id, "connection", ConnectionData(resumed)));
                Engine.Start(Connection);
                return;
            }
        }
        else if (data.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
        {
            Error(id, TextoErrors.Invalid, "'data' of a registration must be null or {\"client_id\": …, \"resume_secret\": …}.");
            return;
        }

        Send(Frame(current, id, "connection", ConnectionData(current)));
    }

    private ValueTask SendAsync(string? id, JsonElement data)
    {
        // The ack is matched to the send by its id (seed 003: a UUID), so a send without one could never be confirmed.
        if (!Guid.TryParseExact(id, "D", out _))
        {
            Error(id, TextoErrors.Invalid, "A send needs an 'id' that is a UUID; its ack carries it. Nothing was sent.");
            return ValueTask.CompletedTask;
        }

        if (data.ValueKind != JsonValueKind.Object
            || !data.TryGetProperty("receiver_id"u8, out var receiver) || receiver.ValueKind != JsonValueKind.String
            || !data.TryGetProperty("text"u8, out var text) || text.ValueKind != JsonValueKind.String)
        {
            Error(id, TextoErrors.Invalid, "'data' must be {\"receiver_id\": string, \"text\": string}.");
            return ValueTask.CompletedTask;
        }

        // Daakia's additions (texto clients that don't know them never send them): `delay` and `headers`.
        if (!Json.WireFormat.TryReadDelay(data, Engine.Options, out var delay))
        {
            Error(id, TextoErrors.Invalid, $"'data.delay' must be a number of seconds from 0 to {Engine.Options.MaxDelay.TotalSeconds:0}. Nothing was sent.");
            return ValueTask.CompletedTask;
        }

        var headers = Json.WireFormat.ReadHeaders(data, Engine.Options);

        if (!TryUuid(receiver, out var to))
        {
            Error(id, TextoErrors.Invalid, "'receiver_id' must be a client id (a UUID). Nothing was sent.");
            return ValueTask.CompletedTask;
        }

        // The letter's payload is the text as a JSON string, so the JSON API and REST see the same letter.
        var payload = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(text).ToArray();
        var from = Connection!.Client;
        var send = Engine.Letters.SendAsync(_tenant, from, [to], payload, delay: delay, headers: headers);
        var pending = CompleteSendAsync(from, id, send);
        return Interlocked.Increment(ref _outstanding) > Context.Options.OutboxCapacity / 2 ? new ValueTask(pending) : ValueTask.CompletedTask;
    }

    private async Task CompleteSendAsync(ClientId from, string? id, ValueTask<SendReceipt> send)
    {
        if (await CompleteAsync(id, send.AsTask(), "send", "The message could not be stored; it was not accepted."))
        {
            Send(Frame(from, id, "ack", null));
        }
    }

    private ValueTask AckAsync(string? id)
    {
        // A client acks a `receive` by echoing its id, which is the message id.
        if (!Guid.TryParse(id, out var messageId))
        {
            Error(id, TextoErrors.Invalid, "An ack must carry the id of the 'receive' it acknowledges.");
            return ValueTask.CompletedTask;
        }

        // As with sends, the read loop does not wait for the ack's store write: this connection's next acks join the
        // same group commit. Past the limit, the loop waits, which pushes back on a pipelining client.
        var pending = CompleteAckAsync(id!, Engine.Letters.AckAsync(_tenant, Connection!.Client, [messageId]));
        return Interlocked.Increment(ref _outstanding) > Context.Options.OutboxCapacity / 2 ? new ValueTask(pending) : ValueTask.CompletedTask;
    }

    /// <summary>
    /// Daakia's negative ack: <c>{"kind": "release", "id": "&lt;the receive's id&gt;", "data": null | {"delay": s}}</c>
    /// gives a <c>receive</c> back for redelivery. Like an ack it has no reply; a failure, or a message that is not out
    /// to this identity (ENOENT), is an <c>error</c> with the release's id.
    /// </summary>
    private ValueTask ReleaseAsync(string? id, JsonElement data)
    {
        if (!Guid.TryParse(id, out var messageId))
        {
            Error(id, TextoErrors.Invalid, "A release must carry the id of the 'receive' it gives back.");
            return ValueTask.CompletedTask;
        }

        if (data.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.Object) || !Json.WireFormat.TryReadDelay(data, Engine.Options, out var delay))
        {
            Error(id, TextoErrors.Invalid, $"'data' of a release must be null or {{\"delay\": seconds from 0 to {Engine.Options.MaxDelay.TotalSeconds:0}}}.");
            return ValueTask.CompletedTask;
        }

        var pending = CompleteReleaseAsync(id!, Engine.Letters.ReleaseAsync(_tenant, Connection!.Client, [messageId], delay));
        return Interlocked.Increment(ref _outstanding) > Context.Options.OutboxCapacity / 2 ? new ValueTask(pending) : ValueTask.CompletedTask;
    }

    private async Task CompleteReleaseAsync(string id, ValueTask<int> release)
    {
        var task = release.AsTask();
        if (await CompleteAsync(id, task, "release", "The release could not be stored; the message stays out to this identity.") && task.Result == 0)
        {
            Error(id, TextoErrors.NotFound, "No message with this id is out to this identity (not received, already acknowledged or released).");
        }
    }

    /// <summary>
    /// texto's ack has no reply (seed 003), so only a failure is reported: an <c>error</c> frame carrying the ack's id
    /// (the message id). The message stays in the inbox and is delivered again when the identity next connects.
    /// </summary>
    private Task<bool> CompleteAckAsync(string id, ValueTask<int> ack) =>
        CompleteAsync(id, ack.AsTask(), "ack", "The ack could not be stored; the message will be delivered again.");

    /// <summary>
    /// Waits for a request's store write off the read loop: a client fault is answered with its texto error, a server
    /// fault is logged and answered with EIO; either way the outstanding count goes down. True when it succeeded.
    /// </summary>
    private async Task<bool> CompleteAsync(string? id, Task write, string what, string internalError)
    {
        try
        {
            await write;
            return true;
        }
        catch (DaakiaException ex)
        {
            Error(id, TextoErrors.For(ex.Code), ex.Message);
        }
        catch (Exception ex)
        {
            SessionLog.RequestFailed(Context.Logger, ex, what);
            Error(id, TextoErrors.Internal, internalError);
        }
        finally
        {
            Interlocked.Decrement(ref _outstanding);
        }

        return false;
    }

    /// <summary>A texto client id: a UUID, in the one spelling the server gives out (lower case, hyphens).</summary>
    private static bool TryUuid(JsonElement e, out ClientId client)
    {
        client = default;
        return e.ValueKind == JsonValueKind.String && Guid.TryParseExact(e.GetString(), "D", out var uuid) && ClientId.TryCreate(uuid.ToString(), out client);
    }

    private async ValueTask ConnectAsAsync(ClientId client) =>
        Connection = await Engine.ConnectAsync(_tenant, client, this, new ConnectOptions("texto"));
}
