using System.Globalization;
using System.Text.Json;
using Daakia.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Daakia.Server.Zaqar;

/// <summary>Zaqar's messages and claims (wire reference §4.11–4.20).</summary>
public static partial class ZaqarApi
{
    private static void MapMessages(RouteGroupBuilder v2)
    {
        v2.MapPost("/queues/{queue}/messages", PostAsync).WithName("ZaqarPostMessages");
        v2.MapGet("/queues/{queue}/messages", ListMessagesAsync).WithName("ZaqarListMessages");
        v2.MapDelete("/queues/{queue}/messages", DeleteMessagesAsync).WithName("ZaqarDeleteMessages");
        v2.MapGet("/queues/{queue}/messages/{message}", GetMessageAsync).WithName("ZaqarGetMessage");
        v2.MapDelete("/queues/{queue}/messages/{message}", DeleteMessageAsync).WithName("ZaqarDeleteMessage");
        v2.MapPost("/queues/{queue}/claims", ClaimAsync).WithName("ZaqarClaim");
        v2.MapGet("/queues/{queue}/claims/{claim}", GetClaimAsync).WithName("ZaqarGetClaim");
        v2.MapPatch("/queues/{queue}/claims/{claim}", RenewClaimAsync).WithName("ZaqarRenewClaim");
        v2.MapDelete("/queues/{queue}/claims/{claim}", ReleaseClaimAsync).WithName("ZaqarReleaseClaim");
    }

    private static async Task<IResult> PostAsync(HttpContext http, DaakiaEngine engine, string queue)
    {
        var caller = Caller(http);
        var cap = Math.Min(engine.Options.MaxQueuePostBytes, engine.Queues.Get(caller.Tenant, queue)?.Settings.MaxPostBytes ?? int.MaxValue);
        if (http.Request.ContentLength > cap)
        {
            throw new ZaqarError(400, "Invalid API request", $"Message collection size is too large. Max size {cap}");
        }

        var body = await ZaqarBody.ReadAsync(http, engine.Options.MaxQueuePostBytes + (64 * 1024));
        if (body.Length == 0)
        {
            throw new ZaqarError(400, "Invalid request body", "Request body can not be empty");
        }

        using var doc = ZaqarBody.Parse(body);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("messages", out var list))
        {
            throw new ZaqarError(400, "Invalid API request", "No messages were found in the request body.");
        }

        if (list.ValueKind != JsonValueKind.Array)
        {
            throw new ZaqarError(400, "Invalid request body", "Document type not supported.");
        }

        var messages = new List<NewQueueMessage>(list.GetArrayLength());
        foreach (var m in list.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.Object)
            {
                throw new ZaqarError(400, "Invalid request body", "Each message must be a JSON object.");
            }

            if (!m.TryGetProperty("body", out var content))
            {
                throw new ZaqarError(400, "Invalid request body", "Missing \"body\" field.");
            }

