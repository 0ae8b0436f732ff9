using Daakia.Core;
using Daakia.Server.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.WebSockets;

/// <summary>Accepts WebSocket upgrades on <c>/v1/ws</c> and <c>/v1/texto</c> and runs a session for each.</summary>
public sealed class WebSocketSessionFactory : IDisposable
{
    private readonly SessionContext _context;
    private readonly ConnectionTracker _tracker;

    public WebSocketSessionFactory(DaakiaEngine engine, DaakiaServerOptions options, TimeProvider time, TenantResolver tenants, ConnectionTracker tracker, ILoggerFactory loggers)
    {
        _context = new SessionContext(engine, options, time, tenants, loggers.CreateLogger("Daakia.WebSockets"), new SessionMetrics(), new TextoResumeSecrets(options.TextoResumeKey));
        _tracker = tracker;
    }

    /// <summary>The sessions' counters (tests read them per host; the meter is process-wide).</summary>
    internal SessionMetrics Metrics => _context.Metrics;

    /// <summary>texto's resume secrets (tests make them the way a client gets them).</summary>
    internal TextoResumeSecrets ResumeSecrets => _context.ResumeSecrets;

    public void Dispose() => _context.Metrics.Dispose();

    public Task RunJsonApiAsync(HttpContext http) => RunAsync(http, static (socket, context) => new JsonApiSession(socket, context));

    public Task RunTextoAsync(HttpContext http) => RunAsync(http, static (socket, context) => new TextoSession(socket, context));

    private async Task RunAsync(HttpContext http, Func<System.Net.WebSockets.WebSocket, SessionContext, WebSocketSession> create)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            await http.Response.WriteAsJsonAsync(new { type = "https://daakia.dev/errors/invalid_argument", title = "WebSocket upgrade required", status = 400, code = ErrorCodes.InvalidArgument });
            return;
        }

        if (!_context.Engine.IsAccepting)
        {
            http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        var (socket, stream) = await WebSocketHandshake.AcceptAsync(http);
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
