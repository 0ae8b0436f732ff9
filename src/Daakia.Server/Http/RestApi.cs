using System.Text.Json;
using Daakia.Core;
using Daakia.Server.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Daakia.Server.Http;

/// <summary>
/// The native REST API under <c>/v1</c> (docs/protocols/rest.md): direct messages, inboxes, presence, roster, topic
/// publish and the activity log, with problem-details errors. The same core operations as the WebSocket API.
/// </summary>
public static partial class RestApi
{
    /// <summary>Every read answers HEAD too (RFC 9110 §9.3.2: the same headers, no body; Kestrel drops the body).</summary>
    internal static readonly string[] GetAndHead = [HttpMethods.Get, HttpMethods.Head];

    public static IEndpointRouteBuilder MapDaakiaRest(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("v1").AddEndpointFilter(MapErrorsAsync);

        v1.MapPost("/messages", SendAsync).WithName("SendMessage")
            .WithSummary("Send a letter to one or more clients; 201 once it is durable in every recipient's inbox.")
            .Accepts<SendMessageRequest>("application/json").Produces<SendMessageResponse>(201).ProducesProblem(400).ProducesProblem(413);
        v1.MapMethods("/clients/{client}/inbox", GetAndHead, ReadInboxAsync).WithName("ReadInbox")
            .WithSummary("A page of a client's inbox, oldest first, without removing anything.").Produces<InboxPage>();
        v1.MapMethods("/clients/{client}/inbox/count", GetAndHead, CountInboxAsync).WithName("CountInbox")
            .WithSummary("Letters waiting in a client's inbox.").Produces<CountResponse>();
        v1.MapPost("/clients/{client}/inbox/ack", AckAsync).WithName("AckInbox")
            .WithSummary("Acknowledge letters: they leave the inbox durably.").Accepts<AckRequest>("application/json").Produces<AckResponse>();
        v1.MapDelete("/clients/{client}/inbox/{messageId}", DeleteAsync).WithName("DeleteInboxMessage")
            .WithSummary("Acknowledge one letter; 404 if it is not in the inbox.").Produces(204).ProducesProblem(404);
        v1.MapMethods("/clients/{client}/presence", GetAndHead, PresenceAsync).WithName("GetPresence")
            .WithSummary("A client's presence.").Produces<PresenceView>();
        v1.MapMethods("/presence", GetAndHead, PresenceListAsync).WithName("QueryPresence")
            .WithSummary("Presence of several clients (?clients=a,b,c).");
        v1.MapMethods("/roster", GetAndHead, RosterAsync).WithName("Roster")
            .WithSummary("Clients online now (scope=online) or every client ever seen (scope=all), by page.");
        v1.MapPost("/topics/publish", Publish).WithName("Publish")
            .WithSummary("Publish to a topic (non-durable): every connection subscribed now gets it.")
            .Accepts<PublishRequest>("application/json").Produces<PublishResponse>(202);
        v1.MapMethods("/activity", GetAndHead, ActivityAsync).WithName("Activity")
            .WithSummary("The tenant's activity log, oldest first: after an entry id (?after=), in a time range (?since=, ?until=, RFC 3339), by a client (?client=), of kinds (?kind=a,b), by page (?limit=, then ?after=next).");
        MapDelivery(v1);
        MapQueues(v1);
        MapTasks(v1);
        return app;
    }

