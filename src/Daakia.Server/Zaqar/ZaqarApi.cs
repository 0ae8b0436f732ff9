using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Daakia.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Daakia.Server.Zaqar;

/// <summary>
/// Zaqar's v2 REST API under <c>/v2</c> (docs/protocols/zaqar.md, wire reference docs/zaqar-wire.md): queues, messages
/// and claims on the core's named queues, with Zaqar's headers, bodies, links and error bodies, so that Zaqar clients
/// work unchanged. An adapter only: every rule of the queues lives in <see cref="QueueService"/>.
/// </summary>
public static partial class ZaqarApi
{
    internal const string Json = "application/json";
    private const string PatchType = "application/openstack-messaging-v2.0-json-patch";

    public static IEndpointRouteBuilder MapZaqar(this IEndpointRouteBuilder app)
    {
        var v2 = app.MapGroup("/v2").WithTags("zaqar-v2").AddEndpointFilter(HooksAsync);
        v2.MapGet("/", Home).WithName("ZaqarHome").WithSummary("Zaqar's JSON-home document.");
        v2.MapMethods("/ping", ["GET", "HEAD"], () => Results.NoContent()).WithName("ZaqarPing");
        v2.MapGet("/health", HealthAsync).WithName("ZaqarHealth");
        v2.MapGet("/queues", ListQueues).WithName("ZaqarListQueues");
        v2.MapPut("/queues/{queue}", CreateQueueAsync).WithName("ZaqarCreateQueue");
        v2.MapGet("/queues/{queue}", GetQueue).WithName("ZaqarGetQueue");
        v2.MapPatch("/queues/{queue}", PatchQueueAsync).WithName("ZaqarPatchQueue");
        v2.MapDelete("/queues/{queue}", DeleteQueueAsync).WithName("ZaqarDeleteQueue");
        v2.MapGet("/queues/{queue}/stats", StatsAsync).WithName("ZaqarQueueStats");
        v2.MapPost("/queues/{queue}/purge", PurgeAsync).WithName("ZaqarPurgeQueue");
        v2.MapPost("/queues/{queue}/share", ShareAsync).WithName("ZaqarShareQueue");
        MapMessages(v2);
        MapSubscriptions(v2);
        return app;
    }

