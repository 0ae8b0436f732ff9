using System.Text.Json;
using Daakia.Core;
using Daakia.Server.Notifications;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Daakia.Server.Zaqar;

/// <summary>Zaqar's subscription endpoints (docs/zaqar-wire.md §8.2) on the core's queue subscriptions.</summary>
public static partial class ZaqarApi
{
    private const int MaxSubscriptionsPerPage = 20;

    private static void MapSubscriptions(RouteGroupBuilder v2)
    {
        v2.MapPost("/queues/{queue}/subscriptions", SubscribeAsync).WithName("ZaqarSubscribe");
        v2.MapGet("/queues/{queue}/subscriptions", ListSubscriptions).WithName("ZaqarListSubscriptions");
        v2.MapGet("/queues/{queue}/subscriptions/{subscription}", GetSubscription).WithName("ZaqarGetSubscription");
        v2.MapPatch("/queues/{queue}/subscriptions/{subscription}", PatchSubscriptionAsync).WithName("ZaqarPatchSubscription");
        v2.MapDelete("/queues/{queue}/subscriptions/{subscription}", UnsubscribeAsync).WithName("ZaqarDeleteSubscription");
        v2.MapPut("/queues/{queue}/subscriptions/{subscription}/confirm", ConfirmAsync).WithName("ZaqarConfirmSubscription");
    }

    private static async Task<JsonDocument?> BodyAsync(HttpContext http, DaakiaEngine engine)
    {
        var bytes = await ZaqarBody.ReadAsync(http, engine.Options.MaxSubscriptionOptionsBytes + 8192);
        if (bytes.Length == 0)
        {
            return null;
        }

        var doc = ZaqarBody.Parse(bytes);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw new ZaqarError(400, "Invalid request body", "Document type not supported.");
        }

