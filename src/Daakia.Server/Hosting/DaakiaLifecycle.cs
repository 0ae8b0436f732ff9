using Daakia.Core;
using Daakia.Core.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.Hosting;

/// <summary>
/// Opens the store and starts the core before the listeners accept anything; on shutdown stops accepting, closes
/// every connection with a proper close, waits for them (bounded), then flushes and closes the store.
/// </summary>
internal sealed partial class DaakiaLifecycle(
    IDaakiaStore store,
    DaakiaEngine engine,
    ConnectionTracker connections,
    DaakiaServerOptions options,
    ILogger<DaakiaLifecycle> logger) : IHostedLifecycleService
{
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        await store.OpenAsync(cancellationToken);
        await engine.StartAsync(cancellationToken);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        // Runs before Kestrel stops: long-lived WebSocket requests must end first or Kestrel waits for them.
        LogDraining(logger, engine.ConnectionCount);
        engine.BeginDrain();
        await engine.StopAsync(cancellationToken);
        var drained = await connections.WaitForNoneAsync(TimeSpan.FromSeconds(options.DrainTimeoutSeconds));
        LogDrained(logger, drained);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        try
        {
            await store.FlushAsync(cancellationToken);
        }
        catch (DaakiaException ex)
        {
            // A faulted store has already logged why (Critical); it is still closed below.
            LogFlushFailed(logger, ex.Message);
        }

        await store.DisposeAsync();
        await engine.DisposeAsync();
        LogStopped(logger);
    }

    [LoggerMessage(2000, LogLevel.Information, "Draining: closing {Connections} connections", EventName = "Draining")]
    private static partial void LogDraining(ILogger logger, long connections);

    [LoggerMessage(2001, LogLevel.Information, "Connections closed: {AllClosed}", EventName = "Drained")]
    private static partial void LogDrained(ILogger logger, bool allClosed);

    [LoggerMessage(2003, LogLevel.Warning, "The store could not be flushed at shutdown: {Reason}", EventName = "FlushFailed")]
    private static partial void LogFlushFailed(ILogger logger, string reason);

    [LoggerMessage(2002, LogLevel.Information, "Store flushed and closed", EventName = "Stopped")]
    private static partial void LogStopped(ILogger logger);
}
