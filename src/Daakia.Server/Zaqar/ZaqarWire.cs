using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Daakia.Core;
using Daakia.Server.Json;
using Microsoft.AspNetCore.Http;

namespace Daakia.Server.Zaqar;

/// <summary>A Zaqar error: its status and its body's <c>title</c> and <c>description</c> (none: no description).</summary>
internal sealed class ZaqarError(int status, string title, string? description) : Exception(description ?? title)
{
    public int Status => status;

    public string Title => title;

    public string? Description => description;

    public IResult Result()
    {
        var w = new ZaqarWriter();
        w.Object(j =>
        {
            j.WriteString("title", title);
            if (description is not null)
            {
                j.WriteString("description", description);
            }
        });
        return w.Result(status);
    }

    /// <summary>A core refusal as Zaqar answers it.</summary>
    public static ZaqarError From(DaakiaException e) => e.Code switch
    {
        DaakiaErrorCode.NotFound => new(404, "Not found", e.Message),
        DaakiaErrorCode.Forbidden => new(403, "Not authorized", e.Message),
        DaakiaErrorCode.QuotaExceeded => new(403, "Quota exceeded", e.Message),
        DaakiaErrorCode.Overloaded or DaakiaErrorCode.Unavailable => new(503, "Service temporarily unavailable", e.Message + " Please try again in a few seconds."),
        _ => new(400, "Invalid API request", e.Message),
    };
}

/// <summary>Writes one JSON response body (Zaqar's shapes), then answers it with a status.</summary>
internal sealed class ZaqarWriter
{
    /// <summary>Zaqar's <c>max_queues_per_page</c>: most queues one listing page holds.</summary>
    public const int MaxQueuesPerPage = 20;

    private readonly ArrayBufferWriter<byte> _buffer = new(256);

    /// <summary>Refuses a count outside 1..<paramref name="max"/> with Zaqar's 400 and its text (<c>{0}</c>: the maximum).</summary>
    public static void Within(int value, int max, string text)
    {
        if (value < 1 || value > max)
        {
            throw new ZaqarError(400, "Invalid API request", string.Format(System.Globalization.CultureInfo.InvariantCulture, text, max));
        }
    }

    public void Object(Action<Utf8JsonWriter> body) => Write(j =>
    {
        j.WriteStartObject();
        body(j);
        j.WriteEndObject();
    });

    public void Write(Action<Utf8JsonWriter> body)
    {
        using var j = new Utf8JsonWriter(_buffer);
        body(j);
    }

    public IResult Result(int status, string contentType = ZaqarApi.Json, int cacheSeconds = 0) =>
        new Bytes(_buffer.WrittenMemory, status, contentType, cacheSeconds);

    /// <summary>Zaqar's <c>links</c>: a <c>next</c> link after a non-empty page, none after an empty one.</summary>
    public static void Links(Utf8JsonWriter j, string? next)
    {
        j.WriteStartArray("links");
        if (next is not null)
        {
            j.WriteStartObject();
            j.WriteString("rel", "next");
            j.WriteString("href", next);
            j.WriteEndObject();
        }

        j.WriteEndArray();
    }

    /// <summary>A message as Zaqar's REST answers list, get and claim with: id, href (with the claim), ttl, age, body.</summary>
    public static void Message(Utf8JsonWriter j, string queue, QueueMessage m, DateTimeOffset now, bool href = true)
    {
        j.WriteStartObject();
        j.WriteString("id", m.Id.ToString("D"));
        if (href)
        {
            j.WriteString("href", Href(queue, m));
        }

        j.WriteNumber("ttl", Ttl(m));
        j.WriteNumber("age", Age(m, now));
        WriteAttributes(j, m, WriteBody(j, m));
        j.WriteEndObject();
    }

