using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Daakia.Server.WebSockets;

/// <summary>
/// A Kestrel connection middleware that takes a connection whose first request is a plain WebSocket upgrade to
/// <c>/v1/ws</c> or <c>/v1/texto</c> (<see cref="UpgradeHead"/>) that would be accepted — allowed host and origin, the
/// server accepting — and runs its session straight on the connection's pipes. ASP.NET Core's HTTP/1.1 layer keeps a
/// request's whole state (connection, headers, context, output producer, timeouts, their awaits: about 5 KiB) for as
/// long as an upgraded connection lives; here a connection holds the session and the transport only. Every other
/// connection, and every request it does not take (refusals included, and anything it fails to read), goes on to
/// ASP.NET Core unread, which answers it exactly as before.
/// </summary>
internal static class DirectUpgrade
{
    /// <summary>
    /// Adds the middleware to a plain-HTTP endpoint, ahead of ASP.NET Core's HTTP handling. It is built when the
    /// endpoint binds: an endpoint without HTTP/1.1 gets none, and neither does a server that limits upgraded
    /// connections (<c>MaxConcurrentUpgradedConnections</c>: Kestrel counts only the upgrades it makes itself, so they
    /// all go its way).
    /// </summary>
    public static void Use(ListenOptions listen) => listen.Use(next =>
    {
        var services = listen.ApplicationServices;
        var limits = services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;
        if ((listen.Protocols & HttpProtocols.Http1) == 0 || limits.MaxConcurrentUpgradedConnections is not null)
        {
            return next;
        }

        var state = new State(next, HeadLimits.Of(limits), limits.KeepAliveTimeout, services.GetRequiredService<ILoggerFactory>().CreateLogger(SessionLog.Category));
        return connection => RunAsync(connection, state, services);
    });

    private static async Task RunAsync(ConnectionContext connection, State state, IServiceProvider services)
    {
        // The 101 and the origin check assume plain http (the endpoints this is added to); a connection that a TLS
        // middleware ahead of this one decrypted goes the general way.
        if (connection.Features.Get<ITlsHandshakeFeature>() is not null)
        {
            await state.Next(connection);
            return;
        }

        // The handshake runs in its own method: what it reads (the head, the read's buffers) is not kept for the
        // connection's life by this one's awaits.
        var outcome = await HandshakeAsync(connection, state, services);
        if (outcome == Outcome.HandedOn)
        {
            await state.Next(connection);
            return;
        }

        if (outcome == Outcome.Ended)
        {
            return;
        }

        var stream = new CoalescingStream(new TransportStream(connection.Transport));
        // No keep-alive timer per connection: Daakia's own heartbeats (one timer for all) decide liveness.
        var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
        try
        {
            // When it ends, Kestrel completes the pipes and sends what is still queued (a close frame a slow reader
            // has not taken yet, say), as it does after an upgraded request.
            await state.Sessions!.RunDirectAsync(outcome == Outcome.Texto, socket, stream);
        }
        catch (Exception ex) when (IsClientEnd(ex))
        {
            SessionLog.TransportError(state.Logger, WebSocketError.ConnectionClosedPrematurely, ex.Message);
        }
    }

    /// <summary>Reads the first bytes and, when they are a head to take, answers 101.</summary>
    private static async Task<Outcome> HandshakeAsync(ConnectionContext connection, State state, IServiceProvider services)
    {
        var input = connection.Transport.Input;
        ReadResult result;
        try
        {
            // Until the first bytes come, the connection ends as Kestrel ends one that sends no request: at its
            // keep-alive timeout, or at once when the server asks it to close (shutting down) or the connection is
            // aborted.
            var closing = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(closing, connection.ConnectionClosed);
            wait.CancelAfter(state.FirstBytesTimeout);
            try
            {
                result = await input.ReadAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                SessionLog.NoRequest(state.Logger, connection.ConnectionId);
                return Outcome.Ended;
            }
        }
        catch (Exception ex) when (IsClientEnd(ex))
        {
            SessionLog.EndedBeforeRequest(state.Logger, connection.ConnectionId, ex.Message);
            return Outcome.Ended;
        }

        // Only a head that arrived whole in the first read is taken (clients send it in one piece); a partial one is
        // handed on, with the bytes unread, as is anything that is not such a request or that fails to be read.
        var data = result.Buffer;
        var sessions = state.Sessions ??= services.GetRequiredService<WebSocketSessionFactory>();
        var head = default(UpgradeHead);
        bool take;
        try
        {
            take = !result.IsCanceled && TryRead(data, state.Limits, out head) && sessions.MayRunDirectly(head);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Anything the fast path cannot read is ASP.NET Core's to answer, as it would be without it.
            SessionLog.UpgradeLeftToAspNetCore(state.Logger, connection.ConnectionId, ex.Message);
            take = false;
        }

        if (!take)
        {
            input.AdvanceTo(data.Start);
            return Outcome.HandedOn;
        }

        try
        {
            // The bytes after the head (frames the client sent at once) stay in the pipe for the WebSocket.
            input.AdvanceTo(data.GetPosition(head.Length));
            var flush = await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes(
                $"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nDate: {DateTimeOffset.UtcNow.ToString("r", CultureInfo.InvariantCulture)}\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {WebSocketHandshake.Accept(head.Key)}\r\n\r\n"));
            return flush.IsCompleted ? Outcome.Ended : head.Texto ? Outcome.Texto : Outcome.JsonApi;
        }
        catch (Exception ex) when (IsClientEnd(ex))
        {
            SessionLog.EndedBeforeRequest(state.Logger, connection.ConnectionId, ex.Message);
            return Outcome.Ended;
        }
    }

    // A reset or abort of the client's making (ConnectionResetException is an IOException).
    private static bool IsClientEnd(Exception ex) => ex is IOException or ConnectionAbortedException;

    private static bool TryRead(ReadOnlySequence<byte> data, HeadLimits limits, out UpgradeHead head)
    {
        head = default;
        if (data.IsSingleSegment)
        {
            return UpgradeHead.MayBe(data.FirstSpan) && UpgradeHead.TryParse(data.FirstSpan, limits, out head);
        }

        var length = (int)Math.Min(data.Length, UpgradeHead.MaxLength);
        var copy = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            data.Slice(0, length).CopyTo(copy);
            var span = copy.AsSpan(0, length);
            return UpgradeHead.MayBe(span) && UpgradeHead.TryParse(span, limits, out head);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    private enum Outcome
    {
        Ended,
        HandedOn,
        JsonApi,
        Texto,
    }

    private sealed class State(ConnectionDelegate next, HeadLimits limits, TimeSpan firstBytesTimeout, ILogger logger)
    {
        public ConnectionDelegate Next { get; } = next;

        public HeadLimits Limits { get; } = limits;

        public TimeSpan FirstBytesTimeout { get; } = firstBytesTimeout;

        public ILogger Logger { get; } = logger;

        public WebSocketSessionFactory? Sessions { get; set; }
    }
}
