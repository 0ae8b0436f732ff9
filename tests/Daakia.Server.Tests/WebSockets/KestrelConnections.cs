using System.Diagnostics.Metrics;
using System.Globalization;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>
/// Kestrel's own connection instruments (<c>kestrel.active_connections</c>, <c>kestrel.connection.duration</c>) for
/// one server port: how many connections Kestrel has taken and how many it has finished with, so that a test can wait
/// until the server has dealt with a connection instead of sleeping.
/// </summary>
internal sealed class KestrelConnections : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly string _port;
    private long _started;
    private long _ended;

    public KestrelConnections(int port)
    {
        _port = port.ToString(CultureInfo.InvariantCulture);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Microsoft.AspNetCore.Server.Kestrel" && instrument.Name is "kestrel.active_connections" or "kestrel.connection.duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (value > 0 && IsOurs(tags))
            {
                Interlocked.Add(ref _started, value);
            }
        });
        _listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) =>
        {
            if (IsOurs(tags))
            {
                Interlocked.Increment(ref _ended);
            }
        });
        _listener.Start();
    }

    public long Started => Interlocked.Read(ref _started);

    public long Ended => Interlocked.Read(ref _ended);

    public void Dispose() => _listener.Dispose();

    private bool IsOurs(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == "server.port")
            {
                return Convert.ToString(tag.Value, CultureInfo.InvariantCulture) == _port;
            }
        }

        return false;
    }
}