    /// <summary>
    /// Writes a message's <c>body</c>: a posted one as it was posted (one JSON value, checked then); a routed one (a topic
    /// binding appended it) as its payload when that is one JSON value of Unicode text, else as
    /// <c>{"payload_base64": "…"}</c>, the exact bytes in standard base64. True when it wrote the latter.
    /// </summary>
    public static bool WriteBody(Utf8JsonWriter j, QueueMessage m)
    {
        j.WritePropertyName("body");
        if (m.Topic is null || JsonPayload.IsJsonText(m.Body.Span))
        {
            j.WriteRawValue(m.Body.Span, skipInputValidation: true);
            return false;
        }

        j.WriteStartObject();
        j.WriteBase64String("payload_base64", m.Body.Span);
        j.WriteEndObject();
        return true;
    }

    /// <summary>A posted message's <c>attributes</c> (beyond Zaqar): an object of strings, or absent.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>>? Attributes(JsonElement message)
    {
        if (!message.TryGetProperty("attributes", out var a) || a.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (a.ValueKind != JsonValueKind.Object || a.EnumerateObject().Any(p => p.Value.ValueKind != JsonValueKind.String))
        {
            throw new ZaqarError(400, "Invalid request body", "The value of the \"attributes\" field must be an object of strings.");
        }

        return [.. a.EnumerateObject().Select(p => new KeyValuePair<string, string>(p.Name, p.Value.GetString()!))];
    }

    /// <summary>
    /// Writes a message's attributes, when it has any (Zaqar's shapes are unchanged without them): those it was posted
    /// with; for a routed message (which has none of its own) its <c>topic</c> and <c>content_type</c>, and
    /// <c>payload_encoding</c> <c>base64</c> when its body is the base64 wrapper (<paramref name="base64"/>).
    /// </summary>
    public static void WriteAttributes(Utf8JsonWriter j, QueueMessage m, bool base64)
    {
        if (m.Attributes.Count == 0 && m.Topic is null)
        {
            return;
        }

        j.WriteStartObject("attributes");
        foreach (var (k, v) in m.Attributes)
        {
            j.WriteString(k, v);
        }

        if (m.Topic is { } topic)
        {
            j.WriteString("topic", topic);
            j.WriteString("content_type", m.ContentType);
            if (base64)
            {
                j.WriteString("payload_encoding", "base64");
            }
        }

        j.WriteEndObject();
    }

    /// <summary>A pop's message: Zaqar's raw stored shape (no href; claim id and claim count).</summary>
    public static void Popped(Utf8JsonWriter j, QueueMessage m, DateTimeOffset now)
    {
        j.WriteStartObject();
        j.WriteString("id", m.Id.ToString("D"));
        j.WriteNumber("age", Age(m, now));
        j.WriteNumber("ttl", Ttl(m));
        WriteBody(j, m);
        j.WriteNull("claim_id");
        j.WriteNumber("claim_count", m.ClaimCount);
        j.WriteEndObject();
    }

    /// <summary>A stats entry (oldest / newest): href, age, created, ttl, body, claim id, claim count.</summary>
    public static void StatsMessage(Utf8JsonWriter j, string queue, QueueMessage m, DateTimeOffset now)
    {
        j.WriteStartObject();
        j.WriteString("href", "/v2/queues/" + queue + "/messages/" + m.Id.ToString("D"));
        j.WriteNumber("age", Age(m, now));
        j.WriteString("created", m.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        j.WriteNumber("ttl", Ttl(m));
        WriteBody(j, m);
        if (m.ClaimId is { } claim)
        {
            j.WriteString("claim_id", claim.ToString("D"));
        }
        else
        {
            j.WriteNull("claim_id");
        }

        j.WriteNumber("claim_count", m.ClaimCount);
        j.WriteEndObject();
    }

    public static string Href(string queue, QueueMessage m) =>
        "/v2/queues/" + queue + "/messages/" + m.Id.ToString("D") + (m.ClaimId is { } c ? "?claim_id=" + c.ToString("D") : "");

    /// <summary>The message's <c>ttl</c>: the core's (<see cref="QueueMessage.Ttl"/>: a claim that extended the message
    /// re-stamps it with the claim's ttl + grace, as Zaqar does).</summary>
    public static long Ttl(QueueMessage m) => m.Ttl is { } t ? (long)Math.Round(t.TotalSeconds) : 0;

    private static long Age(QueueMessage m, DateTimeOffset now) => Math.Max(0, (long)(now - m.CreatedAt).TotalSeconds);

    private sealed class Bytes(ReadOnlyMemory<byte> body, int status, string contentType, int cacheSeconds) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            response.StatusCode = status;
            response.ContentType = contentType;
            if (cacheSeconds > 0)
            {
                response.Headers.CacheControl = "max-age=" + cacheSeconds.ToString(CultureInfo.InvariantCulture);
            }

            response.ContentLength = body.Length;
            await response.Body.WriteAsync(body);
        }
    }
}

