using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Daakia.Server.WebSockets;

/// <summary>
/// A Kestrel connection middleware that takes a connection whose first request is a plain WebSocket upgrade to
/// <c>/v1/ws</c> or <c>/v1/texto</c> (<see cref="UpgradeHead"/>) that would be accepted — allowed host and origin, the
/// server accepting — and runs its session straight on the connection's pipes. ASP.NET Core's HTTP/1.1 layer keeps a
/// request's whole state (connection, headers, context, output producer, timeouts, their awaits: about 5 KiB) for as
/// long as an upgraded connection lives; here a connection holds the session and the transport only. Every other
/// connection, and every request it does not take (refusals included), goes on to ASP.NET Core unread, which answers
/// it exactly as before.
/// </summary>
internal static class DirectUpgrade
{
    // How long a new connection may take to send its first bytes before it is handed on (ASP.NET Core then applies
    // its own keep-alive and request-headers timeouts).
    private static readonly TimeSpan FirstBytesTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Adds the middleware to an endpoint (ahead of ASP.NET Core's HTTP handling) that serves HTTP/1.1. On a TLS
    /// endpoint it sees the TLS handshake's bytes, which never start such a request, and hands every connection on.
    /// </summary>
    /// <remarks>
    /// Registered as Kestrel's endpoint defaults (<c>ConfigureEndpointDefaults</c>), which apply to every endpoint the
    /// host adds; a later <c>ConfigureEndpointDefaults</c> of the host's would replace it (the fast path is then off and
    /// every upgrade goes through ASP.NET Core, correct but without the saving). A non-HTTP listener (MQTT over TCP)
    /// must be added with its own connection handler, where the first bytes never match and are handed on.
    /// </remarks>
    public static void Use(ListenOptions listen)
    {
        if ((listen.Protocols & HttpProtocols.Http1) == 0)
        {
            return;
        }

        listen.Use(next =>
        {
            WebSocketSessionFactory? sessions = null;
            KestrelServerLimits? limits = null;
            return connection => RunAsync(
                connection,
                next,
                sessions ??= listen.ApplicationServices.GetRequiredService<WebSocketSessionFactory>(),
                limits ??= listen.ApplicationServices.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits);
        });
    }

    private static async Task RunAsync(ConnectionContext connection, ConnectionDelegate next, WebSocketSessionFactory sessions, KestrelServerLimits limits)
    {
        var input = connection.Transport.Input;
        ReadResult result;
        var closing = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? CancellationToken.None;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(closing, connection.ConnectionClosed))
        {
            timeout.CancelAfter(FirstBytesTimeout);
            try
            {
                result = await input.ReadAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (closing.IsCancellationRequested || connection.ConnectionClosed.IsCancellationRequested)
            {
                // The server is stopping (or the client went) before a request arrived: nothing to answer.
                return;
            }
            catch (OperationCanceledException)
            {
                await next(connection);
                return;
            }
            catch (Exception ex) when (ex is IOException or ConnectionResetException or ConnectionAbortedException)
            {
                SessionLog.EndedBeforeRequest(sessions.Logger, ex.Message);
                return;
            }
        }

        // Only a head that arrived whole in the first read is taken (clients send it in one piece); a partial one is
        // handed on, with the bytes unread, as is anything that is not such a request. Where Kestrel's limits are
        // lowered below what a head may be, or one it would refuse, it is handed on too (and answered as Kestrel does).
        var data = result.Buffer;
        UpgradeHead head = default;
        bool direct;
        try
        {
            direct = !result.IsCanceled
                && limits.MaxConcurrentUpgradedConnections is null
                && TryRead(data, limits, out head)
                && sessions.MayRunDirectly(head);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Whatever this path cannot judge, ASP.NET Core judges as it always has.
            direct = false;
        }

        if (!direct)
        {
            input.AdvanceTo(data.Start);
            await next(connection);
            return;
        }

        // The bytes after the head (frames the client sent at once) stay in the pipe for the WebSocket.
        input.AdvanceTo(data.GetPosition(head.Length));
        var output = connection.Transport.Output;
        try
        {
            var flush = await output.WriteAsync(Encoding.ASCII.GetBytes(
                $"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {WebSocketHandshake.Accept(head.Key)}\r\n\r\n"));
            if (flush.IsCompleted)
            {
                return;
            }
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or ConnectionAbortedException)
        {
            SessionLog.EndedBeforeRequest(sessions.Logger, ex.Message);
            return;
        }

        var stream = new CoalescingStream(new TransportStream(connection.Transport));
        // No keep-alive timer per connection: Daakia's own heartbeats (one timer for all) decide liveness.
        var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
        // When it ends, Kestrel completes the pipes and sends what is still queued (a close frame a slow reader has
        // not taken yet, say), as it does after an upgraded request.
        await sessions.RunDirectAsync(head.Texto, socket, stream);
    }

    private static bool TryRead(ReadOnlySequence<byte> data, KestrelServerLimits limits, out UpgradeHead head)
    {
        head = default;
        var maxLength = Math.Min(UpgradeHead.MaxLength, limits.MaxRequestHeadersTotalSize);
        if (data.IsSingleSegment)
        {
            return UpgradeHead.MayBe(data.FirstSpan) && UpgradeHead.TryParse(data.FirstSpan, maxLength, limits.MaxRequestHeaderCount, out head);
        }

        var length = (int)Math.Min(data.Length, maxLength);
        var copy = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            data.Slice(0, length).CopyTo(copy);
            var span = copy.AsSpan(0, length);
            return UpgradeHead.MayBe(span) && UpgradeHead.TryParse(span, maxLength, limits.MaxRequestHeaderCount, out head);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }
}
