using System.Diagnostics.Metrics;

namespace Daakia.Server.Http;

/// <summary>
/// The server-wide bound on bytes of REST inbox pages being read and written at once (<c>MaxConcurrentReadBytes</c>).
/// One page is already bounded (<c>Core:MaxReadPageBytes</c>), but many concurrent readers of large letters multiply
/// it; a read reserves its worst case before touching the store, gives back what the page did not use once it is read,
/// and the rest once the response is written. A read that does not fit is refused (503, <c>overloaded</c>) instead
/// of queued: a waiting request would hold its connection and its place for nothing.
/// </summary>
internal sealed class RestReadBudget : IDisposable
{
    private readonly Meter _meter = new("Daakia");
    private long _reserved;
    private long _refused;

    public RestReadBudget(long capacity)
    {
        Capacity = capacity;
        _meter.CreateObservableGauge("rest.reads.reserved.bytes", () => Volatile.Read(ref _reserved), unit: "By", description: "Bytes of REST inbox pages being read or written now (at most MaxConcurrentReadBytes).");
        _meter.CreateObservableCounter("rest.reads.refused", () => Volatile.Read(ref _refused), description: "REST inbox reads refused (503) because MaxConcurrentReadBytes was reserved by reads in progress.");
    }

    public long Capacity { get; }

    public long Reserved => Volatile.Read(ref _reserved);

    public long Refused => Volatile.Read(ref _refused);

    public bool TryReserve(long bytes)
    {
        var current = Volatile.Read(ref _reserved);
        while (true)
        {
            if (current + bytes > Capacity)
            {
                Interlocked.Increment(ref _refused);
                return false;
            }

            var seen = Interlocked.CompareExchange(ref _reserved, current + bytes, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }
    }

    public void Release(long bytes) => Interlocked.Add(ref _reserved, -bytes);

    public void Dispose() => _meter.Dispose();
}