/// <summary>Zaqar's query parameters: integers, its booleans (<c>true</c>, <c>yes</c>, <c>1</c>, a bare name…), next links.</summary>
internal static class ZaqarQuery
{
    public static string? String(IQueryCollection q, string name) => q.TryGetValue(name, out var v) && !string.IsNullOrEmpty(v[0]) ? v[0] : null;

    /// <summary>A list parameter: comma-separated, or repeated (<c>ids=a&amp;ids=b</c>, as python-zaqarclient sends it).</summary>
    public static string? List(IQueryCollection q, string name) =>
        q.TryGetValue(name, out var v) && string.Join(',', v.Where(x => !string.IsNullOrEmpty(x))) is { Length: > 0 } joined ? joined : null;

    public static int Int(IQueryCollection q, string name, int fallback)
    {
        if (String(q, name) is not { } s)
        {
            return fallback;
        }

        return int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new ZaqarError(400, "Invalid parameter", $"The \"{name}\" parameter is invalid. The value must be an integer.");
    }

    public static bool Bool(IQueryCollection q, string name, bool fallback)
    {
        if (!q.TryGetValue(name, out var v))
        {
            return fallback;
        }

        var s = v[0];
        if (string.IsNullOrEmpty(s))
        {
            return true; // a bare ?echo
        }

        return s.ToLowerInvariant() switch
        {
            "true" or "t" or "yes" or "y" or "1" or "on" => true,
            "false" or "f" or "no" or "n" or "0" or "off" => false,
            _ => throw new ZaqarError(400, "Invalid parameter", $"The \"{name}\" parameter is invalid. The value of the parameter must be \"true\" or \"false\"."),
        };
    }

    /// <summary>The next page's link: the request's parameters, the marker last.</summary>
    public static string Next(string path, IQueryCollection q, string marker, params (string Name, string Value)[] added)
    {
        var sb = new StringBuilder(path).Append('?');
        foreach (var (k, v) in q)
        {
            if (k != "marker" && !string.IsNullOrEmpty(v[0]))
            {
                sb.Append(Uri.EscapeDataString(k)).Append('=').Append(Uri.EscapeDataString(v[0]!)).Append('&');
            }
        }

        foreach (var (k, v) in added)
        {
            if (!q.ContainsKey(k))
            {
                sb.Append(k).Append('=').Append(Uri.EscapeDataString(v)).Append('&');
            }
        }

        return sb.Append("marker=").Append(Uri.EscapeDataString(marker)).ToString();
    }
}

