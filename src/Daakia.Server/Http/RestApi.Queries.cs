using Daakia.Core;
using Daakia.Server.Json;
using Microsoft.AspNetCore.Http;

namespace Daakia.Server.Http;

public static partial class RestApi
{
    private static async Task<IResult> PresenceAsync(HttpContext http, string client, DaakiaEngine engine, TenantResolver tenants)
    {
        var list = await engine.Presence.GetAsync(RestRequest.Tenant(http, tenants), [RestRequest.PathClient(client)], http.RequestAborted);
        return JsonResult.Write(200, list[0], static (w, p) => WireFormat.WritePresence(w, p));
    }

    private static async Task<IResult> PresenceListAsync(HttpContext http, string? clients, DaakiaEngine engine, TenantResolver tenants)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        if (string.IsNullOrEmpty(clients))
        {
            throw RestException.Invalid("'clients' (a comma-separated list of client ids) is required.");
        }

        var names = clients.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length > engine.Options.MaxPageSize)
        {
            throw RestException.Invalid($"At most {engine.Options.MaxPageSize} clients per query.");
        }

        var ids = Array.ConvertAll(names, RestRequest.PathClient);
        var list = await engine.Presence.GetAsync(tenant, ids, http.RequestAborted);
        return JsonResult.Write(200, list, static (w, l) =>
        {
            w.WriteStartObject();
            w.WriteStartArray("presence"u8);
            foreach (var p in l)
            {
                WireFormat.WritePresence(w, p);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private static async Task<IResult> RosterAsync(HttpContext http, string? scope, string? after, int? limit, DaakiaEngine engine, TenantResolver tenants)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        if (scope is null or "online")
        {
            return JsonResult.Write(200, engine.Presence.GetOnline(tenant), static (w, l) =>
            {
                w.WriteStartObject();
                WireFormat.WriteOnlineFields(w, l);
                w.WriteEndObject();
            });
        }

        if (scope != "all")
        {
            throw RestException.Invalid("'scope' must be 'online' or 'all'.");
        }

        var take = RestRequest.Limit(limit, 100, engine.Options.MaxPageSize);
        ClientId? from = after is null ? null : RestRequest.PathClient(after);
        var page = await engine.Presence.ListRosterAsync(tenant, from, take, http.RequestAborted);
        return JsonResult.Write(200, (page, page.Count == take), static (w, s) =>
        {
            w.WriteStartObject();
            WireFormat.WriteRosterFields(w, s.page, s.Item2);
            w.WriteEndObject();
        });
    }

    private static async Task<IResult> Publish(HttpContext http, DaakiaEngine engine, TenantResolver tenants, DaakiaServerOptions options)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        ClientId? author = http.Request.Headers.ContainsKey(RestRequest.ClientHeader) ? RestRequest.Caller(http) : null;
        using var body = await RestRequest.BodyAsync(http, options);
        var root = body.RootElement;
        var topic = root.TryGetProperty("topic"u8, out var t) && t.ValueKind == System.Text.Json.JsonValueKind.String
            ? t.GetString()!
            : throw RestException.Invalid("'topic' is required and must be a string.");
        // "retain": true keeps it as the topic's retained message (answered once durable); without a payload it removes it.
        var retain = root.TryGetProperty("retain"u8, out var r) && (r.ValueKind == System.Text.Json.JsonValueKind.True
            || (r.ValueKind != System.Text.Json.JsonValueKind.False ? throw RestException.Invalid("'retain' must be true or false.") : false));
        var clear = retain && !root.TryGetProperty("payload"u8, out _);
        var payload = clear ? ReadOnlyMemory<byte>.Empty : RestRequest.Payload(root, engine.Options.MaxPayloadBytes);
        var properties = Json.WireFormat.ReadPublicationProperties(root, RestException.Invalid);
        var delivered = engine.Topics.Publish(tenant, author, topic, payload, clear ? Publication.OpaqueContentType : Letter.JsonContentType,
            QualityOfService.AtMostOnce, retain, out var stored, properties);
        await stored;
        return JsonResult.Number(202, "delivered", delivered);
    }

    private static async Task<IResult> ActivityAsync(HttpContext http, long? after, int? limit, string? since, string? until, string? client, string? kind,
        DaakiaEngine engine, TenantResolver tenants)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var query = new ActivityQuery(tenant, after ?? 0, RestRequest.Limit(limit, 100, engine.Options.MaxPageSize))
        {
            Since = Time(since, "since"),
            Until = Time(until, "until"),
            Actor = client is null ? null : RestRequest.PathClient(client),
            Kinds = kind is null ? null : kind.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal),
        };
        if (after < 0)
        {
            throw RestException.Invalid("'after' must be an entry id (0 or more).");
        }

        var page = await engine.Activity.QueryAsync(query, http.RequestAborted);
        return JsonResult.Write(200, page, static (w, p) =>
        {
            w.WriteStartObject();
            w.WriteStartArray("entries"u8);
            foreach (var e in p.Entries)
            {
                WireFormat.WriteActivity(w, e);
            }

            w.WriteEndArray();
            if (p.Next is { } next)
            {
                w.WriteNumber("next"u8, next);
            }
            else
            {
                w.WriteNull("next"u8);
            }

            w.WriteNumber("last_seen"u8, p.LastSeen);
            w.WriteEndObject();
        });
    }

    /// <summary>An RFC 3339 time of a query (<c>since</c>, <c>until</c>), with its offset.</summary>
    private static DateTimeOffset? Time(string? value, string name) => value is null
        ? null
        : DateTimeOffset.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var t)
            ? t
            : throw RestException.Invalid($"'{name}' must be an RFC 3339 time, e.g. 2026-12-07T10:00:00Z.");
}
