using System.Net.WebSockets;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.WebSockets;

/// <summary>WebSocket session log events (ids 3000-3099). Client misbehaviour is logged at Debug.</summary>
internal static partial class SessionLog
{
    public const string Category = "Daakia.WebSockets";

    [LoggerMessage(3000, LogLevel.Debug, "WebSocket transport error {Code}: {Message}", EventName = "TransportError")]
    public static partial void TransportError(ILogger logger, WebSocketError code, string message);

    [LoggerMessage(3001, LogLevel.Error, "WebSocket session failed", EventName = "SessionFailed")]
    public static partial void SessionFailed(ILogger logger, Exception exception);

    [LoggerMessage(3002, LogLevel.Debug, "Rejected request: {Code} {Description}", EventName = "RequestRejected")]
    public static partial void RequestRejected(ILogger logger, string code, string description);

    [LoggerMessage(3003, LogLevel.Error, "Request {Type} failed unexpectedly", EventName = "WebSocketRequestFailed")]
    public static partial void RequestFailed(ILogger logger, Exception exception, string type);

    /// <summary>The server closes a connection for a reason of its own (not a plain bye): worth a line, not an alarm.</summary>
    [LoggerMessage(3004, LogLevel.Information, "Closing {Protocol} connection: {Status} {Reason}", EventName = "ClosingSession")]
    public static partial void Closing(ILogger logger, string protocol, int status, string reason);

    [LoggerMessage(3005, LogLevel.Error, "A {Protocol} connection could not encode {What}; closing it with 1011", EventName = "FrameUnencodable")]
    public static partial void FrameUnencodable(ILogger logger, Exception exception, string protocol, string what);

    [LoggerMessage(3006, LogLevel.Error, "The writer of a {Protocol} connection failed; closing it", EventName = "WriterFailed")]
    public static partial void WriterFailed(ILogger logger, Exception exception, string protocol);

    [LoggerMessage(3007, LogLevel.Debug, "{Protocol} session ended: {End}", EventName = "SessionClosed")]
    public static partial void SessionClosed(ILogger logger, string protocol, SessionEnd end);

    // 3008 (UpgradeFailed) is retired: a fault before a session is logged and answered as the exception handler does
    // it (Daakia.Http RequestFailed or BadRequest).

    [LoggerMessage(3009, LogLevel.Debug, "Connection {ConnectionId} was ended by the client before its first request was answered: {Reason}", EventName = "EndedBeforeRequest")]
    public static partial void EndedBeforeRequest(ILogger logger, string connectionId, string reason);

    [LoggerMessage(3010, LogLevel.Debug, "Connection {ConnectionId} sent no request before its keep-alive timeout, the server's shutdown or its abort; closed", EventName = "NoRequest")]
    public static partial void NoRequest(ILogger logger, string connectionId);

    [LoggerMessage(3011, LogLevel.Debug, "Connection {ConnectionId}: the first request is left to ASP.NET Core ({Reason})", EventName = "UpgradeLeftToAspNetCore")]
    public static partial void UpgradeLeftToAspNetCore(ILogger logger, string connectionId, string reason);
}