    private static async ValueTask<object?> MapErrorsAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (DaakiaException ex)
        {
            if (ex.Code == DaakiaErrorCode.Overloaded)
            {
                // Uncommitted writes are at their bound: come back once the store has caught up.
                context.HttpContext.Response.Headers.RetryAfter = "1";
            }

            return RestProblem.Of(ex);
        }
        catch (RestException ex)
        {
            return RestProblem.Of(ex.Status, ex.Code, ex.Message);
        }
    }

    private static async Task<IResult> SendAsync(HttpContext http, DaakiaEngine engine, TenantResolver tenants, DaakiaServerOptions options)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var author = RestRequest.Caller(http);
        using var body = await RestRequest.BodyAsync(http, options);
        var root = body.RootElement;
        var names = RestRequest.Strings(root, "recipients", engine.Options.MaxRecipients, ErrorCodes.TooManyRecipients);
        var recipients = names.ConvertAll(n => ClientId.TryCreate(n, out var c) ? c : throw RestException.Invalid($"'{n}' is not a valid client id."));
        TimeSpan? ttl = null;
        if (root.TryGetProperty("ttl"u8, out var t) && t.ValueKind != JsonValueKind.Null)
        {
            ttl = t.ValueKind == JsonValueKind.Number && t.TryGetDouble(out var s) && s > 0 && s <= engine.Options.MaxTtl.TotalSeconds
                ? TimeSpan.FromSeconds(s)
                : throw RestException.Invalid($"'ttl' must be a positive number of seconds, at most {engine.Options.MaxTtl.TotalSeconds:0}.");
        }

        if (!WireFormat.TryReadDelay(root, engine.Options, out var delay))
        {
            throw RestException.Invalid($"'delay' must be a number of seconds from 0 to {engine.Options.MaxDelay.TotalSeconds:0}.");
        }

        var headers = WireFormat.ReadHeaders(root, engine.Options);
        var receipt = await engine.Letters.SendAsync(tenant, author, recipients, RestRequest.Payload(root, engine.Options.MaxPayloadBytes), ttl, delay, headers);
        // No Location: a letter has no resource of its own (it is `message_id` in each recipient's inbox).
        return JsonResult.Write(201, receipt, static (w, r) =>
        {
            w.WriteStartObject();
            w.WriteString("message_id"u8, r.MessageId);
            w.WriteString("timestamp"u8, WireFormat.Timestamp(r.Timestamp));
            w.WriteNumber("recipients"u8, r.Recipients);
            w.WriteEndObject();
        });
    }

    private static async Task<IResult> ReadInboxAsync(HttpContext http, string client, long? after, int? limit, DaakiaEngine engine, TenantResolver tenants, RestReadBudget budget)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var id = RestRequest.PathClient(client);
        var max = engine.Options.InboxPageSize;
        var take = RestRequest.Limit(limit, Math.Min(100, max), max);
        return await ReadPageAsync(engine, budget, take, http, () => engine.Letters.ReadInboxAsync(tenant, id, after ?? 0, take, http.RequestAborted));
    }

    /// <summary>Reads one page of a queue within the server-wide read budget and streams it out.</summary>
    private static async Task<IResult> ReadPageAsync(DaakiaEngine engine, RestReadBudget budget, int take, HttpContext http, Func<ValueTask<IReadOnlyList<QueueEntry>>> read)
    {
        // The page's worst case before reading: its byte bound (the first letter is always returned, so at least one
        // largest payload), and never more than `take` largest payloads.
        var payloadMax = (long)engine.Options.MaxPayloadBytes;
        var reserve = Math.Min(Math.Max(engine.Options.MaxReadPageBytes, payloadMax), take * payloadMax);
        if (!budget.TryReserve(reserve))
        {
            http.Response.Headers.RetryAfter = "1";
            throw new RestException(503, ErrorCodes.Overloaded,
                $"Too many inbox pages are being read at once (MaxConcurrentReadBytes = {budget.Capacity}); retry shortly, or read smaller pages with 'limit'.");
        }

        var held = reserve;
        try
        {
            var page = await read();
            long used = 0;
            foreach (var entry in page)
            {
                used += entry.Message.Payload.Length;
            }

            // Keep only what the page holds until it is written.
            used = Math.Min(used, reserve);
            budget.Release(reserve - used);
            held = 0;
            return new InboxPageResult(page, page.Count == take, budget, used);
        }
        finally
        {
            budget.Release(held);
        }
    }

    private static async Task<IResult> CountInboxAsync(HttpContext http, string client, DaakiaEngine engine, TenantResolver tenants)
    {
        var count = await engine.Letters.CountInboxAsync(RestRequest.Tenant(http, tenants), RestRequest.PathClient(client), http.RequestAborted);
        return JsonResult.Number(200, "count", count);
    }

    private static async Task<IResult> AckAsync(HttpContext http, string client, DaakiaEngine engine, TenantResolver tenants, DaakiaServerOptions options)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var id = RestRequest.PathClient(client);
        using var body = await RestRequest.BodyAsync(http, options);
        var raw = RestRequest.Strings(body.RootElement, "message_ids", engine.Options.InboxPageSize, ErrorCodes.LimitExceeded);
        var ids = raw.ConvertAll(s => Guid.TryParse(s, out var g) ? g : throw RestException.Invalid($"'{s}' is not a message id."));
        var acknowledged = await engine.Letters.AckAsync(tenant, id, ids);
        return JsonResult.Number(200, "acknowledged", acknowledged);
    }

    private static async Task<IResult> DeleteAsync(HttpContext http, string client, string messageId, DaakiaEngine engine, TenantResolver tenants)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var id = RestRequest.PathClient(client);
        var message = Guid.TryParse(messageId, out var g) ? g : throw RestException.Invalid($"'{messageId}' is not a message id.");
        var removed = await engine.Letters.AckAsync(tenant, id, [message]);
        return removed > 0 ? Results.NoContent() : RestProblem.Of(404, ErrorCodes.NotFound, $"Message {message} is not in {id}'s inbox.");
    }
}