/// <summary>Request bodies, bounded.</summary>
internal static class ZaqarBody
{
    public static async Task<byte[]> ReadAsync(HttpContext http, int max)
    {
        if (http.Request.ContentLength is { } length and >= 0 && length <= max)
        {
            return await ReadExactAsync(http, (int)length);
        }

        using var buffer = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            while (true)
            {
                var n = await http.Request.Body.ReadAsync(chunk, http.RequestAborted);
                if (n == 0)
                {
                    return buffer.ToArray();
                }

                if (buffer.Length + n > max)
                {
                    throw new ZaqarError(400, "Invalid API request", $"The request body may be at most {max} bytes.");
                }

                buffer.Write(chunk, 0, n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>
    /// A body of a declared length read straight into its array (no copy through a stream); Kestrel ends the body at
    /// that length and fails a request whose body is shorter.
    /// </summary>
    private static async Task<byte[]> ReadExactAsync(HttpContext http, int length)
    {
        if (length == 0)
        {
            return [];
        }

        var body = new byte[length];
        var read = 0;
        while (read < length)
        {
            var n = await http.Request.Body.ReadAsync(body.AsMemory(read), http.RequestAborted);
            if (n == 0)
            {
                return body[..read]; // ended early (as read through the stream: what came)
            }

            read += n;
        }

        return body;
    }

    public static JsonDocument Parse(byte[] body)
    {
        if (WebSockets.FrameText.Check(body) != WebSockets.FrameTextFault.None)
        {
            throw new ZaqarError(400, "Invalid request body", "The body is not UTF-8 text, or escapes a lone surrogate (such as \\ud800).");
        }

        try
        {
            return JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException)
        {
            throw new ZaqarError(400, "Invalid request body", "Request body could not be parsed.");
        }
    }
}

/// <summary>Queue metadata: the reserved keys (wire reference §5) as the core's settings, Zaqar's defaults, JSON-patch.</summary>
internal static class ZaqarMetadata
{
    public static NamedQueueSettings Settings(JsonElement metadata, DaakiaCoreOptions options, string title)
    {
        var maxTtl = (long)options.MaxQueueMessageTtl.TotalSeconds;
        var maxDelay = (long)options.MaxQueueMessageDelay.TotalSeconds;
        long? ttl = Int(metadata, "_default_message_ttl", title, 60, maxTtl, $"_default_message_ttl can not exceed {maxTtl} seconds, and must be at least 60 seconds long.");
        long? post = Int(metadata, "_max_messages_post_size", title, 1, options.MaxQueuePostBytes, $"_max_messages_post_size can not exceed {options.MaxQueuePostBytes},  and must be at least greater than 0.");
        long? delay = Int(metadata, "_default_message_delay", title, 0, maxDelay, $"The TTL can not exceed {maxDelay} seconds, and must be at least 0 seconds long.");
        long? count = Int(metadata, "_max_claim_count", title, 0, int.MaxValue, "_max_claim_count must be integer.");
        long? dlqTtl = Int(metadata, "_dead_letter_queue_messages_ttl", title, 60, maxTtl, $"_dead_letter_queue_messages_ttl can not exceed {maxTtl} seconds, and must be at least 60 seconds long.");
        if (metadata.TryGetProperty("_enable_encrypt_messages", out var encrypt) && encrypt.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null)
            && !(encrypt.ValueKind == JsonValueKind.Number && encrypt.TryGetInt64(out var zero) && zero == 0))
        {
            throw new ZaqarError(400, title, "_enable_encrypt_messages must be boolean.");
        }

        string? dlq = metadata.TryGetProperty("_dead_letter_queue", out var d) && d.ValueKind == JsonValueKind.String && d.GetString() is { Length: > 0 } name ? name : null;
        if (dlq is not null && !QueueService.IsValidName(dlq))
        {
            throw new ZaqarError(400, title, "_dead_letter_queue must be a queue name: at most 64 of ASCII letters, digits, '_', '-' and '.'.");
        }

        return new NamedQueueSettings
        {
            DefaultMessageTtl = ttl is { } t ? TimeSpan.FromSeconds(t) : null,
            MaxPostBytes = post is { } p ? (int)p : null,
            DefaultMessageDelay = delay is { } dl ? TimeSpan.FromSeconds(dl) : null,
            MaxClaimCount = count is > 0 ? (int)count : null,
            DeadLetterQueue = dlq,
            DeadLetterTtl = dlqTtl is { } x ? TimeSpan.FromSeconds(x) : null,
        };
    }

    /// <summary>A reserved integer key: checked only when truthy (Zaqar's rule), then its range.</summary>
    private static long? Int(JsonElement metadata, string key, string title, long min, long max, string range)
    {
        if (!metadata.TryGetProperty(key, out var v) || v.ValueKind is JsonValueKind.Null or JsonValueKind.False
            || (v.ValueKind == JsonValueKind.String && v.GetString()!.Length == 0))
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var n))
        {
            throw new ZaqarError(400, title, $"{key} must be integer.");
        }

        return n < min || n > max ? throw new ZaqarError(400, title, range) : n;
    }

