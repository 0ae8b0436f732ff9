using System.Diagnostics.Metrics;

namespace Daakia.Server.WebSockets;

/// <summary>
/// The WebSocket sessions' instruments on the <c>Daakia.WebSockets</c> meter, exported as
/// <c>daakia_websockets_sessions_closed{protocol,reason}</c> and <c>daakia_websockets_frames_unencodable</c>. Like the
/// core's meter, the hot path only increments plain counters that the meter reads when scraped.
/// </summary>
internal sealed class SessionMetrics : IDisposable
{
    public const string MeterName = "Daakia.WebSockets";

    private static readonly string[] Protocols = ["ws", "texto"];
    private static readonly string[] Reasons = Enum.GetNames<SessionEnd>();

    private readonly Meter _meter = new(MeterName);
    private readonly long[] _closed = new long[Protocols.Length * Reasons.Length];
    private long _unencodable;
    private long _upgradesDirect;
    private long _upgradesAspNetCore;

    public SessionMetrics()
    {
        _meter.CreateObservableCounter("sessions.closed", ClosedByReason, description: "WebSocket sessions that ended, by protocol and reason (normal closes included).");
        _meter.CreateObservableCounter("upgrades", UpgradesByPath, description: "WebSocket upgrades accepted, by the path that took them: below ASP.NET Core's HTTP layer (direct) or through it (aspnetcore).");
        _meter.CreateObservableCounter("frames.unencodable", () => Volatile.Read(ref _unencodable), description: "Letters or publications a session could not encode (a server fault: the session was closed with 1011).");
    }

    public void Closed(bool texto, SessionEnd reason) => Interlocked.Increment(ref _closed[Index(texto, reason)]);

    public long ClosedCount(bool texto, SessionEnd reason) => Volatile.Read(ref _closed[Index(texto, reason)]);

    public void Upgraded(bool direct) => Interlocked.Increment(ref direct ? ref _upgradesDirect : ref _upgradesAspNetCore);

    public long UpgradeCount(bool direct) => Volatile.Read(ref direct ? ref _upgradesDirect : ref _upgradesAspNetCore);

    public void Unencodable() => Interlocked.Increment(ref _unencodable);

    public long UnencodableCount => Volatile.Read(ref _unencodable);

    public void Dispose() => _meter.Dispose();

    private static int Index(bool texto, SessionEnd reason) => ((texto ? 1 : 0) * Reasons.Length) + (int)reason;

    private IEnumerable<Measurement<long>> UpgradesByPath()
    {
        yield return new Measurement<long>(UpgradeCount(direct: true), new KeyValuePair<string, object?>("path", "direct"));
        yield return new Measurement<long>(UpgradeCount(direct: false), new KeyValuePair<string, object?>("path", "aspnetcore"));
    }

    private IEnumerable<Measurement<long>> ClosedByReason()
    {
        for (var p = 0; p < Protocols.Length; p++)
        {
            for (var r = 0; r < Reasons.Length; r++)
            {
                yield return new Measurement<long>(
                    Volatile.Read(ref _closed[(p * Reasons.Length) + r]),
                    new KeyValuePair<string, object?>("protocol", Protocols[p]),
                    new KeyValuePair<string, object?>("reason", Reasons[r]));
            }
        }
    }
}
