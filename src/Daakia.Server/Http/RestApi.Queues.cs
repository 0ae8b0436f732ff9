using Daakia.Core;
using Daakia.Server.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Daakia.Server.Http;

/// <summary>
/// Named queues on the native API: their topic bindings (Zaqar's <c>/v2</c> has no such thing). The queues themselves,
/// their messages and claims are Zaqar's (docs/protocols/zaqar.md), in the same tenant.
/// </summary>
public static partial class RestApi
{
    private static void MapQueues(RouteGroupBuilder v1)
    {
        v1.MapPut("/queues/{queue}/bindings", BindAsync).WithName("BindQueue")
            .WithSummary("Bind a named queue (made if missing) to a topic filter: every publication of the tenant that matches it is appended to the queue, durably before its publisher is acknowledged.")
            .Accepts<QueueBindingRequest>("application/json").Produces<QueueBindingView>(201).Produces<QueueBindingView>(200)
            .ProducesProblem(400).ProducesProblem(429).ProducesProblem(507);
        v1.MapMethods("/queues/{queue}/bindings", GetAndHead, ListBindings).WithName("ListQueueBindings")
            .WithSummary("The topic filters a named queue is bound to, in ordinal order.").Produces<QueueBindingList>().ProducesProblem(404);
        v1.MapDelete("/queues/{queue}/bindings", UnbindAsync).WithName("UnbindQueue")
            .WithSummary("Unbind a named queue from a topic filter (?filter=, percent-encoded: '+' is %2B, '#' is %23).")
            .Produces(204).ProducesProblem(400).ProducesProblem(404);
    }

    private static string QueueName(string queue) =>
        QueueService.IsValidName(queue)
            ? queue
            : throw RestException.Invalid($"'{RestRequest.Excerpt(queue)}' is not a queue name: 1 to 64 of ASCII letters, digits, '_', '-' and '.'.");

    private static async Task<IResult> BindAsync(HttpContext http, string queue, DaakiaEngine engine, TenantResolver tenants, DaakiaServerOptions options)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var name = QueueName(queue);
        using var body = await RestRequest.BodyAsync(http, options);
        var filter = body.RootElement.TryGetProperty("filter"u8, out var f) && f.ValueKind == System.Text.Json.JsonValueKind.String
            ? f.GetString()!
            : throw RestException.Invalid("'filter' is required and must be a string (a topic filter; '+' and '#' are wildcards).");
        var created = await engine.Queues.BindAsync(tenant, name, filter);
        var binding = engine.Queues.ListBindings(tenant, name)?.FirstOrDefault(b => b.Filter == filter)
            ?? throw new RestException(404, ErrorCodes.NotFound, $"Queue '{name}' was deleted meanwhile.");
        if (created)
        {
            http.Response.Headers.Location = $"/v1/queues/{name}/bindings?filter={Uri.EscapeDataString(filter)}";
        }

        return JsonResult.Write(created ? 201 : 200, (name, binding), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteString("queue"u8, s.name);
            w.WriteString("filter"u8, s.binding.Filter);
            w.WriteString("created_at"u8, WireFormat.Timestamp(s.binding.CreatedAt));
            w.WriteEndObject();
        });
    }

    private static IResult ListBindings(HttpContext http, string queue, DaakiaEngine engine, TenantResolver tenants)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var name = QueueName(queue);
        var bindings = engine.Queues.ListBindings(tenant, name);
        if (bindings is null)
        {
            return RestProblem.Of(404, ErrorCodes.NotFound, $"There is no queue '{name}'.");
        }

        return JsonResult.Write(200, (name, bindings), static (w, s) =>
        {
            w.WriteStartObject();
            WireFormat.Bindings(w, s.name, s.bindings);
            w.WriteEndObject();
        });
    }

    private static async Task<IResult> UnbindAsync(HttpContext http, string queue, string? filter, DaakiaEngine engine, TenantResolver tenants)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var name = QueueName(queue);
        if (string.IsNullOrEmpty(filter))
        {
            throw RestException.Invalid("'filter' is required: ?filter=, percent-encoded ('+' is %2B, '#' is %23).");
        }

        return await engine.Queues.UnbindAsync(tenant, name, filter)
            ? Results.NoContent()
            : RestProblem.Of(404, ErrorCodes.NotFound, $"Queue '{name}' is not bound to '{RestRequest.Excerpt(filter)}'.");
    }
}