    /// <summary>The stored metadata with every reserved key Zaqar shows added when missing or falsy (wire reference §4.6).</summary>
    public static void WriteWithDefaults(Utf8JsonWriter j, ReadOnlySpan<byte> metadata, DaakiaCoreOptions options)
    {
        var node = JsonNode.Parse(metadata) as JsonObject ?? [];
        void Default(string key, JsonNode? value)
        {
            if (!node.TryGetPropertyValue(key, out var had) || had is null || had.GetValueKind() is JsonValueKind.False
                || (had.GetValueKind() == JsonValueKind.Number && had.GetValue<double>() == 0) || (had.GetValueKind() == JsonValueKind.String && had.GetValue<string>().Length == 0))
            {
                node[key] = value;
            }
        }

        Default("_max_messages_post_size", options.MaxQueuePostBytes);
        Default("_default_message_ttl", (long)options.DefaultQueueMessageTtl.TotalSeconds);
        if (!node.ContainsKey("_default_message_delay"))
        {
            node["_default_message_delay"] = 0;
        }

        Default("_dead_letter_queue", null);
        Default("_dead_letter_queue_messages_ttl", null);
        Default("_max_claim_count", null);
        Default("_enable_encrypt_messages", false);
        node.WriteTo(j);
    }

    /// <summary>Applies a JSON-patch (draft 10: add, replace, remove on <c>/metadata/key</c>) to the metadata.</summary>
    public static byte[] Patch(ReadOnlySpan<byte> metadata, JsonElement patch)
    {
        if (patch.ValueKind != JsonValueKind.Array)
        {
            throw new ZaqarError(400, "Invalid request body", "Request body could not be read.");
        }

        var node = JsonNode.Parse(metadata) as JsonObject ?? [];
        foreach (var change in patch.EnumerateArray())
        {
            if (change.ValueKind != JsonValueKind.Object)
            {
                throw new ZaqarError(400, "Invalid request body", "Operations must be JSON objects.");
            }

            if (!change.TryGetProperty("op", out var op) || op.ValueKind != JsonValueKind.String)
            {
                throw new ZaqarError(400, "Invalid request body", "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace.");
            }

            var verb = op.GetString();
            if (verb is not ("add" or "replace" or "remove"))
            {
                throw new ZaqarError(400, "Invalid request body", $"Invalid operation: `{verb}`. It must be one of the following: add, remove, replace.");
            }

            if (!change.TryGetProperty("path", out var p) || p.ValueKind != JsonValueKind.String)
            {
                throw new ZaqarError(400, "Invalid request body", "Unable to find 'path' in JSON Schema change");
            }

            var path = p.GetString()!;
            var parts = path.Split('/');
            if (!path.StartsWith('/') || parts.Length != 3 || parts[1].Length == 0 || parts[2].Length == 0)
            {
                throw new ZaqarError(400, "Invalid request body", $"Invalid JSON pointer for this resource: '{path}, e.g /metadata/key'");
            }

            var key = parts[2].Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (verb != "remove" && !parts[1].Equals("metadata", StringComparison.OrdinalIgnoreCase))
            {
                throw new ZaqarError(400, "Invalid request body", "The root of path must be metadata, e.g /metadata/key.");
            }

            var reserved = key.StartsWith('_');
            switch (verb)
            {
                case "add" or "replace":
                    if (!change.TryGetProperty("value", out var value))
                    {
                        throw new ZaqarError(400, "Invalid request body", $"Operation \"{verb}\" requires a member named \"value\".");
                    }

                    if (verb == "replace" && !node.ContainsKey(key) && !reserved)
                    {
                        throw new ZaqarError(409, "Resource conflict", $"Can't replace non-existent object {key}.");
                    }

                    node[key] = JsonNode.Parse(value.GetRawText());
                    break;
                default:
                    if (!node.Remove(key) && !reserved)
                    {
                        throw new ZaqarError(409, "Resource conflict", $"Can't remove non-existent object {key}.");
                    }

                    break;
            }
        }

        return Encoding.UTF8.GetBytes(node.ToJsonString());
    }
}
