using Microsoft.Extensions.Logging;

namespace Daakia.Core;

/// <summary>The core's log events (ids 1000-1099).</summary>
internal static partial class EngineLog
{
    [LoggerMessage(1000, LogLevel.Debug, "Client {Tenant}/{Client} connected over {Protocol} as connection {ConnectionId}", EventName = "Connected")]
    public static partial void Connected(ILogger logger, TenantId tenant, ClientId client, string protocol, ConnectionId connectionId);

    [LoggerMessage(1001, LogLevel.Debug, "Client {Tenant}/{Client} connection {ConnectionId} left", EventName = "Disconnected")]
    public static partial void Disconnected(ILogger logger, TenantId tenant, ClientId client, ConnectionId connectionId);

    [LoggerMessage(1002, LogLevel.Debug, "Closing connection {ConnectionId} of {Tenant}/{Client}: {Reason}", EventName = "ClosingConnection")]
    public static partial void ClosingConnection(ILogger logger, ConnectionId connectionId, TenantId tenant, ClientId client, CloseReason reason);

    [LoggerMessage(1003, LogLevel.Error, "Loading the queue {Tenant}/{Queue} failed ({Failures} in a row); retrying", EventName = "InboxLoadFailed")]
    public static partial void InboxLoadFailed(ILogger logger, Exception exception, TenantId tenant, string queue, int failures);

    [LoggerMessage(1004, LogLevel.Error, "A background store write failed ({What})", EventName = "BackgroundWriteFailed")]
    public static partial void BackgroundWriteFailed(ILogger logger, Exception exception, string what);

    [LoggerMessage(1005, LogLevel.Error, "The expiry sweep failed", EventName = "ExpirySweepFailed")]
    public static partial void ExpirySweepFailed(ILogger logger, Exception exception);

    [LoggerMessage(1006, LogLevel.Information, "Expired {Count} letters", EventName = "LettersExpired")]
    public static partial void LettersExpired(ILogger logger, int count);

    [LoggerMessage(1007, LogLevel.Warning, "The store could not be flushed at shutdown: {Reason}", EventName = "FlushFailed")]
    public static partial void FlushFailed(ILogger logger, string reason);

    [LoggerMessage(1008, LogLevel.Error, "Closing connection {ConnectionId} failed in its adapter", EventName = "CloseFailed")]
    public static partial void CloseFailed(ILogger logger, Exception exception, ConnectionId connectionId);

    [LoggerMessage(1009, LogLevel.Warning, "Letter {MessageId} of {Tenant}/{Queue} was handed out {Deliveries} times without an ack: moved to the dead letters", EventName = "DeadLettered")]
    public static partial void DeadLettered(ILogger logger, TenantId tenant, string queue, Guid messageId, int deliveries);

    [LoggerMessage(1010, LogLevel.Debug, "Loading the queue {Tenant}/{Queue} ended with {Error} while the core stopped; not retried", EventName = "InboxLoadAbandoned")]
    public static partial void InboxLoadAbandoned(ILogger logger, TenantId tenant, string queue, string error);

    [LoggerMessage(1011, LogLevel.Warning, "The activity log's pending entries reached their bound ({Entries} entries, {Bytes} bytes): entries are dropped until the store catches up", EventName = "ActivityDropped")]
    public static partial void ActivityDropped(ILogger logger, int entries, long bytes);
}
