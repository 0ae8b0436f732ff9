using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using System.Threading.Channels;
using Daakia.Core;
using Microsoft.AspNetCore.Http;

namespace Daakia.Server.Zaqar;

/// <summary>
/// Zaqar's v2 WebSocket API at <c>/v2/ws</c> on the HTTP port (wire reference §9): one JSON object per text frame,
/// <c>{"action", "headers", "body"}</c>, each answered in order with <c>{"request", "body", "headers": {"status"}}</c>.
/// Headers are per frame (<c>Client-ID</c> and <c>X-Project-ID</c>, as over REST). The same core operations as REST.
/// </summary>
public static partial class ZaqarWebSocket
{
    public const string Path = "/v2/ws";

    public static async Task RunAsync(HttpContext http, DaakiaEngine engine, DaakiaServerOptions options, Notifications.WebhookTargets targets)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        var max = engine.Options.MaxQueuePostBytes + (64 * 1024);
        var buffer = new ArrayBufferWriter<byte>(4096);
        var connection = new ZaqarWsConnection(socket, options.OutboxCapacity, options.OutboxBytes);
        var writer = connection.WriteAsync(http.RequestAborted);
        var context = new ZaqarWsContext(engine, options.Zaqar.SignedUrlKey, targets, connection);
        (WebSocketCloseStatus Status, string Reason)? close = null;
        try
        {
            while (socket.State == WebSocketState.Open && close is null)
            {
                buffer.Clear();
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer.GetMemory(4096), http.RequestAborted);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        close = (WebSocketCloseStatus.NormalClosure, "bye");
                        break;
                    }

