namespace Daakia.Core;

/// <summary>
/// One generation of a named queue's candidate reads (claims and pops reading from the store outside the lock): how
/// many of them are in flight, and the ids removed from the queue while it was the newest generation. A read checks the
/// ids of its own generation and every later one; a generation is let go once no read of it or of an older one is left,
/// so what is remembered stays bounded under reads that overlap without end (see <see cref="NamedQueueState.BeginRead"/>).
/// Guarded by the tenant's lock.
/// </summary>
internal sealed class QueueRead(long number)
{
    public long Number { get; } = number;

    public int Readers { get; set; }

    public HashSet<Guid> Removed { get; } = [];
}
