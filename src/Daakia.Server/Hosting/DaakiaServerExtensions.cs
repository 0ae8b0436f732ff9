using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Server.Http;
using Daakia.Server.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Prometheus;

namespace Daakia.Server.Hosting;

/// <summary>Composition of the protocol adapters: services and endpoints.</summary>
public static class DaakiaServerExtensions
{
    private const string JsonApiPath = "/v1/ws";
    private const string TextoPath = "/v1/texto";

    private static readonly System.Text.UTF8Encoding LenientUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    /// <summary>
    /// Registers the core and the adapters. The caller registers an <see cref="Core.Storage.IDaakiaStore"/> and a
    /// <see cref="TimeProvider"/> (defaults to <see cref="TimeProvider.System"/>).
    /// </summary>
    public static IServiceCollection AddDaakiaServer(this IServiceCollection services, DaakiaServerOptions serverOptions, DaakiaCoreOptions coreOptions)
    {
        services.AddSingleton(serverOptions);
        services.AddSingleton(coreOptions);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<DaakiaEngine>();
        services.AddSingleton<ConnectionTracker>();
        services.AddSingleton(new TenantResolver(serverOptions));
        services.AddSingleton<WebSocketSessionFactory>();
        services.AddSingleton<Mqtt.MqttSessionRegistry>();
        services.AddSingleton<Mqtt.MqttWebSocketEndpoint>();
        services.AddSingleton<EdgePolicy>();
        services.AddSingleton(new RestReadBudget(serverOptions.MaxConcurrentReadBytes));
        AddNotifications(services, serverOptions);
        services.AddHostedService<DaakiaLifecycle>();
        services.AddOpenApi();

        // Every HTTP error is problem+json with a code (docs/protocols/rest.md): binding failures throw so that their
        // message reaches the client, and the exception handler tells client faults (Debug) from server faults (Error).
        services.AddProblemDetails(o => o.CustomizeProblemDetails = RestProblem.Customize);
        services.AddExceptionHandler<RestExceptionHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        // RestExceptionHandler logs every exception itself, at the level its cause deserves.
        services.Configure<ExceptionHandlerOptions>(o => o.SuppressDiagnosticsCallback = static _ => true);
        // Header values are read as UTF-8 (invalid bytes become U+FFFD) instead of refused by Kestrel with an empty 400:
        // a non-ASCII client or tenant id then gets our problem+json answer naming it as sent, not mojibake.
        services.Configure<KestrelServerOptions>(static k => k.RequestHeaderEncodingSelector = static _ => LenientUtf8);
        return services;
    }

    /// <summary>
    /// Queue notifications (docs/protocols/zaqar.md): webhooks through IHttpClientFactory with a resilience pipeline — a
    /// total timeout, a quick retry and a timeout per try — on a handler that connects only where webhooks may go; and
    /// e-mail when an SMTP host is configured. The core's dispatcher does the durable retries, and its backoff per
    /// subscription is what a circuit breaker would do (a breaker per target authority would keep one pipeline per host
    /// name any tenant ever subscribed, without bound; one for all would let one dead receiver stop every other).
    /// </summary>
    private static void AddNotifications(IServiceCollection services, DaakiaServerOptions serverOptions)
    {
        var n = serverOptions.Notifications;
        services.AddSingleton<Notifications.WebhookTargets>();
        services.AddHttpClient(Notifications.WebhookSender.ClientName)
            .ConfigurePrimaryHttpMessageHandler(sp => Notifications.WebhookSender.CreateHandler(sp.GetRequiredService<Notifications.WebhookTargets>(), n))
            .AddResilienceHandler("webhooks", b =>
            {
                var attempt = TimeSpan.FromSeconds(n.TimeoutSeconds);
                b.AddTimeout(attempt * (n.QuickRetries + 1) + TimeSpan.FromSeconds(1));
                if (n.QuickRetries > 0)
                {
                    b.AddRetry(new HttpRetryStrategyOptions
                    {
                        MaxRetryAttempts = n.QuickRetries,
                        Delay = TimeSpan.FromMilliseconds(200),
                        BackoffType = Polly.DelayBackoffType.Exponential,
                        UseJitter = true,
                    });
                }

                b.AddTimeout(attempt);
            });
        // A failed try is an expected outcome here (the outbox counts and retries it): its event is debug, not error.
        services.Configure<Polly.Telemetry.TelemetryOptions>(o => o.SeverityProvider = static e =>
            e.Event.EventName == "ExecutionAttempt" ? Polly.Telemetry.ResilienceEventSeverity.Debug : e.Event.Severity);
        services.AddSingleton<INotificationSender, Notifications.WebhookSender>();
        if (!string.IsNullOrEmpty(n.Smtp.Host))
        {
            services.AddSingleton<INotificationSender, Notifications.MailSender>();
        }
    }

    /// <summary>
    /// Takes plain WebSocket upgrades to <c>/v1/ws</c> and <c>/v1/texto</c> on this endpoint below ASP.NET Core's
    /// HTTP/1.1 layer, which would otherwise keep the upgrade request's state (~5 KiB) for the connection's life; every
    /// other request goes to ASP.NET Core as before. For a plain-HTTP endpoint (the middleware's origin check takes
    /// the request's scheme to be <c>http</c>): an endpoint without HTTP/1.1 is left alone, and a connection that TLS
    /// ahead of it decrypted is handed on.
    /// </summary>
    public static ListenOptions UseDaakiaDirectUpgrades(this ListenOptions listen)
    {
        ArgumentNullException.ThrowIfNull(listen);
        DirectUpgrade.Use(listen);
        return listen;
    }