                    buffer.Advance(result.Count);
                    if (buffer.WrittenCount > max)
                    {
                        close = (WebSocketCloseStatus.MessageTooBig, "frame too large");
                        break;
                    }
                }
                while (!result.EndOfMessage);

                if (close is null)
                {
                    var reply = await HandleAsync(context, buffer.WrittenMemory, http.RequestAborted);
                    await connection.ReplyAsync(reply, http.RequestAborted);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ChannelClosedException)
        {
            // The connection ended.
        }
        finally
        {
            // Its subscriptions go with it; what was queued is sent, then the close (never beside a send).
            await connection.UnsubscribeAllAsync(engine);
            connection.Complete();
            try
            {
                // A peer that stops reading does not hold the connection: what it has not taken in 5 s is dropped.
                await writer.WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (TimeoutException)
            {
                socket.Abort();
            }

            if (close is { } c && socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                try
                {
                    await socket.CloseOutputAsync(c.Status, c.Reason, http.RequestAborted);
                }
                catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
                {
                    // Gone meanwhile.
                }
            }
        }
    }

    /// <summary>A frame's answer for tests and callers without a connection of their own (no WebSocket subscriptions).</summary>
    internal static Task<ReadOnlyMemory<byte>> HandleAsync(DaakiaEngine engine, string? signingKey, ReadOnlyMemory<byte> frame, CancellationToken cancellationToken) =>
        HandleAsync(new ZaqarWsContext(engine, signingKey, null, null), frame, cancellationToken);

    /// <summary>
    /// One request frame's answer (always an answer: a frame that is not a request gets a 400). The context's signing key
    /// checks pre-signed frames; <paramref name="cancellationToken"/> ends a waiting claim or listing when the connection goes.
    /// </summary>
    internal static async Task<ReadOnlyMemory<byte>> HandleAsync(ZaqarWsContext context, ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        if (WebSockets.FrameText.Check(frame.Span) != WebSockets.FrameTextFault.None)
        {
            return Reply(null, 400, j => Error(j, null, "Can't decode text (JSON) request: not UTF-8 text, or a lone surrogate escaped (such as \\ud800)."));
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(frame, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            return Reply(null, 400, j => Error(j, null, $"Can't decode text (JSON) request. JSONDecodeError: {e.Message}"));
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Reply(null, 400, j => Error(j, null, "Unexpected body type. Expected dict or dict like."));
            }

            try
            {
                if (!root.TryGetProperty("action", out var a) || a.ValueKind != JsonValueKind.String
                    || !root.TryGetProperty("headers", out var headers) || headers.ValueKind != JsonValueKind.Object)
                {
                    throw new ZaqarError(400, "Schema validation failed.", null);
                }

                var action = a.GetString()!;
                var body = root.TryGetProperty("body", out var b) && b.ValueKind == JsonValueKind.Object ? b : default;
                var (status, write) = await ActAsync(context, action, headers, body, cancellationToken);
                return Reply(root, status, write);
            }
            catch (ZaqarError e)
            {
                // Without a description it is the framework's error ({"error"}), else an endpoint's ({"exception"}).
                return Reply(root, e.Status, j => Error(j, e.Description, e.Description is null ? e.Title : null));
            }
            catch (DaakiaException e)
            {
                var z = ZaqarError.From(e);
                return Reply(root, z.Status, j => Error(j, e.Message, null));
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException or ArgumentException)
            {
                // Zaqar's answer to what it did not expect; the connection goes on.
                return Reply(root, 500, j => Error(j, null, "Unexpected error."));
            }
        }
    }

    /// <summary>An endpoint error's body: <c>{"exception", "error"}</c>, or a framework error's <c>{"error"}</c>.</summary>
    private static void Error(Utf8JsonWriter j, string? exception, string? error)
    {
        j.WriteStartObject();
        if (exception is not null)
        {
            j.WriteString("exception", exception);
            j.WriteNull("error");
        }
        else
        {
            j.WriteString("error", error);
        }

        j.WriteEndObject();
    }

    private static ReadOnlyMemory<byte> Reply(JsonElement? request, int status, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var j = new Utf8JsonWriter(buffer))
        {
            j.WriteStartObject();
            j.WritePropertyName("request");
            if (request is { } r)
            {
                j.WriteStartObject();
                foreach (var p in r.EnumerateObject())
                {
                    p.WriteTo(j);
                }

                j.WriteString("api", "v2");
                j.WriteEndObject();
            }
            else
            {
                j.WriteStartObject();
                j.WriteEndObject();
            }

            j.WritePropertyName("body");
            body(j);
            j.WriteStartObject("headers");
            j.WriteNumber("status", status);
            j.WriteEndObject();
            j.WriteEndObject();
        }

        return buffer.WrittenMemory;
    }

    private static string Str(JsonElement body, string name, bool required = true)
    {
        if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String)
        {
            return v.GetString()!;
        }

        return required ? throw new ZaqarError(400, "Schema validation failed.", null) : "";
    }

    private static int Int(JsonElement body, string name, int fallback)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return fallback;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : throw new ZaqarError(400, "Schema validation failed.", null);
    }

    private static bool Bool(JsonElement body, string name)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty(name, out var v))
        {
            return false;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ZaqarError(400, "Schema validation failed.", null),
        };
    }

    private static List<Guid> Ids(JsonElement body, string name, int max)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Array)
        {
            throw new ZaqarError(400, "Schema validation failed.", null);
        }

        ZaqarWriter.Within(v.GetArrayLength(), max, "Limit must be at least 1 and may not be greater than {0}.");

        return [.. v.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String && Guid.TryParse(x.GetString(), out var g) ? g : Guid.Empty).Where(g => g != Guid.Empty)];
    }

    /// <summary>Runs one action: its status and the writer of its body.</summary>
    private static async Task<(int Status, Action<Utf8JsonWriter> Body)> ActAsync(ZaqarWsContext context, string action, JsonElement headers, JsonElement body, CancellationToken cancellationToken)
    {
        var (engine, signingKey, _, _) = context;
        if (!headers.TryGetProperty("Client-ID", out var c) || c.ValueKind != JsonValueKind.String
            || !headers.TryGetProperty("X-Project-ID", out var p) || p.ValueKind != JsonValueKind.String)
        {
            throw new ZaqarError(400, "Schema validation failed.", null);
        }

        // A pre-signed frame (§9.2): checked, and refused as Zaqar refuses it (403 {"error": "Not authorized."}).
        if (headers.TryGetProperty("URL-Signature", out _) && !ZaqarSignedAccess.Verify(signingKey, action, headers, body, engine.Time.GetUtcNow()))
        {
            throw new ZaqarError(403, "Not authorized.", null);
        }

        var project = p.GetString()!;
        var tenant = ZaqarApi.TenantOf(project.Length == 0 ? " " : project);
        var client = Guid.TryParse(c.GetString(), out var cid) ? ClientId.Parse(cid.ToString("D")) : (ClientId?)null;
        var q = engine.Queues;
        var now = engine.Time.GetUtcNow();
        string Queue()
        {
            var name = Str(body, "queue_name");
            return QueueService.IsValidName(name) ? name : throw new ZaqarError(400, "Invalid API request", "Queue names may not be more than 64 characters long, and may contain only ASCII letters, digits, underscores, dashes and dots.");
        }

        ClientId Caller() => client ?? throw new ZaqarError(400, "Invalid API request", "Malformed hexadecimal UUID.");

        switch (action)
        {
            case "queue_list":
            {
                var limit = Int(body, "limit", 10);
                ZaqarWriter.Within(limit, ZaqarWriter.MaxQueuesPerPage, "Limit must be at least 1 and no greater than {0}.");

                var detailed = Bool(body, "detailed");
                var list = q.List(tenant, Str(body, "marker", required: false) is { Length: > 0 } m ? m : null, limit);
                return (200, j =>
                {
                    j.WriteStartObject();
                    j.WriteStartArray("queues");
                    foreach (var info in list)
                    {
                        j.WriteStartObject();
                        j.WriteString("name", info.Name);
                        if (detailed)
                        {
                            j.WritePropertyName("metadata");
                            j.WriteRawValue(info.Metadata.Span, skipInputValidation: true);
                        }

                        j.WriteEndObject();
                    }

                    j.WriteEndArray();
                    j.WriteEndObject();
                });
            }

            case "queue_create":
            {
                var name = Queue();
                byte[] metadata = "{}"u8.ToArray();
                var settings = NamedQueueSettings.None;
                if (body.TryGetProperty("metadata", out var meta) && meta.ValueKind == JsonValueKind.Object)
                {
                    settings = ZaqarMetadata.Settings(meta, engine.Options, "Invalid API request");
                    metadata = System.Text.Encoding.UTF8.GetBytes(meta.GetRawText());
                }

                var created = await q.CreateAsync(tenant, name, metadata, settings);
                return (created ? 201 : 204, j => j.WriteStringValue($"Queue {name} created."));
            }

            case "queue_delete":
            {
                var name = Str(body, "queue_name");
                await q.DeleteAsync(tenant, name);
                return (204, j => j.WriteStringValue($"Queue {name} removed."));
            }

            case "queue_get":
            {
                var info = q.Get(tenant, Str(body, "queue_name"));
                return (200, j => j.WriteRawValue(info is null ? "{}"u8 : info.Metadata.Span, skipInputValidation: true));
            }

            case "queue_get_stats":
            {
                var name = Str(body, "queue_name");
                var stats = await q.StatsAsync(tenant, name);
                return (q.Get(tenant, name) is null ? 404 : 200, j =>
                {
                    j.WriteStartObject();
                    j.WriteStartObject("messages");
                    j.WriteNumber("claimed", stats.Claimed);
                    j.WriteNumber("free", stats.Free);
                    j.WriteNumber("total", stats.Total);
                    j.WriteEndObject();
                    j.WriteEndObject();
                });
            }

            case "queue_purge":
            {
                var messagesToo = true;
                if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("resource_types", out var types))
                {
                    if (types.ValueKind != JsonValueKind.Array || types.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String || x.GetString() is not ("messages" or "subscriptions")))
                    {
                        throw new ZaqarError(400, "Invalid API request", "Resource types must be a sub set of {'messages', 'subscriptions'}.");
                    }

                    messagesToo = types.EnumerateArray().Any(x => x.GetString() == "messages");
                }

                if (messagesToo)
                {
                    await q.PurgeAsync(tenant, Str(body, "queue_name"));
                }

                return (204, j => { j.WriteStartObject(); j.WriteEndObject(); });
            }

            case "message_post":
            {
                var name = Queue();
                if (!body.TryGetProperty("messages", out var list) || list.ValueKind != JsonValueKind.Array)
                {
                    throw new ZaqarError(400, "Schema validation failed.", null);
                }

                var messages = new List<NewQueueMessage>();
                foreach (var m in list.EnumerateArray())
                {
                    if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("body", out var content))
                    {
                        throw new ZaqarError(400, "Schema validation failed.", null);
                    }

                    var ttl = Int(m, "ttl", -1);
                    if (ttl is >= 0 and < 60 || (m.TryGetProperty("ttl", out var given) && given.ValueKind == JsonValueKind.Number && ttl < 0))
                    {
                        throw new ZaqarError(400, "Invalid API request", $"The TTL for a message may not exceed {(long)engine.Options.MaxQueueMessageTtl.TotalSeconds} seconds, and must be at least 60 seconds long.");
                    }

                    messages.Add(new NewQueueMessage(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(content).ToArray(), ttl < 0 ? null : TimeSpan.FromSeconds(ttl), Int(m, "delay", 0) is > 0 and var d ? TimeSpan.FromSeconds(d) : null)
                    {
                        Attributes = ZaqarWriter.Attributes(m),
                    });
                }

                var ids = await q.PostAsync(tenant, name, Caller(), messages, Str(body, "idempotency_key", required: false) is { Length: > 0 } key ? key : null);
                return (201, j =>
                {
                    j.WriteStartObject();
                    j.WriteStartArray("message_ids");
                    foreach (var id in ids)
                    {
                        j.WriteStringValue(id.ToString("D"));
                    }

                    j.WriteEndArray();
                    j.WriteEndObject();
                });
            }

            case "message_list":
            {
                var name = Str(body, "queue_name");
                var limit = Int(body, "limit", 10);
                ZaqarWriter.Within(limit, engine.Options.MaxQueueMessagesPerPage, "Limit must be at least 1 and may not be greater than {0}.");

                var wait = Int(body, "wait", 0); // long-poll, beyond Zaqar (as claim_create's)
                if (wait == 0 && q.Get(tenant, name) is null)
                {
                    throw new ZaqarError(404, "Not found", $"Queue {name} does not exist for project {project}");
                }

                // A marker is a position (as REST's links give it) or, as Zaqar's WebSocket clients page, the last id seen.
                var markerText = Str(body, "marker", required: false);
                long? marker = long.TryParse(markerText, out var position) ? position : null;
                if (marker is null && Guid.TryParse(markerText, out var markerId) && (await q.GetAsync(tenant, name, [markerId])) is [var seen])
                {
                    marker = seen.Position;
                }

                var page = await q.ListAsync(tenant, name, Caller(), marker, limit, Bool(body, "echo"), Bool(body, "include_claimed"), Bool(body, "include_delayed"),
                    TimeSpan.FromSeconds(Math.Max(-1, wait)), cancellationToken);
                if (page.Messages.Count == 0 && q.Get(tenant, name) is null)
                {
                    throw new ZaqarError(404, "Not found", $"Queue {name} does not exist for project {project}"); // still none when the wait ended
                }

                return (200, j => Messages(j, page.Messages, engine.Time.GetUtcNow(), claim: null));
            }

            case "message_get":
            {
                var name = Str(body, "queue_name");
                var found = Guid.TryParse(Str(body, "message_id"), out var id) ? await q.GetAsync(tenant, name, [id]) : [];
                if (found.Count == 0)
                {
                    throw new ZaqarError(404, "Not found", $"Message {Str(body, "message_id")} does not exist in queue {name} for project {project}");
                }

                return (200, j =>
                {
                    j.WriteStartObject();
                    j.WritePropertyName("messages");
                    Message(j, found[0], now, null);
                    j.WriteEndObject();
                });
            }

            case "message_get_many":
            {
                var found = await q.GetAsync(tenant, Str(body, "queue_name"), Ids(body, "message_ids", engine.Options.MaxQueueMessagesPerPage));
                return (200, j => Messages(j, found, now, claim: null));
            }

            case "message_delete":
            {
                var name = Str(body, "queue_name");
                Guid? claim = Str(body, "claim_id", required: false) is { Length: > 0 } cs
                    ? (Guid.TryParse(cs, out var g) ? g : throw new ZaqarError(400, "Invalid API request", "The specified claim does not exist or has expired."))
                    : null;
                if (Guid.TryParse(Str(body, "message_id"), out var id))
                {
                    await q.DeleteMessagesAsync(tenant, name, [id], claim);
                }

                return (204, j => { j.WriteStartObject(); j.WriteEndObject(); });
            }

            case "message_delete_many":
            {
                var name = Str(body, "queue_name");
                if (body.TryGetProperty("pop", out _) && body.TryGetProperty("message_ids", out _))
                {
                    throw new ZaqarError(400, "Invalid API request", "pop and id params cannot be present together in the delete request.");
                }

                if (body.TryGetProperty("pop", out _))
                {
                    var count = Int(body, "pop", 0);
                    ZaqarWriter.Within(count, engine.Options.MaxMessagesPerClaim, "Pop value must be at least 1 and may not be greater than {0}.");

                    var popped = await q.PopAsync(tenant, name, count);
                    return (200, j =>
                    {
                        j.WriteStartObject();
                        j.WriteStartArray("messages");
                        foreach (var m in popped)
                        {
                            ZaqarWriter.Popped(j, m, now);
                        }

                        j.WriteEndArray();
                        j.WriteEndObject();
                    });
                }

                var ids = Ids(body, "message_ids", engine.Options.MaxQueueMessagesPerPage);
                if (ids.Count > 0)
                {
                    await q.DeleteMessagesAsync(tenant, name, ids, ignoreClaims: true);
                }

                return (204, j => { j.WriteStartObject(); j.WriteEndObject(); });
            }

            case "claim_create":
            {
                var name = Str(body, "queue_name");
                var limit = Int(body, "limit", 10);
                ZaqarWriter.Within(limit, engine.Options.MaxMessagesPerClaim, "Limit must be at least 1 and may not be greater than {0}.");

                var ttl = Int(body, "ttl", 300);
                var grace = Int(body, "grace", 60);
                if (grace < 60)
                {
                    throw new ZaqarError(400, "Invalid API request", "The grace for a claim may not exceed 43200 seconds, and must be at least 60 seconds long.");
                }

                var result = await q.ClaimAsync(tenant, name, TimeSpan.FromSeconds(ttl), TimeSpan.FromSeconds(grace), limit, TimeSpan.FromSeconds(Math.Max(-1, Int(body, "wait", 0))), cancellationToken);
                if (result.Claim is not { } claim)
                {
                    return (204, j => { j.WriteStartObject(); j.WriteNull("claim_id"); j.WriteEndObject(); });
                }

                return (201, j =>
                {
                    j.WriteStartObject();
                    j.WriteString("claim_id", claim.Id.ToString("D"));
                    ClaimedMessages(j, result.Messages, engine.Time.GetUtcNow(), claim.Id); // after the wait
                    j.WriteEndObject();
                });
            }

            case "claim_get":
            {
                var name = Str(body, "queue_name");
                var claimId = Str(body, "claim_id");
                var result = Guid.TryParse(claimId, out var id) ? await q.GetClaimAsync(tenant, name, id) : null;
                if (result?.Claim is not { } claim)
                {
                    throw new ZaqarError(404, "Not found", $"Claim {claimId} does not exist in queue {name} for project {project}");
                }

                return (200, j =>
                {
                    j.WriteStartObject();
                    j.WriteNumber("age", Math.Max(0, (long)(now - claim.UpdatedAt).TotalSeconds));
                    j.WriteNumber("ttl", (long)claim.Ttl.TotalSeconds);
                    ClaimedMessages(j, result.Messages, now, claim.Id);
                    j.WriteEndObject();
                });
            }

            case "claim_update":
            {
                var name = Str(body, "queue_name");
                var claimId = Str(body, "claim_id");
                var ttl = Int(body, "ttl", 300);
                var grace = Math.Clamp(Int(body, "grace", 60), 0, (int)engine.Options.MaxClaimGrace.TotalSeconds);
                if (!Guid.TryParse(claimId, out var id) || !await q.RenewClaimAsync(tenant, name, id, TimeSpan.FromSeconds(ttl), TimeSpan.FromSeconds(grace)))
                {
                    throw new ZaqarError(404, "Not found", $"Claim {claimId} does not exist in queue {name} for project {project}");
                }

                return (204, j => j.WriteStringValue($"Claim {claimId} updated."));
            }

            case "claim_delete":
            {
                var claimId = Str(body, "claim_id");
                if (Guid.TryParse(claimId, out var id))
                {
                    await q.ReleaseClaimAsync(tenant, Str(body, "queue_name"), id);
                }

                return (204, j => j.WriteStringValue($"Claim {claimId} deleted."));
            }

            case "subscription_create" or "subscription_get" or "subscription_list" or "subscription_delete":
                return await SubscriptionAsync(context, action, tenant, project, body, now);

            default:
                throw new ZaqarError(400, $"{action} is not a valid action", null);
        }
    }

    private static void Messages(Utf8JsonWriter j, IReadOnlyList<QueueMessage> messages, DateTimeOffset now, Guid? claim)
    {
        j.WriteStartObject();
        ClaimedMessages(j, messages, now, claim);
        j.WriteEndObject();
    }

    /// <summary>The <c>messages</c> array of a reply (each with the claim id, or null).</summary>
    private static void ClaimedMessages(Utf8JsonWriter j, IReadOnlyList<QueueMessage> messages, DateTimeOffset now, Guid? claim)
    {
        j.WriteStartArray("messages");
        foreach (var m in messages)
        {
            Message(j, m, now, claim);
        }

        j.WriteEndArray();
    }

    /// <summary>A message as the WebSocket API shows it: id, claim id, ttl, age, body.</summary>
    private static void Message(Utf8JsonWriter j, QueueMessage m, DateTimeOffset now, Guid? claim)
    {
        j.WriteStartObject();
        j.WriteString("id", m.Id.ToString("D"));
        if (claim is { } c)
        {
            j.WriteString("claim_id", c.ToString("D"));
        }
        else
        {
            j.WriteNull("claim_id");
        }

        j.WriteNumber("ttl", ZaqarWriter.Ttl(m));
        j.WriteNumber("age", Math.Max(0, (long)(now - m.CreatedAt).TotalSeconds));
        ZaqarWriter.WriteAttributes(j, m, ZaqarWriter.WriteBody(j, m));
        j.WriteEndObject();
    }
}