        return doc;
    }

    private static async Task<IResult> SubscribeAsync(HttpContext http, DaakiaEngine engine, WebhookTargets targets, string queue)
    {
        var caller = Caller(http);
        using var doc = await BodyAsync(http, engine);
        if (doc is null || !doc.RootElement.TryGetProperty("subscriber", out _))
        {
            throw new ZaqarError(400, "Invalid API request", "Missing parameter subscriber in body.");
        }

        var r = ZaqarSubscriptions.Read(doc.RootElement, engine.Options, targets);
        var request = new NewQueueSubscription(r.Subscriber!, r.Kind!.Value, r.Ttl ?? engine.Options.DefaultSubscriptionTtl, r.Options ?? "{}"u8.ToArray())
        {
            RetryPolicy = r.Policy ?? NotificationRetryPolicy.Default,
            Secret = r.Secret,
            Project = caller.Project,
        };
        var (view, outcome) = await engine.Queues.SubscribeAsync(caller.Tenant, queue, request);
        http.Response.Headers.Location = $"/v2/queues/{queue}/subscriptions";
        if (outcome == SubscribeOutcome.Conflict)
        {
            throw new ZaqarError(409, "Resource conflict", "Such subscription already exists.Subscriptions are unique by project + queue + subscriber URI.");
        }

        var w = new ZaqarWriter();
        w.Object(j =>
        {
            j.WriteString("subscription_id", view.Subscription.Id.ToString());
            if (outcome == SubscribeOutcome.Created)
            {
                // Beyond Zaqar: what a receiver checks X-Daakia-Signature with; said once, to whoever made it.
                j.WriteString("signing_secret", view.Subscription.Secret);
                j.WriteString("webhook_secret", Notifications.WebhookSender.StandardSecret(view.Subscription.Secret)); // for Standard Webhooks libraries
            }
        });
        return w.Result(201);
    }

    private static IResult ListSubscriptions(HttpContext http, DaakiaEngine engine, string queue)
    {
        var caller = Caller(http);
        var q = http.Request.Query;
        var limit = ZaqarQuery.Int(q, "limit", 10);
        ZaqarWriter.Within(limit, MaxSubscriptionsPerPage, "Limit must be at least 1 and may not be greater than {0}.");
        var list = engine.Queues.ListSubscriptions(caller.Tenant, queue, ZaqarQuery.String(q, "marker"), limit);
        var now = engine.Time.GetUtcNow();
        var w = new ZaqarWriter();
        w.Object(j =>
        {
            j.WriteStartArray("subscriptions");
            foreach (var s in list)
            {
                ZaqarSubscriptions.Write(j, s, now);
            }

            j.WriteEndArray();
            ZaqarWriter.Links(j, list.Count == 0 ? null : ZaqarQuery.Next($"/v2/queues/{queue}/subscriptions", q, list[^1].Subscription.Id.ToString()));
        });
        return w.Result(200);
    }

    private static IResult GetSubscription(HttpContext http, DaakiaEngine engine, string queue, string subscription)
    {
        var caller = Caller(http);
        var view = Guid.TryParse(subscription, out var id) ? engine.Queues.GetSubscription(caller.Tenant, queue, id) : null;
        if (view is null)
        {
            throw new ZaqarError(404, "Not found", $"Subscription {subscription} does not exist");
        }

        var now = engine.Time.GetUtcNow();
        var w = new ZaqarWriter();
        w.Write(j => ZaqarSubscriptions.Write(j, view, now));
        return w.Result(200);
    }

    private static async Task<IResult> PatchSubscriptionAsync(HttpContext http, DaakiaEngine engine, WebhookTargets targets, string queue, string subscription)
    {
        var caller = Caller(http);
        using var doc = await BodyAsync(http, engine);
        if (doc is null || !doc.RootElement.EnumerateObject().Any())
        {
            throw new ZaqarError(400, "Invalid API request", "No subscription to create.");
        }

        var r = ZaqarSubscriptions.Read(doc.RootElement, engine.Options, targets);
        if (r.Subscriber is null && r.Ttl is null && r.Options is null)
        {
            throw new ZaqarError(400, "Unable to update subscription", $"Subscription {subscription} could not be updated.");
        }

        // New options replace the old ones, and Zaqar's _retry_policy is one of them: options without it mean the default.
        var policy = r.Options is null ? null : r.Policy ?? NotificationRetryPolicy.Default;
        var outcome = Guid.TryParse(subscription, out var id)
            ? await engine.Queues.UpdateSubscriptionAsync(caller.Tenant, queue, id, r.Subscriber, r.Kind, r.Ttl, r.Options, policy, r.Secret)
            : SubscriptionUpdate.NotFound;
        switch (outcome)
        {
            case SubscriptionUpdate.NotFound:
                throw new ZaqarError(404, "Not found", $"Subscription {subscription} does not exist");
            case SubscriptionUpdate.Conflict:
                throw new ZaqarError(409, "Resource conflict", "Such subscription already exists.Subscriptions are unique by project + queue + subscriber URI.");
        }

        http.Response.Headers.Location = $"/v2/queues/{queue}/subscriptions/{subscription}";
        return Results.NoContent();
    }

    private static async Task<IResult> UnsubscribeAsync(HttpContext http, DaakiaEngine engine, string queue, string subscription)
    {
        if (Guid.TryParse(subscription, out var id))
        {
            await engine.Queues.UnsubscribeAsync(Caller(http).Tenant, queue, id);
        }

        return Results.NoContent();
    }

    private static async Task<IResult> ConfirmAsync(HttpContext http, DaakiaEngine engine, string queue, string subscription)
    {
        var caller = Caller(http);
        using var doc = await BodyAsync(http, engine);
        if (doc is null || !doc.RootElement.TryGetProperty("confirmed", out var c) || c.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            throw new ZaqarError(400, "Invalid API request", "The 'confirmed' should be boolean.");
        }

        if (!Guid.TryParse(subscription, out var id) || !await engine.Queues.ConfirmSubscriptionAsync(caller.Tenant, queue, id, c.GetBoolean()))
        {
            throw new ZaqarError(404, "Not found", $"Subscription {subscription} does not exist");
        }

        http.Response.Headers.Location = $"/v2/queues/{queue}/subscriptions/{subscription}/confirm";
        return Results.NoContent();
    }
}
