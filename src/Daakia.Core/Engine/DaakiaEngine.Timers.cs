namespace Daakia.Core;

public sealed partial class DaakiaEngine
{
    private ITimer? _heartbeatTimer;
    private ITimer? _expiryTimer;
    private ITimer? _sysTimer;
    private DateTimeOffset _started;

    /// <summary>What <c>$SYS/broker/version</c> says.</summary>
    private static readonly string Version = "daakia " + (typeof(DaakiaEngine).Assembly
        .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
        .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion.Split('+')[0] ?? "0");
    private int _sweeping;
    private DateTimeOffset _lastPrune;

    private void StartTimers()
    {
        // One timer for all heartbeats and one for expiry: idle connections cost no timer of their own.
        _heartbeatTimer = _time.CreateTimer(_ => CheckHeartbeats(), null, _options.HeartbeatCheckInterval, _options.HeartbeatCheckInterval);
        _expiryTimer = _time.CreateTimer(_ => _ = SweepExpiredAsync(), null, _options.ExpirySweepInterval, _options.ExpirySweepInterval);
        _started = _time.GetUtcNow();
        if (_options.SysInterval > TimeSpan.Zero)
        {
            _sysTimer = _time.CreateTimer(_ => PublishSys(), null, _options.SysInterval, _options.SysInterval);
        }
    }

    /// <summary>
    /// The <c>$SYS/broker/…</c> topics Mosquitto publishes, per tenant and about that tenant only: version, uptime,
    /// clients connected, publications received and sent, retained messages.
    /// </summary>
    internal void PublishSys()
    {
        var now = _time.GetUtcNow();
        var uptime = ((long)(now - _started).TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture) + " seconds";
        foreach (var t in _tenants.Values)
        {
            int connected, retained;
            lock (t.Gate)
            {
                connected = t.Clients.Count;
                retained = 0;
                foreach (var topic in t.Retained.Keys)
                {
                    retained += topic.StartsWith('$') ? 0 : 1;
                }
            }

            var received = Interlocked.Read(ref t.Received).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var sent = Interlocked.Read(ref t.Sent).ToString(System.Globalization.CultureInfo.InvariantCulture);
            _topics.PublishServerValue(t, "$SYS/broker/version", Version, now);
            _topics.PublishServerValue(t, "$SYS/broker/uptime", uptime, now);
            _topics.PublishServerValue(t, "$SYS/broker/clients/connected", connected.ToString(System.Globalization.CultureInfo.InvariantCulture), now);
            _topics.PublishServerValue(t, "$SYS/broker/messages/received", received, now);
            _topics.PublishServerValue(t, "$SYS/broker/messages/sent", sent, now);
            _topics.PublishServerValue(t, "$SYS/broker/publish/messages/received", received, now);
            _topics.PublishServerValue(t, "$SYS/broker/publish/messages/sent", sent, now);
            _topics.PublishServerValue(t, "$SYS/broker/retained messages/count", retained.ToString(System.Globalization.CultureInfo.InvariantCulture), now);
        }
    }

    private void StopTimers()
    {
        _heartbeatTimer?.Dispose();
        _expiryTimer?.Dispose();
        _sysTimer?.Dispose();
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

                _sessions.Expired(expired);
                _queues.Expired(expired);
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

            _sessions.SweepExpired(_tenants.Values, _time.GetUtcNow());
            await _queues.SweepClaimsAsync(_tenants.Values);
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
