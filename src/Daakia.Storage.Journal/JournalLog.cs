using Microsoft.Extensions.Logging;

namespace Daakia.Storage.Journal;

internal static partial class JournalLog
{
    [LoggerMessage(4100, LogLevel.Information, "Journal store opened at {Path} (durability {Durability}): {Records} records, {Bytes} bytes replayed", EventName = "JournalOpened")]
    public static partial void Opened(ILogger logger, string path, string durability, long records, long bytes);

    [LoggerMessage(4101, LogLevel.Warning, "The journal {Path} ends in a torn or damaged record at byte {Offset}; the {Dropped} bytes from there were cut off and kept in {Aside} (after a crash: a write it interrupted, never acknowledged)", EventName = "JournalTornTail")]
    public static partial void TornTail(ILogger logger, string path, long offset, long dropped, string aside);

    [LoggerMessage(4105, LogLevel.Warning, "Journal compaction skipped: {Reason}", EventName = "JournalCompactionSkipped")]
    public static partial void CompactionSkipped(ILogger logger, string reason);

    [LoggerMessage(4102, LogLevel.Information, "Journal compacted from {Before} to {After} bytes", EventName = "JournalCompacted")]
    public static partial void Compacted(ILogger logger, long before, long after);

    [LoggerMessage(4104, LogLevel.Critical, "{Reason}", EventName = "JournalCallFailed")]
    public static partial void CallFailed(ILogger logger, string reason);

    [LoggerMessage(4103, LogLevel.Critical, "The journal's writer stopped; every store call fails until the process restarts. {Reason}", EventName = "JournalWriterFaulted")]
    public static partial void WriterFaulted(ILogger logger, Exception exception, string reason);
}
