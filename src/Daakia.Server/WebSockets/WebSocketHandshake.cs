using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Daakia.Server.WebSockets;

/// <summary>
/// The RFC 6455 §4.2 server handshake over Kestrel's upgrade feature, so the session can own the stream under the
/// WebSocket (to coalesce writes). Anything this does not handle falls back to ASP.NET Core's accept.
/// </summary>
internal static class WebSocketHandshake
{
    private static ReadOnlySpan<byte> Magic => "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8;

    /// <summary>
    /// RFC 6455 §4.2.1: a GET whose <c>Upgrade</c> names <c>websocket</c> and whose <c>Connection</c> names
    /// <c>Upgrade</c> (each a comma-separated token list, compared ignoring case), with version 13.
    /// </summary>
    public static bool IsUpgradeRequest(HttpContext http)
    {
        var headers = http.Request.Headers;
        return http.WebSockets.IsWebSocketRequest
            && HttpMethods.IsGet(http.Request.Method)
            && HasToken(headers.Upgrade, "websocket")
            && HasToken(headers.Connection, "upgrade")
            && headers.SecWebSocketVersion.ToString() == "13";
    }

    public static async Task<(WebSocket Socket, CoalescingStream? Stream)> AcceptAsync(HttpContext http)
    {
        if (!IsUpgradeRequest(http))
        {
            throw new InvalidOperationException("Not a WebSocket upgrade request; check IsUpgradeRequest first.");
        }

        var upgrade = http.Features.Get<IHttpUpgradeFeature>();
        var key = http.Request.Headers.SecWebSocketKey.ToString();
        if (upgrade is null || !upgrade.IsUpgradableRequest || !IsValidKey(key))
        {
            return (await http.WebSockets.AcceptWebSocketAsync(), null);
        }

        http.Response.Headers.Connection = "Upgrade";
        http.Response.Headers.Upgrade = "websocket";
        http.Response.Headers.SecWebSocketAccept = Accept(key);
        Stream opaque;
        try
        {
            opaque = await upgrade.UpgradeAsync();
        }
        catch (InvalidOperationException) when (!http.Response.HasStarted)
        {
            // The request was upgradable (checked above), so Kestrel refused it for its limit on upgraded connections
            // (KestrelServerLimits.MaxConcurrentUpgradedConnections): a full server, not a fault.
            http.Response.Headers.Connection = default;
            http.Response.Headers.Upgrade = default;
            http.Response.Headers.SecWebSocketAccept = default;
            throw new UpgradeLimitException();
        }

        var stream = new CoalescingStream(opaque);
        // No keep-alive timer per connection: Daakia's own heartbeats (one timer for all) decide liveness.
        var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
        return (socket, stream);
    }

    /// <summary>Sec-WebSocket-Accept: base64(SHA-1(key + the RFC's GUID)).</summary>
    public static string Accept(string key)
    {
        Span<byte> input = stackalloc byte[24 + 36];
        var written = Encoding.ASCII.GetBytes(key, input);
        Magic.CopyTo(input[written..]);
        Span<byte> hash = stackalloc byte[20];
#pragma warning disable CA5350 // RFC 6455 mandates SHA-1 for the accept value; it is not used for security.
        SHA1.HashData(input[..(written + 36)], hash);
#pragma warning restore CA5350
        return Convert.ToBase64String(hash);
    }

    private static bool HasToken(Microsoft.Extensions.Primitives.StringValues values, string token)
    {
        foreach (var value in values)
        {
            foreach (var part in (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (part.Equals(token, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool IsValidKey(string key)
    {
        Span<byte> decoded = stackalloc byte[16];
        return key.Length == 24 && Convert.TryFromBase64String(key, decoded, out var n) && n == 16;
    }
}

/// <summary>Kestrel refused an upgrade for its limit on upgraded connections; answered 503.</summary>
internal sealed class UpgradeLimitException() : Exception("The server has as many WebSocket connections as it is configured to take.");
