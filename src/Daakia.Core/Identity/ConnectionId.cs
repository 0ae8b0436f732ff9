namespace Daakia.Core;

/// <summary>A process-unique number for one live transport session.</summary>
public readonly record struct ConnectionId(long Value)
{
    private static long s_last;

    public static ConnectionId Next() => new(Interlocked.Increment(ref s_last));

    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
