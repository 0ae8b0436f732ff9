using System.IO.Pipelines;
using System.Net.WebSockets;
using Daakia.Core;
using Daakia.Server.Hosting;
using Daakia.Server.Http;
using Daakia.Server.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.Mqtt;

/// <summary>
/// MQTT over WebSocket at <c>/mqtt</c> on the HTTP port (subprotocol <c>mqtt</c>, binary frames): the same
/// <see cref="MqttSession"/> as TCP, over a pipe pair that carries the frames' bytes. A frame may hold part of a packet
/// or several (MQTT-6.0.0-2/3); text frames end the connection (MQTT-6.0.0-1).
/// </summary>
internal sealed class MqttWebSocketEndpoint(DaakiaEngine engine, TenantResolver tenants, DaakiaServerOptions options, MqttSessionRegistry registry,
    EdgePolicy edge, ConnectionTracker tracker, ILogger<MqttSession> logger)
{
    public const string Path = "/mqtt";

    public async Task RunAsync(HttpContext http)
    {
        if (!WebSocketHandshake.IsUpgradeRequest(http))
        {
            await RestProblem.WriteAsync(http, StatusCodes.Status400BadRequest, ErrorCodes.InvalidArgument,
                "A WebSocket upgrade with the subprotocol 'mqtt' is required here (MQTT-6.0.0-3).");
            return;
        }

        var origins = http.Request.Headers.Origin;
        if (origins.Count > 1 || !edge.IsAllowedOrigin(http.Request, origins.Count == 1 ? origins[0] ?? "" : null))
        {
            await RestProblem.WriteAsync(http, StatusCodes.Status403Forbidden, ErrorCodes.Forbidden,
                "A page from this origin may not open a WebSocket here: only this server's own origin and the origins in Daakia:AllowedOrigins may.");
            return;
        }

        if (!engine.IsAccepting)
        {
            http.Response.Headers.RetryAfter = "1";
            await RestProblem.WriteAsync(http, StatusCodes.Status503ServiceUnavailable, ErrorCodes.Unavailable, "The server is draining; connect again (elsewhere) shortly.");
            return;
        }

        // The client names 'mqtt' (MQTT-6.0.0-3); one that names none is served too, one that names only others is not.
        var requested = http.WebSockets.WebSocketRequestedProtocols;
        if (requested.Count > 0 && !requested.Contains("mqtt", StringComparer.OrdinalIgnoreCase))
        {
            await RestProblem.WriteAsync(http, StatusCodes.Status400BadRequest, ErrorCodes.InvalidArgument,
                $"The subprotocol must be 'mqtt' (asked for: {RestRequest.Excerpt(string.Join(", ", requested))}).");
            return;
        }

        using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { SubProtocol = requested.Count > 0 ? "mqtt" : null });
        tracker.Enter();
        try
        {
            await RunSessionAsync(socket, http.Connection.RemoteIpAddress is { } ip ? $"{ip}:{http.Connection.RemotePort}" : null, http.RequestAborted);
        }
        finally
        {
            tracker.Exit();
        }
    }

    private async Task RunSessionAsync(WebSocket socket, string? remote, CancellationToken aborted)
    {
        var mqtt = options.Mqtt;
        // Bounded in bytes: a whole packet (up to MaxPacketSize) must fit before the session can take it.
        var limit = mqtt.MaxPacketSize + 65_536L;
        var input = new Pipe(new PipeOptions(pauseWriterThreshold: limit, resumeWriterThreshold: limit / 2, useSynchronizationContext: false));
        var output = new Pipe(new PipeOptions(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, useSynchronizationContext: false));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        // The session's abort ends the connection: here the pumps stop a moment later, so what it wrote last still leaves.
        var session = new MqttSession(engine, tenants, mqtt, registry, logger, new Transport(input.Reader, output.Writer), remote,
            () => stop.CancelAfter(TimeSpan.FromSeconds(2)));
        var receiving = ReceiveAsync(socket, input.Writer, stop.Token);
        var sending = SendAsync(socket, output.Reader, stop.Token);
        await session.RunAsync(stop.Token);
        await output.Writer.CompleteAsync();
        await sending; // what the session wrote last (a DISCONNECT, a CONNACK with a refusal) leaves first (bounded: stop)
        await stop.CancelAsync();
        await receiving;
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // The peer is gone.
        }
    }

    private static async Task ReceiveAsync(WebSocket socket, PipeWriter input, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(input.GetMemory(8192), cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                if (result.MessageType == WebSocketMessageType.Text)
                {
                    // MQTT is carried in binary frames only (MQTT-6.0.0-1).
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                    await socket.CloseOutputAsync(WebSocketCloseStatus.InvalidMessageType, "MQTT needs binary frames", timeout.Token);
                    break;
                }

                input.Advance(result.Count);
                var flush = await input.FlushAsync(cancellationToken); // waits while the session has a whole limit unread
                if (flush.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The connection ended.
        }
        finally
        {
            await input.CompleteAsync();
        }
    }

    private static async Task SendAsync(WebSocket socket, PipeReader output, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var read = await output.ReadAsync(cancellationToken);
                var buffer = read.Buffer;
                foreach (var segment in buffer)
                {
                    await socket.SendAsync(segment, WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);
                }

                output.AdvanceTo(buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The connection ended.
        }
        finally
        {
            await output.CompleteAsync();
        }
    }

    private sealed class Transport(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
