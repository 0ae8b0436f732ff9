using System.Text.Json;
using Daakia.Core;

namespace Daakia.Server.Zaqar;

/// <summary>What one <c>/v2/ws</c> frame is handled with: the core, the signing key, where webhooks may go, and the
/// connection (null for a caller without one: no subscriber-less subscriptions then).</summary>
internal sealed record ZaqarWsContext(DaakiaEngine Engine, string? SigningKey, Notifications.WebhookTargets? Targets, ZaqarWsConnection? Connection);

/// <summary>The <c>subscription_*</c> actions (wire reference §9.3, §9.5).</summary>
public static partial class ZaqarWebSocket
{
    private static async Task<(int Status, Action<Utf8JsonWriter> Body)> SubscriptionAsync(ZaqarWsContext context, string action, TenantId tenant, string project, JsonElement body, DateTimeOffset now)
    {
        var q = context.Engine.Queues;
        var queue = Str(body, "queue_name");
        switch (action)
        {
            case "subscription_create":
            {
                if (!QueueService.IsValidName(queue))
                {
                    throw new ZaqarError(400, "Invalid API request", "Queue names may not be more than 64 characters long, and may contain only ASCII letters, digits, underscores, dashes and dots.");
                }

                var targets = context.Targets ?? throw new ZaqarError(503, "Service Unavailable", "Subscriptions are not served on this connection.");
                var r = ZaqarSubscriptions.Read(body, context.Engine.Options, targets);
                var ttl = r.Ttl ?? context.Engine.Options.DefaultSubscriptionTtl;
                var options = r.Options ?? "{}"u8.ToArray();
                NewQueueSubscription request;
                IQueueWatcher? watcher = null;
                if (r.Subscriber is null)
                {
                    // No subscriber: this connection is notified, with bare frames, until it goes (§9.5).
                    var connection = context.Connection ?? throw new ZaqarError(400, "Invalid API request", "Missing parameter subscriber in body.");
                    request = new NewQueueSubscription(connection.Subscriber, SubscriberKind.Connection, ttl, options) { Project = project };
                    watcher = connection;
                }
                else
                {
                    request = new NewQueueSubscription(r.Subscriber, r.Kind!.Value, ttl, options)
                    {
                        RetryPolicy = r.Policy ?? NotificationRetryPolicy.Default,
                        Secret = r.Secret,
                        Project = project,
                    };
                }

                var (view, outcome) = await q.SubscribeAsync(tenant, queue, request, watcher);
                if (outcome == SubscribeOutcome.Conflict)
                {
                    throw new ZaqarError(409, "Conflict", $"Subscription {queue} not created.");
                }

                if (watcher is not null)
                {
                    context.Connection!.Subscribed(tenant, queue, view.Subscription.Id);
                }

                return (201, j =>
                {
                    j.WriteStartObject();
                    j.WriteString("subscription_id", view.Subscription.Id.ToString());
                    j.WriteString("message", $"Subscription {queue} created.");
                    if (watcher is null && outcome == SubscribeOutcome.Created)
                    {
                        j.WriteString("signing_secret", view.Subscription.Secret);
                        j.WriteString("webhook_secret", Notifications.WebhookSender.StandardSecret(view.Subscription.Secret)); // for Standard Webhooks libraries
                    }

                    j.WriteEndObject();
                });
            }

            case "subscription_get":
            {
                var id = Str(body, "subscription_id");
                var view = Guid.TryParse(id, out var g) ? q.GetSubscription(tenant, queue, g) : null;
                if (view is null)
                {
                    throw new ZaqarError(404, "Not found", $"Subscription {id} does not exist");
                }

                return (200, j => ZaqarSubscriptions.Write(j, view, now));
            }

            case "subscription_list":
            {
                var limit = Int(body, "limit", 10);
                ZaqarWriter.Within(limit, 20, "Limit must be at least 1 and may not be greater than {0}.");
                var marker = Str(body, "marker", required: false);
                var list = q.ListSubscriptions(tenant, queue, marker.Length > 0 ? marker : null, limit);
                return (200, j =>
                {
                    j.WriteStartObject();
                    j.WriteStartArray("subscriptions");
                    foreach (var view in list)
                    {
                        ZaqarSubscriptions.Write(j, view, now);
                    }

                    j.WriteEndArray();
                    j.WriteEndObject();
                });
            }

            default:
            {
                var id = Str(body, "subscription_id");
                if (Guid.TryParse(id, out var g))
                {
                    if (await q.UnsubscribeAsync(tenant, queue, g))
                    {
                        context.Connection?.Unsubscribed(tenant, queue, g);
                    }
                }

                return (204, j => j.WriteStringValue($"Subscription {id} removed."));
            }
        }
    }
}
