using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.Tests.Edge;

/// <summary>Every log line the test host writes at or above the configured levels, for asserting on levels and events.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    public ConcurrentQueue<Entry> Entries { get; } = new();

    public IEnumerable<Entry> AtLeast(LogLevel level) => Entries.Where(e => e.Level >= level);

    public bool Has(string eventName) => Entries.Any(e => e.EventName == eventName);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Entries);

    public void Dispose()
    {
    }

    public sealed record Entry(LogLevel Level, string Category, string? EventName, string Message)
    {
        public override string ToString() => $"{Level} [{Category}] {EventName}: {Message}";
    }

    private sealed class Logger(string category, ConcurrentQueue<Entry> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue(new Entry(logLevel, category, eventId.Name, formatter(state, exception) + (exception is null ? "" : " " + exception)));
    }
}