            // The body's JSON as posted, copied from the request's bytes (GetRawText would transcode it to a string and back).
            messages.Add(new NewQueueMessage(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(content).ToArray(), Seconds(m, "ttl"), Seconds(m, "delay"))
            {
                Attributes = ZaqarWriter.Attributes(m),
            });
        }

        if (messages.Count == 0)
        {
            throw new ZaqarError(400, "Invalid API request", "No messages to enqueu.");
        }

        var key = http.Request.Headers["Idempotency-Key"] is { Count: 1 } k ? k[0] : null; // beyond Zaqar
        var ids = await engine.Queues.PostAsync(caller.Tenant, queue, caller.Client, messages, key);
        var hrefs = ids.Select(id => $"/v2/queues/{queue}/messages/{id:D}").ToList();
        http.Response.Headers.Location = $"/v2/queues/{queue}/messages?ids={string.Join(',', ids.Select(i => i.ToString("D")))}";
        var w = new ZaqarWriter();
        w.Object(j =>
        {
            j.WriteStartArray("resources");
            foreach (var h in hrefs)
            {
                j.WriteStringValue(h);
            }

            j.WriteEndArray();
        });
        return w.Result(201);
    }

    /// <summary>A message's <c>ttl</c> or <c>delay</c> in seconds: an integer, or absent.</summary>
    private static TimeSpan? Seconds(JsonElement message, string field)
    {
        if (!message.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var n))
        {
            throw new ZaqarError(400, "Invalid request body", $"The value of the \"{field}\" field must be a int.");
        }

        return TimeSpan.FromSeconds(Math.Clamp(n, -1, 100L * 365 * 24 * 3600));
    }

    private static async Task<IResult> ListMessagesAsync(HttpContext http, DaakiaEngine engine, string queue)
    {
        var caller = Caller(http);
        var q = http.Request.Query;
        if (ZaqarQuery.List(q, "ids") is { } ids)
        {
            var named = MessageIds(ids, engine.Options.MaxQueueMessagesPerPage, "Limit must be at least 1 and may not be greater than {0}.");
            var found = named.Count == 0 ? [] : await engine.Queues.GetAsync(caller.Tenant, queue, named);
            if (found.Count == 0)
            {
                throw new ZaqarError(404, "Not found", $"No messages with IDs: [{string.Join(", ", ids.Split(',').Select(i => $"'{i}'"))}] found in the queue {queue} for project {caller.Project}.");
            }

            return Messages(queue, found, engine.Time.GetUtcNow(), links: null);
        }

        var limit = ZaqarQuery.Int(q, "limit", 10);
        ZaqarWriter.Within(limit, engine.Options.MaxQueueMessagesPerPage, "Limit must be at least 1 and may not be greater than {0}.");

        long? marker = null;
        if (ZaqarQuery.String(q, "marker") is { } m)
        {
            marker = long.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out var position) ? position : null; // an unknown marker starts over
        }

        var echo = ZaqarQuery.Bool(q, "echo", false);
        var claimed = ZaqarQuery.Bool(q, "include_claimed", false);
        var delayed = ZaqarQuery.Bool(q, "include_delayed", false);
        var wait = ZaqarQuery.Int(q, "wait", 0); // long-poll, beyond Zaqar (as on claims)
        var page = await engine.Queues.ListAsync(caller.Tenant, queue, caller.Client, marker, limit, echo, claimed, delayed,
            TimeSpan.FromSeconds(Math.Max(-1, wait)), http.RequestAborted);
        var next = (page.Messages.Count == 0 && !page.More) || page.NextMarker is not { } after
            ? null
            : ZaqarQuery.Next($"/v2/queues/{queue}/messages", q, after.ToString(CultureInfo.InvariantCulture));
        return Messages(queue, page.Messages, engine.Time.GetUtcNow(), next ?? "");
    }

    /// <summary><c>{"messages": [...]}</c>, with <c>links</c> unless <paramref name="links"/> is null ("": an empty list).</summary>
    private static IResult Messages(string queue, IReadOnlyList<QueueMessage> messages, DateTimeOffset now, string? links, int status = 200)
    {
        var w = new ZaqarWriter();
        w.Object(j =>
        {
            j.WriteStartArray("messages");
            foreach (var m in messages)
            {
                ZaqarWriter.Message(j, queue, m, now);
            }

            j.WriteEndArray();
            if (links is not null)
            {
                ZaqarWriter.Links(j, links.Length == 0 ? null : links);
            }
        });
        return w.Result(status);
    }

    private static List<Guid> MessageIds(string ids, int max, string tooMany)
    {
        var parts = ids.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        ZaqarWriter.Within(parts.Length, max, tooMany);

        // An id that is not one of ours names no message (Zaqar answers as for an unknown id).
        return [.. parts.Select(p => Guid.TryParse(p, out var g) ? g : Guid.Empty).Where(g => g != Guid.Empty)];
    }

    private static async Task<IResult> DeleteMessagesAsync(HttpContext http, DaakiaEngine engine, string queue)
    {
        var caller = Caller(http);
        var q = http.Request.Query;
        var ids = ZaqarQuery.List(q, "ids");
        var pop = ZaqarQuery.String(q, "pop");
        if (ids is not null && pop is not null)
        {
            throw new ZaqarError(400, "Invalid API request", "pop and id params cannot be present together in the delete request.");
        }

        if (ids is null && pop is null)
        {
            throw new ZaqarError(400, "Invalid API request", "The request should have either \"ids\" or \"pop\" parameter in the request, to be able to delete.");
        }

        if (pop is not null)
        {
            var count = ZaqarQuery.Int(q, "pop", 0);
            ZaqarWriter.Within(count, engine.Options.MaxMessagesPerClaim, "Pop value must be at least 1 and may not be greater than {0}.");

            var popped = await engine.Queues.PopAsync(caller.Tenant, queue, count);
            var now = engine.Time.GetUtcNow();
            var w = new ZaqarWriter();
            w.Object(j =>
            {
                j.WriteStartArray("messages");
                foreach (var m in popped)
                {
                    ZaqarWriter.Popped(j, m, now);
                }

                j.WriteEndArray();
            });
            return w.Result(200);
        }

        var list = MessageIds(ids!, engine.Options.MaxQueueMessagesPerPage, "ids parameter should have at least 1 and not greater than {0} values.");
        if (list.Count > 0)
        {
            await engine.Queues.DeleteMessagesAsync(caller.Tenant, queue, list, ignoreClaims: true);
        }

        return Results.NoContent();
    }

    private static async Task<IResult> GetMessageAsync(HttpContext http, DaakiaEngine engine, string queue, string message)
    {
        var caller = Caller(http);
        if (engine.Queues.Get(caller.Tenant, queue) is null)
        {
            throw new ZaqarError(404, "Not found", $"Queue {queue} does not exist for project {caller.Project}");
        }

        var found = Guid.TryParse(message, out var id) ? await engine.Queues.GetAsync(caller.Tenant, queue, [id]) : [];
        if (found.Count == 0)
        {
            throw new ZaqarError(404, "Not found", $"Message {message} does not exist in queue {queue} for project {caller.Project}");
        }

        var w = new ZaqarWriter();
        w.Write(j => ZaqarWriter.Message(j, queue, found[0], engine.Time.GetUtcNow()));
        return w.Result(200);
    }

    private static async Task<IResult> DeleteMessageAsync(HttpContext http, DaakiaEngine engine, string queue, string message)
    {
        var caller = Caller(http);
        Guid? claim = null;
        if (ZaqarQuery.String(http.Request.Query, "claim_id") is { } c)
        {
            claim = Guid.TryParse(c, out var g) ? g : throw new ZaqarError(400, "Unable to delete", "The specified claim does not exist or has expired.");
        }

        if (!Guid.TryParse(message, out var id))
        {
            return Results.NoContent(); // names no message
        }

        try
        {
            await engine.Queues.DeleteMessagesAsync(caller.Tenant, queue, [id], claim);
        }
        catch (DaakiaException e) when (e.Code is DaakiaErrorCode.Forbidden or DaakiaErrorCode.InvalidArgument)
        {
            throw new ZaqarError(e.Code == DaakiaErrorCode.Forbidden ? 403 : 400, "Unable to delete", e.Message);
        }

        return Results.NoContent();
    }

    private static async Task<IResult> ClaimAsync(HttpContext http, DaakiaEngine engine, string queue)
    {
        var caller = Caller(http);
        var limit = ZaqarQuery.Int(http.Request.Query, "limit", 10);
        ZaqarWriter.Within(limit, engine.Options.MaxMessagesPerClaim, "Limit must be at least 1 and may not be greater than {0}.");

        var (ttl, grace) = await ClaimTimesAsync(http, engine, required: false);
        var wait = ZaqarQuery.Int(http.Request.Query, "wait", 0); // long-poll, beyond Zaqar
        var result = await engine.Queues.ClaimAsync(caller.Tenant, queue, ttl, grace, limit, TimeSpan.FromSeconds(Math.Max(-1, wait)), http.RequestAborted);
        if (result.Claim is not { } claim || result.Messages.Count == 0)
        {
            return Results.NoContent();
        }

        http.Response.Headers.Location = $"/v2/queues/{queue}/claims/{claim.Id:D}";
        return Messages(queue, result.Messages, engine.Time.GetUtcNow(), links: null, status: 201);
    }

    /// <summary>A claim body's <c>ttl</c> and <c>grace</c> (defaults 300 and 60 seconds), checked as Zaqar checks them.</summary>
    private static async Task<(TimeSpan Ttl, TimeSpan Grace)> ClaimTimesAsync(HttpContext http, DaakiaEngine engine, bool required)
    {
        var body = await ZaqarBody.ReadAsync(http, 64 * 1024);
        long ttl = 300, grace = 60;
        if (body.Length == 0)
        {
            if (required)
            {
                throw new ZaqarError(400, "Invalid request body", "Request body can not be empty");
            }
        }
        else
        {
            using var doc = ZaqarBody.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ZaqarError(400, "Invalid request body", "Document type not supported.");
            }

            ttl = Field(doc.RootElement, "ttl", ttl);
            grace = Field(doc.RootElement, "grace", grace);
        }

        var maxTtl = (long)engine.Options.MaxClaimTtl.TotalSeconds;
        if (ttl < 60 || ttl > maxTtl)
        {
            throw new ZaqarError(400, "Invalid API request", $"The TTL for a claim may not exceed {maxTtl} seconds, and must be at least 60 seconds long.");
        }

        var maxGrace = (long)engine.Options.MaxClaimGrace.TotalSeconds;
        if (!required && (grace < 60 || grace > maxGrace))
        {
            throw new ZaqarError(400, "Invalid API request", $"The grace for a claim may not exceed {maxGrace} seconds, and must be at least 60 seconds long.");
        }

        return (TimeSpan.FromSeconds(ttl), TimeSpan.FromSeconds(Math.Clamp(grace, 0, maxGrace)));

        static long Field(JsonElement o, string name, long fallback)
        {
            if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            {
                return fallback;
            }

            return v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n)
                ? n
                : throw new ZaqarError(400, "Invalid request body", $"The value of the \"{name}\" field must be a int.");
        }
    }

    private static async Task<IResult> GetClaimAsync(HttpContext http, DaakiaEngine engine, string queue, string claim)
    {
        var caller = Caller(http);
        var result = Guid.TryParse(claim, out var id) ? await engine.Queues.GetClaimAsync(caller.Tenant, queue, id) : null;
        if (result?.Claim is not { } c)
        {
            throw new ZaqarError(404, "Not found", $"Claim {claim} does not exist in queue {queue} for project {caller.Project}");
        }

        var now = engine.Time.GetUtcNow();
        var w = new ZaqarWriter();
        w.Object(j =>
        {
            j.WriteNumber("age", Math.Max(0, (long)(now - c.UpdatedAt).TotalSeconds));
            j.WriteNumber("ttl", (long)c.Ttl.TotalSeconds);
            j.WriteStartArray("messages");
            foreach (var m in result.Messages)
            {
                ZaqarWriter.Message(j, queue, m, now);
            }

            j.WriteEndArray();
            j.WriteString("href", $"/v2/queues/{queue}/claims/{c.Id:D}");
        });
        return w.Result(200);
    }

    private static async Task<IResult> RenewClaimAsync(HttpContext http, DaakiaEngine engine, string queue, string claim)
    {
        var caller = Caller(http);
        var (ttl, grace) = await ClaimTimesAsync(http, engine, required: true);
        if (!Guid.TryParse(claim, out var id) || !await engine.Queues.RenewClaimAsync(caller.Tenant, queue, id, ttl, grace))
        {
            throw new ZaqarError(404, "Not found", $"Claim {claim} does not exist in queue {queue} for project {caller.Project}");
        }

        return Results.NoContent();
    }

    private static async Task<IResult> ReleaseClaimAsync(HttpContext http, DaakiaEngine engine, string queue, string claim)
    {
        if (Guid.TryParse(claim, out var id))
        {
            await engine.Queues.ReleaseClaimAsync(Caller(http).Tenant, queue, id);
        }

        return Results.NoContent();
    }
}
