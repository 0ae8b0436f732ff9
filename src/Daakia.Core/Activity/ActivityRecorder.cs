using Daakia.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Daakia.Core;

/// <summary>
/// Collects activity entries recorded on the hot paths (connects, disconnects, sends, acks) and writes them in batches:
/// one store call per batch (what gathered while the previous batch was written), so entries ride the store's group
/// commit instead of adding a write each. Not atomic with what they record: a crash may lose the last batch. Bounded by <see cref="DaakiaCoreOptions.MaxPendingActivityEntries"/> and
/// <see cref="DaakiaCoreOptions.MaxPendingActivityBytes"/>: past them an entry is dropped (counted, logged), never
/// waited for, since the log must not hold back what it records.
/// </summary>
internal sealed class ActivityRecorder(IDaakiaStore store, DaakiaCoreOptions options, ILogger logger)
{
    private readonly Lock _gate = new();
    private List<ActivityEntry> _pending = [];
    private long _pendingBytes;
    private Task _flushing = Task.CompletedTask;
    private bool _running;
    private bool _overflowing;
    private bool _stopped;
    private long _dropped;

    /// <summary>Entries dropped because the pending bound was reached.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public void Record(ActivityEntry entry)
    {
        var size = Size(entry);
        lock (_gate)
        {
            if (_stopped)
            {
                return; // after the engine's stop (a connection that ends late): the store is closing, nothing is written
            }

            if (_pending.Count >= options.MaxPendingActivityEntries || _pendingBytes + size > options.MaxPendingActivityBytes)
            {
                _dropped++;
                if (!_overflowing)
                {
                    _overflowing = true;
                    EngineLog.ActivityDropped(logger, _pending.Count, _pendingBytes);
                }

                return;
            }

            _pending.Add(entry);
            _pendingBytes += size;
            if (!_running)
            {
                _running = true;
                _flushing = Task.Run(FlushLoopAsync);
            }
        }
    }

    /// <summary>The engine stops (<paramref name="stopped"/>: what is pending is still written, see <see cref="FlushAsync"/>,
    /// nothing recorded later) or starts again.</summary>
    public void SetStopped(bool stopped)
    {
        lock (_gate)
        {
            _stopped = stopped;
        }
    }

    /// <summary>Completes once everything recorded before the call is written (or its write failed).</summary>
    public Task FlushAsync()
    {
        lock (_gate)
        {
            return _flushing;
        }
    }

    private async Task FlushLoopAsync()
    {
        while (true)
        {
            List<ActivityEntry> batch;
            lock (_gate)
            {
                if (_pending.Count == 0)
                {
                    _running = false;
                    _overflowing = false;
                    return;
                }

                batch = _pending;
                _pending = [];
                _pendingBytes = 0;
            }

            try
            {
                await store.AppendActivityAsync(batch, CancellationToken.None);
            }
            catch (Exception ex)
            {
                // Whatever it was, the loop goes on: a dead loop would drop every later entry.
                EngineLog.BackgroundWriteFailed(logger, ex, "activity");
            }
        }
    }

    private static long Size(ActivityEntry e) => 64 + e.Kind.Length + (e.Actor?.Value.Length ?? 0) + (e.Subject?.Length ?? 0) + (e.Detail?.Length ?? 0);
}
