using Microsoft.Extensions.Logging;

namespace Daakia.Storage.Sqlite;

/// <summary>Store log events (ids 4000-4099).</summary>
internal static partial class SqliteLog
{
    [LoggerMessage(4000, LogLevel.Information, "Store opened at {Path} (durability {Durability})", EventName = "StoreOpened")]
    public static partial void Opened(ILogger logger, string path, string durability);

    [LoggerMessage(4001, LogLevel.Error, "A batch of {Count} writes failed to commit", EventName = "BatchFailed")]
    public static partial void BatchFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(4002, LogLevel.Critical, "The store's writer stopped; every store call fails until the process restarts. {Reason}", EventName = "WriterFaulted")]
    public static partial void WriterFaulted(ILogger logger, Exception exception, string reason);
}
