namespace Daakia.Core;

public sealed partial class DaakiaEngine
{
    private ITimer? _heartbeatTimer;
    private ITimer? _expiryTimer;
    private int _sweeping;
    private DateTimeOffset _lastPrune;

    private void StartTimers()
    {
        // One timer for all heartbeats and one for expiry: idle connections cost no timer of their own.
        _heartbeatTimer = _time.CreateTimer(_ => CheckHeartbeats(), null, _options.HeartbeatCheckInterval, _options.HeartbeatCheckInterval);
        _expiryTimer = _time.CreateTimer(_ => _ = SweepExpiredAsync(), null, _options.ExpirySweepInterval, _options.ExpirySweepInterval);
    }

    private void StopTimers()
    {
        _heartbeatTimer?.Dispose();
        _expiryTimer?.Dispose();
    }

    /// <summary>
    /// Closes every connection silent for longer than its heartbeat times the allowed misses, and returns letters whose
    /// lease ran past <see cref="DaakiaCoreOptions.LeaseTimeout"/>.
    /// </summary>
    internal void CheckHeartbeats()
    {
        var now = _time.GetUtcNow();
        List<ClientConnection>? late = null;
        List<ClientConnection>? slow = null;
        foreach (var t in _tenants.Values)
        {
            lock (t.Gate)
            {
                foreach (var cs in t.Clients.Values)
                {
                    _delivery.CheckLeases(cs.Window, now, ref slow);
                    foreach (var c in cs.Connections)
                    {
                        if (!c.HeartbeatPaused && now - c.LastActivity > c.Heartbeat * _options.MissedHeartbeats)
                        {
                            (late ??= []).Add(c);
                        }
                    }
                }
            }
        }

        CloseAll(late, CloseReason.HeartbeatTimeout);
        CloseAll(slow, CloseReason.SlowConsumer);
    }

    /// <summary>
    /// Removes expired letters from inboxes and from online clients' windows. The store records each in the activity
    /// log in the same write that removes it, so the sweep does not append them again.
    /// </summary>
    internal async Task SweepExpiredAsync()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return;
        }

        try
        {
            const int Batch = 1000;
            IReadOnlyList<ExpiredEntry> expired;
            do
            {
                expired = await _store.RemoveExpiredAsync(_time.GetUtcNow(), Batch, CancellationToken.None);
                if (expired.Count == 0)
                {
                    break;
                }

                foreach (var e in expired)
                {
                    if (e.Queue.Kind != QueueKind.Inbox)
                    {
                        continue;
                    }

                    var t = Tenant(e.Queue.Tenant);
                    List<ClientConnection>? toClose = null;
                    lock (t.Gate)
                    {
                        if (ClientId.TryCreate(e.Queue.Name, out var client) && t.Clients.TryGetValue(client, out var cs))
                        {
                            _delivery.Remove(cs.Window, e.Message.Id, ref toClose);
                        }
                    }

                    CloseAll(toClose, CloseReason.SlowConsumer);
                }

                _metrics.LettersExpired(expired.Count);
                EngineLog.LettersExpired(_logger, expired.Count);
            }
            while (expired.Count == Batch);

            await PruneActivityAsync();
        }
        catch (Exception ex)
        {
            EngineLog.ExpirySweepFailed(_logger, ex);
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    /// <summary>Bounded retention of the activity log, at most once a minute, a bounded amount per round.</summary>
    private async Task PruneActivityAsync()
    {
        var now = _time.GetUtcNow();
        if (now - _lastPrune < TimeSpan.FromMinutes(1))
        {
            return;
        }

        _lastPrune = now;
        const int Batch = 1000;
        for (var round = 0; round < 100; round++)
        {
            var removed = await _store.PruneActivityAsync(now - _options.ActivityRetention, _options.MaxActivityEntries, Batch, CancellationToken.None);
            if (removed < Batch)
            {
                break;
            }
        }
    }
}
