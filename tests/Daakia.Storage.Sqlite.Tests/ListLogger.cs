using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Daakia.Storage.Sqlite.Tests;

/// <summary>Keeps every log event, for tests that check what the store says.</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    public ConcurrentQueue<(LogLevel Level, EventId Event, string Message, Exception? Exception)> Events { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Events.Enqueue((logLevel, eventId, formatter(state, exception), exception));
}
