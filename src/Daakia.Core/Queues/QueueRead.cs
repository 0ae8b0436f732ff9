namespace Daakia.Core;

/// <summary>
/// One of a named queue's candidate reads (a claim or a pop reading from the store outside the lock): how many ids had
/// been removed from the queue when it began (<see cref="NamedQueueState.RemovedDuring"/> counts only later ones), and
/// its place among the reads in flight. Guarded by the tenant's lock.
/// </summary>
internal sealed class QueueRead(long since)
{
    public long Since { get; } = since;

    public LinkedListNode<QueueRead>? Node { get; set; }
}
