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
    private readonly RestExceptionHandler _faults;

    public WebSocketSessionFactory(DaakiaEngine engine, DaakiaServerOptions options, TimeProvider time, TenantResolver tenants, ConnectionTracker tracker, EdgePolicy edge, ILoggerFactory loggers)
    {
        _context = new SessionContext(engine, options, time, tenants, loggers.CreateLogger(SessionLog.Category), new SessionMetrics(), new TextoResumeSecrets(options.TextoResumeKey));
        _tracker = tracker;
        _edge = edge;
        _faults = new RestExceptionHandler(loggers);
    }

    /// <summary>The sessions' counters (tests read them per host; the meter is process-wide).</summary>
    internal SessionMetrics Metrics => _context.Metrics;

    /// <summary>texto's resume secrets (tests make them the way a client gets them).</summary>
    internal TextoResumeSecrets ResumeSecrets => _context.ResumeSecrets;

    public void Dispose() => _context.Metrics.Dispose();

    public Task RunJsonApiAsync(HttpContext http) => RunAsync(http, texto: false);

    public Task RunTextoAsync(HttpContext http) => RunAsync(http, texto: true);

    private async Task RunAsync(HttpContext http, bool texto)
    {
        System.Net.WebSockets.WebSocket socket;
        CoalescingStream? stream;
        try
        {
            var accepted = await AcceptAsync(http);
            if (accepted is null)
            {
                return;
            }

            (socket, stream) = accepted.Value;
        }
        catch (UpgradeLimitException full)
        {
            http.Response.Headers.RetryAfter = "1";
            await RestProblem.WriteAsync(http, StatusCodes.Status503ServiceUnavailable, ErrorCodes.Unavailable, full.Message + " Connect again (elsewhere) shortly.");
            return;
        }
#pragma warning disable CA1031 // The WebSocket paths skip UseExceptionHandler (its await would live as long as the connection): its handler answers here.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            await _faults.TryHandleAsync(http, ex, http.RequestAborted);
            return;
        }

        _context.Metrics.Upgraded(texto, direct: false);
        await RunSessionAsync(socket, stream, texto);
    }

    // The checks and refusals before a session, and the handshake; null when the request was refused.
    private async Task<(System.Net.WebSockets.WebSocket, CoalescingStream?)?> AcceptAsync(HttpContext http)
    {
        if (!WebSocketHandshake.IsUpgradeRequest(http))
        {
            await RestProblem.WriteAsync(http, StatusCodes.Status400BadRequest, ErrorCodes.InvalidArgument,
                "A WebSocket upgrade is required here: GET with Connection: Upgrade, Upgrade: websocket and Sec-WebSocket-Version: 13 (RFC 6455 §4.1).");
            return null;
        }

        // A browser always sends Origin with a WebSocket handshake and never lets a page forge it (RFC 6455 §10.2).
        var origins = http.Request.Headers.Origin;
        if (origins.Count > 1 || !_edge.IsAllowedOrigin(http.Request, origins.Count == 1 ? origins[0] ?? "" : null))
        {
            await RestProblem.WriteAsync(http, StatusCodes.Status403Forbidden, ErrorCodes.Forbidden,
                $"A page from '{RestRequest.Excerpt(origins.ToString())}' may not open a WebSocket here: only this server's own origin{(_edge.LoopbackOnly ? ", loopback origins" : "")} and the origins in Daakia:AllowedOrigins may.");
            return null;
        }

        if (!_context.Engine.IsAccepting)
        {
            http.Response.Headers.RetryAfter = "1";
            await RestProblem.WriteAsync(http, StatusCodes.Status503ServiceUnavailable, ErrorCodes.Unavailable, "The server is draining; connect again (elsewhere) shortly.");
            return null;
        }

        return await WebSocketHandshake.AcceptAsync(http);
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
        _context.Metrics.Upgraded(texto, direct: true);
        return RunSessionAsync(socket, stream, texto);
    }

    private async Task RunSessionAsync(System.Net.WebSockets.WebSocket socket, CoalescingStream? stream, bool texto)
    {
        using var _ = socket;
        using var __ = stream;
        _tracker.Enter();
        try
        {
            using WebSocketSession session = texto ? new TextoSession(socket, _context) : new JsonApiSession(socket, _context);
            session.Output = stream;
            await session.RunAsync();
        }
        finally
        {
            _tracker.Exit();
        }
    }
}