    /// <summary>
    /// Zaqar's request hooks, in its order (wire reference §1.2): a pre-signed request's signature must hold (else 404),
    /// a form body is refused, the client must accept JSON, <c>Client-ID</c> must be a UUID and <c>X-Project-ID</c>
    /// present; then a queue name in the path must be valid. Every failure, and every error an endpoint raises, is
    /// Zaqar's <c>{"title", "description"}</c> body.
    /// </summary>
    private static async ValueTask<object?> HooksAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        try
        {
            var request = http.Request;
            var signed = request.Headers["URL-Signature"] is { Count: > 0 } s && !string.IsNullOrEmpty(s[0]); // Zaqar skips an empty one
            if (signed && !ZaqarSignedAccess.Verify(http.RequestServices.GetRequiredService<DaakiaServerOptions>().Zaqar.SignedUrlKey, request,
                    http.RequestServices.GetRequiredService<DaakiaEngine>().Time.GetUtcNow()))
            {
                throw new ZaqarError(404, "404 Not Found", null);
            }

            if ((request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
                && request.ContentType is { } type && type.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
            {
                throw new ZaqarError(400, "Invalid Content-Type", "The request's Content-Type is not supported.");
            }

            if (request.Headers.Accept.Count > 0 && !AcceptsJson(request.Headers.Accept.ToString()))
            {
                throw new ZaqarError(406, "\nEndpoint only serves `application/json`; specify client-side\nmedia type support with the \"Accept\" header.", null);
            }

            var client = request.Headers["Client-ID"];
            if (client.Count == 0 || string.IsNullOrEmpty(client[0]))
            {
                throw new ZaqarError(400, "Missing header value", "The \"Client-ID\" header is required.");
            }

            if (!TryClientId(client[0]!, out var clientId))
            {
                throw new ZaqarError(400, "Wrong UUID value", "Malformed hexadecimal UUID.");
            }

            var project = request.Headers["X-Project-ID"];
            if (project.Count == 0)
            {
                throw new ZaqarError(400, "Project-Id Missing", "The header X-PROJECT-ID was missing");
            }

            if (string.IsNullOrEmpty(project[0]))
            {
                throw new ZaqarError(400, "Empty project header not allowed", "X-PROJECT-ID cannot be an empty string. Specify the right header X-PROJECT-ID and retry.");
            }

            var queue = http.GetRouteValue("queue") as string;
            if (queue is not null && (!QueueService.IsValidName(queue) || project[0]!.Length > 256))
            {
                throw new ZaqarError(400, "Invalid queue identification", "The format of the submitted queue name or project id is not valid.");
            }

            http.Items[typeof(ZaqarCaller)] = new ZaqarCaller(TenantOf(project[0]!), project[0]!, clientId, signed);
            return await next(context);
        }
        catch (ZaqarError e)
        {
            return e.Result();
        }
        catch (DaakiaException e)
        {
            return ZaqarError.From(e).Result();
        }
        catch (JsonException)
        {
            return new ZaqarError(400, "Invalid request body", "Request body could not be parsed.").Result();
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return new ZaqarError(400, "Invalid API request", "The request body is too large.").Result();
        }
    }

    private static bool AcceptsJson(string accept)
    {
        foreach (var part in accept.Split(','))
        {
            var media = part.Split(';')[0].Trim();
            if (media is "*/*" or "application/*" || media.Equals(Json, StringComparison.OrdinalIgnoreCase) || media.Equals("application/json-home", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A Client-ID is a UUID (any form Python's <c>uuid.UUID</c> reads); as a client id, its canonical form.</summary>
    private static bool TryClientId(string value, out ClientId client)
    {
        var v = value.Trim();
        if (v.StartsWith("urn:uuid:", StringComparison.OrdinalIgnoreCase))
        {
            v = v[9..];
        }

        if (Guid.TryParse(v, out var id))
        {
            client = ClientId.Parse(id.ToString("D"));
            return true;
        }

        client = default;
        return false;
    }

    /// <summary>
    /// The tenant of a project id: every project is its own tenant (Zaqar's noauth mode, until credentials exist). A
    /// project id that is not a tenant id as it is (Zaqar allows 256 characters of anything) maps to one made from its
    /// SHA-256, so two projects never share a tenant.
    /// </summary>
    internal static TenantId TenantOf(string project)
    {
        if (TenantId.TryCreate(project, out var tenant) && !project.StartsWith("zq-", StringComparison.Ordinal))
        {
            return tenant;
        }

        return TenantId.Parse("zq-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(project)))[..48]);
    }

    internal static ZaqarCaller Caller(HttpContext http) => (ZaqarCaller)http.Items[typeof(ZaqarCaller)]!;

    private static IResult Home()
    {
        var w = new ZaqarWriter();
        w.Object(j =>
        {
            j.WriteStartObject("resources");
            void Rel(string rel, string template, string vars, string[] allow)
            {
                j.WriteStartObject("rel/" + rel);
                j.WriteString("href-template", template);
                j.WriteStartObject("href-vars");
                foreach (var v in vars.Split(',', StringSplitOptions.RemoveEmptyEntries))
                {
                    j.WriteString(v, "param/" + v);
                }

                j.WriteEndObject();
                j.WriteStartObject("hints");
                j.WriteStartArray("allow");
                foreach (var a in allow)
                {
                    j.WriteStringValue(a);
                }

                j.WriteEndArray();
                j.WriteStartObject("formats");
                j.WriteStartObject(Json);
                j.WriteEndObject();
                j.WriteEndObject();
                j.WriteEndObject();
                j.WriteEndObject();
            }

            Rel("queues", "/v2/queues{?marker,limit,detailed}", "marker,limit,detailed", ["GET"]);
            Rel("queue", "/v2/queues/{queue_name}", "queue_name", ["GET", "PUT", "DELETE", "PATCH"]);
            Rel("queue_stats", "/v2/queues/{queue_name}/stats", "queue_name", ["GET"]);
            Rel("queue_purge", "/v2/queues/{queue_name}/purge", "queue_name", ["POST"]);
            Rel("messages", "/v2/queues/{queue_name}/messages{?marker,limit,echo,include_claimed}", "queue_name,marker,limit,echo,include_claimed", ["GET"]);
            Rel("post_messages", "/v2/queues/{queue_name}/messages", "queue_name", ["POST"]);
            Rel("messages_delete", "/v2/queues/{queue_name}/messages{?ids,pop}", "queue_name,ids,pop", ["DELETE"]);
            Rel("message_delete", "/v2/queues/{queue_name}/messages/{message_id}{?claim}", "queue_name,message_id,claim", ["DELETE"]);
            Rel("message_get", "/v2/queues/{queue_name}/messages/{message_id}", "queue_name,message_id", ["GET"]);
            Rel("claim", "/v2/queues/{queue_name}/claims/{claim_id}", "queue_name,claim_id", ["GET"]);
            Rel("post_claim", "/v2/queues/{queue_name}/claims{?limit}", "queue_name,limit", ["POST"]);
            Rel("patch_claim", "/v2/queues/{queue_name}/claims/{claim_id}", "queue_name,claim_id", ["PATCH"]);
            Rel("delete_claim", "/v2/queues/{queue_name}/claims/{claim_id}", "queue_name,claim_id", ["DELETE"]);
            Rel("subscriptions_get", "/v2/queues/{queue_name}/subscriptions{?marker,limit}", "queue_name,marker,limit", ["GET"]);
            Rel("subscriptions_post", "/v2/queues/{queue_name}/subscriptions", "queue_name", ["POST"]);
            Rel("subscription", "/v2/queues/{queue_name}/subscriptions/{subscriptions_id}", "queue_name,subscriptions_id", ["GET", "DELETE"]);
            Rel("subscription_patch", "/v2/queues/{queue_name}/subscriptions/{subscriptions_id}", "queue_name,subscriptions_id", ["PATCH"]);
            Rel("ping", "/v2/ping", "", ["GET"]);
            j.WriteEndObject();
        });
        return w.Result(200, "application/json-home", cacheSeconds: 86400);
    }

    /// <summary>
    /// Zaqar's detailed health (admin only: <c>X-Roles: admin</c>, as Zaqar's noauth mode reads roles): whether the store
    /// answers, and each queue operation run for real on a throw-away queue of a tenant of its own, timed.
    /// </summary>
    private static async Task<IResult> HealthAsync(HttpContext http, DaakiaEngine engine, Daakia.Core.Storage.IDaakiaStore store)
    {
        var roles = http.Request.Headers["X-Roles"].ToString().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (!roles.Contains("admin", StringComparer.OrdinalIgnoreCase))
        {
            throw new ZaqarError(403, "Not authorized", "You are not authorized to complete this action.");
        }

        var tenant = TenantId.Parse("zq-health");
        var queue = "health-" + Guid.NewGuid().ToString("N")[..12];
        var client = ClientId.Parse(Guid.NewGuid().ToString("D"));
        var q = engine.Queues;
        var results = new List<(string Name, bool Ok, double Seconds)>();
        QueueClaimResult? claim = null;
        IReadOnlyList<Guid> ids = [];
        async Task Run(string name, Func<Task> op)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var ok = true;
            try
            {
                await op();
            }
            catch (Exception e) when (e is DaakiaException or IOException or InvalidOperationException)
            {
                ok = false;
            }

            results.Add((name, ok, clock.Elapsed.TotalSeconds));
        }

        await Run("create_queue", () => q.CreateAsync(tenant, queue, "{}"u8.ToArray(), NamedQueueSettings.None));
        await Run("post_messages", async () => ids = await q.PostAsync(tenant, queue, client, [.. Enumerable.Range(0, 100).Select(i => new NewQueueMessage("{\"health\": true}"u8.ToArray(), TimeSpan.FromMinutes(10)))]));
        await Run("claim_messages", async () => claim = await q.ClaimAsync(tenant, queue, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), 10));
        await Run("list_messages", () => q.ListAsync(tenant, queue, client, null, 10, true, false, false));
        await Run("delete_messages", () => claim?.Claim is { } c && claim.Messages.Count > 0 ? q.DeleteMessagesAsync(tenant, queue, [claim.Messages[0].Id], c.Id) : Task.CompletedTask);
        await Run("delete_claim", () => claim?.Claim is { } c ? q.ReleaseClaimAsync(tenant, queue, c.Id) : Task.CompletedTask);
        await Run("bulk_delete_messages", () => q.DeleteMessagesAsync(tenant, queue, [.. ids.Take(20)], ignoreClaims: true));
        await Run("delete_queue", () => q.DeleteAsync(tenant, queue));
        var reachable = store is not Daakia.Core.Storage.IStoreHealth h || h.IsHealthy;
        var w = new ZaqarWriter();
        w.Object(j =>
        {
            j.WriteBoolean("storage_reachable", reachable);
            j.WriteStartObject("operation_status");
            foreach (var (name, ok, seconds) in results)
            {
                j.WriteStartObject(name);
                j.WriteBoolean("succeeded", ok);
                j.WriteNumber("seconds", Math.Round(seconds, 6));
                j.WriteNull("ref");
                j.WriteEndObject();
            }

            j.WriteEndObject();
        });
        return w.Result(reachable && results.All(r => r.Ok) ? 200 : 503);
    }

    private static IResult ListQueues(HttpContext http, DaakiaEngine engine)
    {
        var caller = Caller(http);
        var q = http.Request.Query;
        var limit = ZaqarQuery.Int(q, "limit", 10);
        ZaqarWriter.Within(limit, ZaqarWriter.MaxQueuesPerPage, "Limit must be at least 1 and no greater than {0}.");

        var detailed = ZaqarQuery.Bool(q, "detailed", false);
        var withCount = ZaqarQuery.Bool(q, "with_count", false);
        var marker = ZaqarQuery.String(q, "marker");
        var queues = engine.Queues.List(caller.Tenant, marker, limit);
        var w = new ZaqarWriter();
        w.Object(j =>
        {
            j.WriteStartArray("queues");
            foreach (var info in queues)
            {
                j.WriteStartObject();
                j.WriteString("name", info.Name);
                j.WriteString("href", "/v2/queues/" + info.Name);
                if (detailed)
                {
                    j.WritePropertyName("metadata");
                    ZaqarMetadata.WriteWithDefaults(j, info.Metadata.Span, engine.Options);
                }

                j.WriteEndObject();
            }

            j.WriteEndArray();
            ZaqarWriter.Links(j, queues.Count == 0 ? null : ZaqarQuery.Next("/v2/queues", q, queues[^1].Name));
            if (withCount && engine.Queues.Count(caller.Tenant) is > 0 and var count)
            {
                j.WriteNumber("count", count);
            }
        });
        return w.Result(200);
    }

    private static async Task<IResult> CreateQueueAsync(HttpContext http, DaakiaEngine engine, string queue)
    {
        var caller = Caller(http);
        if (http.Request.ContentLength > engine.Options.MaxQueueMetadataBytes)
        {
            throw new ZaqarError(400, "Invalid API request", $"Queue metadata is too large. Max size: {engine.Options.MaxQueueMetadataBytes}");
        }

        var body = await ZaqarBody.ReadAsync(http, engine.Options.MaxQueueMetadataBytes);
        byte[] metadata = "{}"u8.ToArray();
        NamedQueueSettings settings = NamedQueueSettings.None;
        if (body.Length > 0)
        {
            using var doc = ZaqarBody.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ZaqarError(400, "Invalid request body", "Document type not supported.");
            }

            settings = ZaqarMetadata.Settings(doc.RootElement, engine.Options, "Invalid API request");
            metadata = body;
        }

        var created = await engine.Queues.CreateAsync(caller.Tenant, queue, metadata, settings);
        http.Response.Headers.Location = "/v2/queues/" + queue;
        return created ? Results.StatusCode(201) : Results.NoContent();
    }

    private static IResult GetQueue(HttpContext http, DaakiaEngine engine, string queue)
    {
        var info = engine.Queues.Get(Caller(http).Tenant, queue);
        var w = new ZaqarWriter();
        w.Write(j => ZaqarMetadata.WriteWithDefaults(j, info is null ? "{}"u8 : info.Metadata.Span, engine.Options));
        return w.Result(200);
    }

    private static async Task<IResult> PatchQueueAsync(HttpContext http, DaakiaEngine engine, string queue)
    {
        var caller = Caller(http);
        if (http.Request.ContentType != PatchType)
        {
            throw new ZaqarError(415, $"Accepted media type for PATCH: {{'Accept-Patch': '{PatchType}'}}.", null);
        }

        if (http.Request.ContentLength > engine.Options.MaxQueueMetadataBytes)
        {
            throw new ZaqarError(400, "Invalid request body", $"Queue metadata is too large. Max size: {engine.Options.MaxQueueMetadataBytes}");
        }

        var body = await ZaqarBody.ReadAsync(http, engine.Options.MaxQueueMetadataBytes);
        if (body.Length == 0)
        {
            throw new ZaqarError(400, "Invalid request body", "PATCH body could not be empty for update.");
        }

        using var doc = ZaqarBody.Parse(body);
        var info = engine.Queues.Get(caller.Tenant, queue)
            ?? throw new ZaqarError(404, "Not found", $"Queue {queue} does not exist for project {caller.Project}");
        var patched = ZaqarMetadata.Patch(info.Metadata.Span, doc.RootElement);
        using var result = JsonDocument.Parse(patched);
        var settings = ZaqarMetadata.Settings(result.RootElement, engine.Options, "Invalid request body");
        if (!await engine.Queues.SetMetadataAsync(caller.Tenant, queue, patched, settings))
        {
            throw new ZaqarError(404, "Not found", $"Queue {queue} does not exist for project {caller.Project}");
        }

        var w = new ZaqarWriter();
        w.Write(j => ZaqarMetadata.WriteWithDefaults(j, patched, engine.Options));
        return w.Result(200);
    }

    private static async Task<IResult> DeleteQueueAsync(HttpContext http, DaakiaEngine engine, string queue)
    {
        await engine.Queues.DeleteAsync(Caller(http).Tenant, queue);
        return Results.NoContent();
    }

    private static async Task<IResult> StatsAsync(HttpContext http, DaakiaEngine engine, string queue)
    {
        var stats = await engine.Queues.StatsAsync(Caller(http).Tenant, queue);
        var now = engine.Time.GetUtcNow();
        var w = new ZaqarWriter();
        w.Object(j =>
        {
            j.WriteStartObject("messages");
            j.WriteNumber("claimed", stats.Claimed);
            j.WriteNumber("free", stats.Free);
            j.WriteNumber("total", stats.Total);
            if (stats.Oldest is { } oldest)
            {
                j.WritePropertyName("oldest");
                ZaqarWriter.StatsMessage(j, queue, oldest, now);
            }

            if (stats.Newest is { } newest)
            {
                j.WritePropertyName("newest");
                ZaqarWriter.StatsMessage(j, queue, newest, now);
            }

            j.WriteEndObject();
        });
        return w.Result(200);
    }

    private static async Task<IResult> PurgeAsync(HttpContext http, DaakiaEngine engine, string queue)
    {
        var body = await ZaqarBody.ReadAsync(http, 64 * 1024);
        bool messages = true, subscriptions = true;
        if (body.Length > 0)
        {
            using var doc = ZaqarBody.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("resource_types", out var types))
            {
                throw new ZaqarError(400, "Invalid API request", "Post body must contain key \"resource_types\".");
            }

            if (types.ValueKind != JsonValueKind.Array || types.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.String || t.GetString() is not ("messages" or "subscriptions")))
            {
                throw new ZaqarError(400, "Invalid API request", "Resource types must be a sub set of {'messages', 'subscriptions'}.");
            }

            messages = types.EnumerateArray().Any(t => t.GetString() == "messages");
            subscriptions = types.EnumerateArray().Any(t => t.GetString() == "subscriptions");
        }

        if (messages)
        {
            await engine.Queues.PurgeAsync(Caller(http).Tenant, queue);
        }

        if (subscriptions)
        {
            await engine.Queues.PurgeSubscriptionsAsync(Caller(http).Tenant, queue);
        }

        return Results.NoContent();
    }
}

/// <summary>
/// Who a <c>/v2</c> request is from: the tenant its project maps to, the project as sent, and the Client-ID; and whether
/// it came in pre-signed (its signature checked: what credentials, once they exist, must not be asked of it).
/// </summary>
internal sealed record ZaqarCaller(TenantId Tenant, string Project, ClientId Client, bool Signed = false);
