using Microsoft.Extensions.Logging;

namespace Daakia.Server.Http;

/// <summary>
/// Log events of the HTTP edge (REST and the WebSocket upgrade), category <c>Daakia.Http</c>. A client's fault is Debug
/// (a hostile or broken client must not be able to fill the error log); only the server's own faults are Error.
/// </summary>
internal static partial class RestLog
{
    public const string Category = "Daakia.Http";

    [LoggerMessage(5000, LogLevel.Debug, "Bad request {Method} {Path}: {Status} {Message}", EventName = "BadRequest")]
    public static partial void BadRequest(ILogger logger, string method, string path, int status, string message);

    [LoggerMessage(5001, LogLevel.Debug, "Request {Method} {Path} ended by the client: {Message}", EventName = "RequestAborted")]
    public static partial void Aborted(ILogger logger, string method, string path, string message);

    [LoggerMessage(5002, LogLevel.Error, "Request {Method} {Path} failed", EventName = "RequestFailed")]
    public static partial void Failed(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(5003, LogLevel.Debug, "Refused Host '{Host}' (not an allowed host: DNS rebinding protection)", EventName = "HostRefused")]
    public static partial void HostRefused(ILogger logger, string host);

    [LoggerMessage(5004, LogLevel.Debug, "Refused a WebSocket upgrade from Origin '{Origin}'", EventName = "OriginRefused")]
    public static partial void OriginRefused(ILogger logger, string origin);

    [LoggerMessage(5005, LogLevel.Debug, "Inbox read refused: {Reserved} bytes of page reads in progress, at most {Budget} (MaxConcurrentReadBytes)", EventName = "ReadBudgetSpent")]
    public static partial void ReadBudgetSpent(ILogger logger, long reserved, long budget);
}
