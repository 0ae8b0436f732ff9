using System.Net.WebSockets;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.WebSockets;

/// <summary>WebSocket session log events (ids 3000-3099). Client misbehaviour is logged at Debug.</summary>
internal static partial class SessionLog
{
    [LoggerMessage(3000, LogLevel.Debug, "WebSocket transport error {Code}: {Message}", EventName = "TransportError")]
    public static partial void TransportError(ILogger logger, WebSocketError code, string message);

    [LoggerMessage(3001, LogLevel.Error, "WebSocket session failed", EventName = "SessionFailed")]
    public static partial void SessionFailed(ILogger logger, Exception exception);

    [LoggerMessage(3002, LogLevel.Debug, "Rejected request: {Code} {Description}", EventName = "RequestRejected")]
    public static partial void RequestRejected(ILogger logger, string code, string description);

    [LoggerMessage(3003, LogLevel.Error, "Request {Type} failed unexpectedly", EventName = "RequestFailed")]
    public static partial void RequestFailed(ILogger logger, Exception exception, string type);
}
