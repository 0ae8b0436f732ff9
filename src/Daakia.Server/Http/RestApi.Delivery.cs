using System.Text.Json;
using Daakia.Core;
using Daakia.Server.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Daakia.Server.Http;

/// <summary>The delivery engine's REST surface beyond send and ack: release (negative ack) and dead letters.</summary>
public static partial class RestApi
{
    private static void MapDelivery(RouteGroupBuilder v1)
    {
        v1.MapPost("/clients/{client}/inbox/release", ReleaseAsync).WithName("ReleaseInbox")
            .WithSummary("Give letters handed out to the client's connections back for redelivery (optionally after a delay).")
            .Accepts<ReleaseRequest>("application/json").Produces<ReleaseResponse>();
        v1.MapGet("/clients/{client}/dead-letters", ReadDeadLettersAsync).WithName("ReadDeadLetters")
            .WithSummary("A page of a client's dead letters: letters handed out the maximum number of times without an ack.").Produces<InboxPage>();
        v1.MapGet("/clients/{client}/dead-letters/count", CountDeadLettersAsync).WithName("CountDeadLetters")
            .WithSummary("Dead letters of a client.").Produces<CountResponse>();
        v1.MapPost("/clients/{client}/dead-letters/ack", AckDeadLettersAsync).WithName("AckDeadLetters")
            .WithSummary("Remove dead letters durably.").Accepts<AckRequest>("application/json").Produces<AckResponse>();
    }

    private static async Task<IResult> ReleaseAsync(HttpContext http, string client, DaakiaEngine engine, TenantResolver tenants, DaakiaServerOptions options)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var id = RestRequest.PathClient(client);
        using var body = await RestRequest.BodyAsync(http, options);
        var root = body.RootElement;
        var ids = MessageIds(root, engine);
        if (!WireFormat.TryReadDelay(root, engine.Options, out var delay))
        {
            throw RestException.Invalid($"'delay' must be a number of seconds from 0 to {engine.Options.MaxDelay.TotalSeconds:0}.");
        }

        var released = await engine.Letters.ReleaseAsync(tenant, id, ids, delay);
        return JsonResult.Number(200, "released", released);
    }

    private static async Task<IResult> ReadDeadLettersAsync(HttpContext http, string client, long? after, int? limit, DaakiaEngine engine, TenantResolver tenants, RestReadBudget budget)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var id = RestRequest.PathClient(client);
        var max = engine.Options.InboxPageSize;
        var take = RestRequest.Limit(limit, Math.Min(100, max), max);
        return await ReadPageAsync(engine, budget, take, http, () => engine.Letters.ReadDeadLettersAsync(tenant, id, after ?? 0, take, http.RequestAborted));
    }

    private static async Task<IResult> CountDeadLettersAsync(HttpContext http, string client, DaakiaEngine engine, TenantResolver tenants)
    {
        var count = await engine.Letters.CountDeadLettersAsync(RestRequest.Tenant(http, tenants), RestRequest.PathClient(client), http.RequestAborted);
        return JsonResult.Number(200, "count", count);
    }

    private static async Task<IResult> AckDeadLettersAsync(HttpContext http, string client, DaakiaEngine engine, TenantResolver tenants, DaakiaServerOptions options)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var id = RestRequest.PathClient(client);
        using var body = await RestRequest.BodyAsync(http, options);
        var removed = await engine.Letters.DeleteDeadLettersAsync(tenant, id, MessageIds(body.RootElement, engine));
        return JsonResult.Number(200, "acknowledged", removed);
    }

    private static List<Guid> MessageIds(JsonElement root, DaakiaEngine engine) =>
        RestRequest.Strings(root, "message_ids", engine.Options.InboxPageSize, ErrorCodes.LimitExceeded)
            .ConvertAll(s => Guid.TryParse(s, out var g) ? g : throw RestException.Invalid($"'{s}' is not a message id."));

    internal static void WriteEntry(Utf8JsonWriter w, QueueEntry entry)
    {
        w.WriteStartObject();
        w.WriteNumber("sequence"u8, entry.Position);
        WireFormat.WriteLetterFields(w, entry.Message);
        w.WriteNumber("deliveries"u8, entry.Deliveries);
        w.WriteEndObject();
    }
}
