using System.Collections.Concurrent;
using Daakia.Core;

namespace Daakia.Server.Mqtt;

/// <summary>The live MQTT session of each client id, so a second CONNECT with the same id takes the first one over
/// (MQTT-3.1.4-3); and pending wills with a delay, which a reconnect of the same client id cancels.</summary>
internal sealed class MqttSessionRegistry : IDisposable
{
    private readonly System.Diagnostics.Metrics.Meter _meter = new("Daakia.Mqtt");
    private long _paced;
    private long _running;

    private readonly Dictionary<string, IMqttEnhancedAuthenticator> _authenticators = new(StringComparer.Ordinal);

    public MqttSessionRegistry(IEnumerable<IMqttEnhancedAuthenticator>? authenticators = null)
    {
        foreach (var a in authenticators ?? [])
        {
            if (!_authenticators.TryAdd(a.Method, a))
            {
                throw new InvalidOperationException($"Two MQTT enhanced authenticators offer the method '{a.Method}'.");
            }
        }

        _meter.CreateObservableUpDownCounter("sessions.running", () => Volatile.Read(ref _running),
            description: "MQTT connections whose session is running: from the socket's accept to the end of its clean-up.");
        _meter.CreateObservableCounter("publishers.paced", () => Volatile.Read(ref _paced),
            description: "Times an MQTT client's reading paused because its publication filled a subscriber's outbox past its pacing mark (Daakia:Mqtt:PaceBytes at most).");
    }

    /// <summary>MQTT connections whose session runs (accepted, not yet cleaned up; also <c>daakia_mqtt_sessions_running</c>).</summary>
    public long Running => Volatile.Read(ref _running);

    public void SessionStarted() => Interlocked.Increment(ref _running);

    public void SessionEnded() => Interlocked.Decrement(ref _running);

    /// <summary>The enhanced authenticator of <paramref name="method"/>, or null when none is registered.</summary>
    public IMqttEnhancedAuthenticator? Authenticator(string method) => _authenticators.GetValueOrDefault(method);

    /// <summary>A publisher was paced (also the <c>daakia_mqtt_publishers_paced</c> metric).</summary>
    public void Paced() => Interlocked.Increment(ref _paced);

    public long PacedCount => Volatile.Read(ref _paced);

    public void Dispose() => _meter.Dispose();

    private readonly ConcurrentDictionary<(TenantId, ClientId), MqttSession> _sessions = new();
    private readonly ConcurrentDictionary<(TenantId, ClientId), ITimer> _wills = new();

    /// <summary>Makes <paramref name="session"/> the client's session; returns the one it replaces, if any.</summary>
    public MqttSession? Register(TenantId tenant, ClientId client, MqttSession session)
    {
        CancelWill(tenant, client);
        MqttSession? previous = null;
        _sessions.AddOrUpdate((tenant, client), session, (_, old) =>
        {
            previous = old;
            return session;
        });
        return previous;
    }

    public void Remove(TenantId tenant, ClientId client, MqttSession session) =>
        _sessions.TryRemove(new KeyValuePair<(TenantId, ClientId), MqttSession>((tenant, client), session));

    /// <summary>Keeps a delayed will until it fires or the client reconnects.</summary>
    public void HoldWill(TenantId tenant, ClientId client, ITimer timer)
    {
        if (_wills.TryGetValue((tenant, client), out var old))
        {
            old.Dispose();
        }

        _wills[(tenant, client)] = timer;
    }

    public void WillDone(TenantId tenant, ClientId client, ITimer timer) =>
        _wills.TryRemove(new KeyValuePair<(TenantId, ClientId), ITimer>((tenant, client), timer));

    private void CancelWill(TenantId tenant, ClientId client)
    {
        if (_wills.TryRemove((tenant, client), out var timer))
        {
            timer.Dispose();
        }
    }

    /// <summary>The client's live session, if any (tests).</summary>
    public MqttSession? Find(TenantId tenant, ClientId client) => _sessions.GetValueOrDefault((tenant, client));

    /// <summary>Live sessions (the <c>$SYS</c> figures and tests).</summary>
    public int Count => _sessions.Count;
}
