using System.Threading.Tasks.Sources;

namespace Daakia.Server.WebSockets;

/// <summary>
/// The outbox's frames in order: any thread queues, one writer loop takes. A ring that grows as frames arrive (the
/// session's counters bound how many: <c>OutboxCapacity</c> deliveries, replies by the read loop's wait) and one
/// reusable waiter for the writer loop, so an idle connection's outbox is this object and a few empty slots — where a
/// <see cref="System.Threading.Channels.Channel{T}"/> holds a 32-slot segment, its reader, writer and waiter objects
/// (about 1.4 KiB). The writer loop's continuation never runs on the thread that queues (that may hold the tenant lock).
/// </summary>
internal sealed class FrameQueue : IValueTaskSource<bool>
{
    private const int InitialSlots = 4;

    // A ring larger than this is let go when the writer loop has drained a burst that used at most a quarter of it: a
    // busy connection keeps its ring instead of growing it again after every drain. The burst that grew a ring filled
    // it, so the ring stays until a later, smaller burst has drained: a connection that goes quiet right after a large
    // burst holds it meanwhile (16 bytes a slot, at most about twice its outbox's frames).
    private const int KeptSlots = 16;

    private OutboundFrame[]? _ring;
    private int _head;
    private int _count;
    private int _peak; // the most frames queued at once since the writer loop last waited
    private bool _completed;
    private bool _waiting;
    private ManualResetValueTaskSourceCore<bool> _waiter = new() { RunContinuationsAsynchronously = true };

    /// <summary>Queues a frame; false once <see cref="Complete"/> was called.</summary>
    public bool TryWrite(OutboundFrame frame)
    {
        bool wake;
        lock (this)
        {
            if (_completed)
            {
                return false;
            }

            var ring = _ring;
            if (ring is null || _count == ring.Length)
            {
                ring = Grow();
            }

            ring[(_head + _count) % ring.Length] = frame;
            _count++;
            _peak = Math.Max(_peak, _count);
            wake = _waiting;
            _waiting = false;
        }

        if (wake)
        {
            _waiter.SetResult(true);
        }

        return true;
    }

    /// <summary>Takes the oldest frame (the writer loop only).</summary>
    public bool TryRead(out OutboundFrame frame)
    {
        lock (this)
        {
            if (_count == 0)
            {
                frame = default;
                return false;
            }

            var ring = _ring!;
            frame = ring[_head];
            ring[_head] = default;
            _head = (_head + 1) % ring.Length;
            _count--;
            return true;
        }
    }

    /// <summary>
    /// True once a frame is waiting; false when the queue is completed and empty (the writer loop only: one wait at a
    /// time). Frames queued before <see cref="Complete"/> are still read.
    /// </summary>
    public ValueTask<bool> WaitToReadAsync()
    {
        lock (this)
        {
            if (_count > 0)
            {
                return new ValueTask<bool>(true);
            }

            if (_completed)
            {
                return new ValueTask<bool>(false);
            }

            if (_ring is { Length: > KeptSlots } ring && _peak <= ring.Length / 4)
            {
                _ring = null;
                _head = 0;
            }

            _peak = 0;

            _waiter.Reset();
            _waiting = true;
            return new ValueTask<bool>(this, _waiter.Version);
        }
    }

    /// <summary>No more frames are accepted; a waiting writer loop wakes (and reads what is left).</summary>
    public void Complete()
    {
        bool wake;
        lock (this)
        {
            _completed = true;
            wake = _waiting;
            _waiting = false;
        }

        if (wake)
        {
            _waiter.SetResult(false);
        }
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _waiter.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _waiter.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _waiter.OnCompleted(continuation, state, token, flags);

    private OutboundFrame[] Grow()
    {
        var old = _ring;
        var ring = new OutboundFrame[old is null ? InitialSlots : old.Length * 2];
        for (var i = 0; i < _count; i++)
        {
            ring[i] = old![(_head + i) % old.Length];
        }

        _ring = ring;
        _head = 0;
        return ring;
    }
}
