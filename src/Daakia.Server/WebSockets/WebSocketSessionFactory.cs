using Daakia.Core;
using Daakia.Server.Hosting;
using Daakia.Server.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.WebSockets;

/// <summary>Accepts WebSocket upgrades on <c>/v1/ws</c> and <c>/v1/texto</c> and runs a session for each.</summary>
public sealed class WebSocketSessionFactory : IDisposable
{
    private readonly SessionContext _context;
    private readonly ConnectionTracker _tracker;
    private readonly EdgePolicy _edge;

    public WebSocketSessionFactory(DaakiaEngine engine, DaakiaServerOptions options, TimeProvider time, TenantResolver tenants, ConnectionTracker tracker, EdgePolicy edge, ILoggerFactory loggers)
    {
        _context = new SessionContext(engine, options, time, tenants, loggers.CreateLogger("Daakia.WebSockets"), new SessionMetrics(), new TextoResumeSecrets(options.TextoResumeKey));
        _tracker = tracker;
        _edge = edge;
    }

    /// <summary>The sessions' counters (tests read them per host; the meter is process-wide).</summary>
    internal SessionMetrics Metrics => _context.Metrics;

    /// <summary>The sessions' logger (the upgrade below ASP.NET Core logs there too).</summary>
    internal ILogger Logger => _context.Logger;

    /// <summary>texto's resume secrets (tests make them the way a client gets them).</summary>
    internal TextoResumeSecrets ResumeSecrets => _context.ResumeSecrets;

    public void Dispose() => _context.Metrics.Dispose();

    public Task RunJsonApiAsync(HttpContext http) => RunAsync(http, static (socket, context) => new JsonApiSession(socket, context));

    public Task RunTextoAsync(HttpContext http) => RunAsync(http, static (socket, context) => new TextoSession(socket, context));

    private async Task RunAsync(HttpContext http, Func<System.Net.WebSockets.WebSocket, SessionContext, WebSocketSession> create)
    {
        if (!WebSocketHandshake.IsUpgradeRequest(http))
        {
            await RestProblem.WriteAsync(http, StatusCodes.Status400BadRequest, ErrorCodes.InvalidArgument,
                "A WebSocket upgrade is required here: GET with Connection: Upgrade, Upgrade: websocket and Sec-WebSocket-Version: 13 (RFC 6455 §4.1).");
            return;
        }

        // A browser always sends Origin with a WebSocket handshake and never lets a page forge it (RFC 6455 §10.2).
        var origins = http.Request.Headers.Origin;
        if (origins.Count > 1 || !_edge.IsAllowedOrigin(http.Request, origins.Count == 1 ? origins[0] ?? "" : null))
        {
            await RestProblem.WriteAsync(http, StatusCodes.Status403Forbidden, ErrorCodes.Forbidden,
                $"A page from '{RestRequest.Excerpt(origins.ToString())}' may not open a WebSocket here: only this server's own origin{(_edge.LoopbackOnly ? ", loopback origins" : "")} and the origins in Daakia:AllowedOrigins may.");
            return;
        }

        if (!_context.Engine.IsAccepting)
        {
            http.Response.Headers.RetryAfter = "1";
            await RestProblem.WriteAsync(http, StatusCodes.Status503ServiceUnavailable, ErrorCodes.Unavailable, "The server is draining; connect again (elsewhere) shortly.");
            return;
        }

        System.Net.WebSockets.WebSocket socket;
        CoalescingStream? stream;
        try
        {
            (socket, stream) = await WebSocketHandshake.AcceptAsync(http);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && !http.Response.HasStarted)
        {
            // These paths skip the exception handler middleware (it would stay awaited for the connection's life): a
            // fault before the upgrade is answered as that handler answers any other.
            SessionLog.UpgradeFailed(_context.Logger, ex);
            await RestProblem.WriteAsync(http, StatusCodes.Status500InternalServerError, ErrorCodes.Internal, "The WebSocket upgrade failed on the server.");
            return;
        }

        _context.Metrics.Upgraded(direct: false);
        await RunSessionAsync(socket, stream, create);
    }

    /// <summary>
    /// Whether an upgrade read below ASP.NET Core (<see cref="DirectUpgrade"/>) would be accepted here: the checks of
    /// <see cref="RunAsync"/> (host, origin, draining), without their refusals — a refused request is handed to
    /// ASP.NET Core, which refuses it the usual way.
    /// </summary>
    internal bool MayRunDirectly(UpgradeHead head) => _context.Engine.IsAccepting && _edge.AllowsUpgrade(head.Host, head.Origin);

    /// <summary>Runs a session on a WebSocket upgraded below ASP.NET Core.</summary>
    internal Task RunDirectAsync(bool texto, System.Net.WebSockets.WebSocket socket, CoalescingStream stream)
    {
        _context.Metrics.Upgraded(direct: true);
        return RunSessionAsync(socket, stream, texto ? static (s, c) => new TextoSession(s, c) : static (s, c) => new JsonApiSession(s, c));
    }

    private async Task RunSessionAsync(System.Net.WebSockets.WebSocket socket, CoalescingStream? stream, Func<System.Net.WebSockets.WebSocket, SessionContext, WebSocketSession> create)
    {
        using var _ = socket;
        using var __ = stream;
        _tracker.Enter();
        try
        {
            using var session = create(socket, _context);
            session.Output = stream;
            await session.RunAsync();
        }
        finally
        {
            _tracker.Exit();
        }
    }
}