    /// <summary>Serves MQTT (3.1.1 and 5.0) on this endpoint: every connection is an MQTT session on the core.</summary>
    public static ListenOptions UseDaakiaMqtt(this ListenOptions listen)
    {
        ArgumentNullException.ThrowIfNull(listen);
        listen.UseConnectionHandler<Mqtt.MqttConnectionHandler>();
        return listen;
    }

    /// <summary>Maps <c>/healthz</c>, <c>/metrics</c>, <c>/openapi/v1.json</c>, the WebSocket endpoints and the REST API.</summary>
    public static WebApplication MapDaakia(this WebApplication app)
    {
        // Errors that routing, binding or a bare status produce without a body (404, 405, 415, …) get one. The
        // WebSocket endpoints answer every refusal with a body themselves and catch their sessions' faults, and a
        // middleware that awaits the rest of the pipeline stays in memory for as long as an upgraded connection lives,
        // so they skip the exception handler, this and the HTTP metrics (an idle connection would otherwise hold five
        // such awaits, ~600 B; docs/benchmarks.md, idle connections).
        app.UseWhen(static http => !IsWebSocketPath(http.Request.Path), static branch => branch.UseExceptionHandler());
        app.UseWhen(static http => !IsWebSocketPath(http.Request.Path), static branch => branch.UseStatusCodePages(static context =>
        {
            var http = context.HttpContext;
            var status = http.Response.StatusCode;
            return RestProblem.WriteAsync(http, status, ErrorCodes.ForHttpStatus(status), RestProblem.Detail(http, status));
        }));
        var edge = app.Services.GetRequiredService<EdgePolicy>();
        app.Use(edge.FilterHostAsync);
        app.UseWebSockets();
        app.UseWhen(static http => !IsWebSocketPath(http.Request.Path), static branch => branch.UseHttpMetrics());
        app.MapMethods("/healthz", RestApi.GetAndHead, (DaakiaEngine engine, IDaakiaStore store, IHostApplicationLifetime lifetime) =>
            {
                // A faulted store first: it does not heal by itself, and the reason is what an operator needs.
                if (store is IStoreHealth { IsHealthy: false } health)
                {
                    return JsonResult.Write(StatusCodes.Status503ServiceUnavailable, health.Fault ?? "unknown", static (w, fault) =>
                    {
                        w.WriteStartObject();
                        w.WriteString("status"u8, "faulted"u8);
                        w.WriteString("reason"u8, fault);
                        w.WriteEndObject();
                    });
                }

                return lifetime.ApplicationStarted.IsCancellationRequested && engine.IsAccepting
                    ? Results.Text("ok\n")
                    : Results.Text("draining\n", statusCode: StatusCodes.Status503ServiceUnavailable);
            })
            .WithName("Health")
            .WithSummary("200 once every listener is up and the store is open; 503 while starting or draining, and 503 with a JSON reason once the store has faulted.");
        // prometheus-net listens to every System.Diagnostics.Metrics meter by default. Kestrel's memory pool records a
        // measurement on every buffer rented and returned (several per frame), which through the adapter cost ~9 % of
        // the server's CPU under load (docs/benchmarks.md) while exporting nothing we document; only the meters
        // /metrics shows are listened to. Takes effect at the first scrape, which starts the adapter.
        // A histogram's buckets are the ones its instrument advises (the store's commit duration: 0.1 ms to 0.5 s).
        Metrics.ConfigureMeterAdapter(static o =>
        {
            o.InstrumentFilterPredicate = static i => IsExportedMeter(i.Meter.Name);
            o.ResolveHistogramBuckets = static i => i is System.Diagnostics.Metrics.Histogram<double> { Advice.HistogramBucketBoundaries: { } advised }
                ? [.. advised]
                : MeterAdapterOptions.DefaultHistogramBuckets;
        });
        app.MapMetrics("/metrics");
        app.MapOpenApi("/openapi/{documentName}.json");
        app.Map(JsonApiPath, (HttpContext ctx, WebSocketSessionFactory sessions) => sessions.RunJsonApiAsync(ctx)).ExcludeFromDescription();
        app.Map(TextoPath, (HttpContext ctx, WebSocketSessionFactory sessions) => sessions.RunTextoAsync(ctx)).ExcludeFromDescription();
        app.Map(Mqtt.MqttWebSocketEndpoint.Path, (HttpContext ctx, Mqtt.MqttWebSocketEndpoint mqtt) => mqtt.RunAsync(ctx)).ExcludeFromDescription();
        app.MapDaakiaRest();
        Zaqar.ZaqarApi.MapZaqar(app);
        app.Map(Zaqar.ZaqarWebSocket.Path, (HttpContext ctx, DaakiaEngine engine, DaakiaServerOptions options, Notifications.WebhookTargets targets) => Zaqar.ZaqarWebSocket.RunAsync(ctx, engine, options, targets)).ExcludeFromDescription();
        return app;
    }

    /// <summary>The meters <c>/metrics</c> exports (docs/operations.md): Daakia's own and the .NET runtime's.</summary>
    internal static bool IsExportedMeter(string name) =>
        name is "Daakia" or "System.Runtime" || name.StartsWith("Daakia.", StringComparison.Ordinal);

    // Routing matches paths ignoring case and a trailing slash; so does this.
    private static bool IsWebSocketPath(PathString path)
    {
        var value = path.Value.AsSpan();
        value = value.EndsWith('/') ? value[..^1] : value;
        return value.Equals(JsonApiPath, StringComparison.OrdinalIgnoreCase) || value.Equals(TextoPath, StringComparison.OrdinalIgnoreCase)
            || value.Equals(Mqtt.MqttWebSocketEndpoint.Path, StringComparison.OrdinalIgnoreCase);
    }
}
