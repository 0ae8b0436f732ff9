namespace Daakia.Server.WebSockets;

/// <summary>A per-connection request budget: <c>rate</c> tokens per second up to <c>burst</c>. Used only by the connection's read loop.</summary>
internal sealed class TokenBucket(int rate, int burst, TimeProvider time)
{
    private double _tokens = burst;
    private long _last = time.GetTimestamp();

    public bool TryTake()
    {
        var now = time.GetTimestamp();
        _tokens = Math.Min(burst, _tokens + time.GetElapsedTime(_last, now).TotalSeconds * rate);
        _last = now;
        if (_tokens < 1)
        {
            return false;
        }

        _tokens -= 1;
        return true;
    }
}
