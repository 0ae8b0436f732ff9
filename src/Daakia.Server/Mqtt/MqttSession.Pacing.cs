using System.Diagnostics;

namespace Daakia.Server.Mqtt;

/// <summary>
/// Publisher pacing. A subscriber's outbox has a mark: the bytes it drains in <see cref="MqttOptions.PaceMilliseconds"/>
/// (measured while it is backlogged), between <see cref="MqttOptions.PaceMinimumBytes"/> and
/// <see cref="MqttOptions.PaceBytes"/>. A client whose publication fills an outbox past its mark has the rest of that
/// read handled (at most <see cref="PaceReadAheadBytes"/> or <see cref="PaceReadAheadPackets"/> more), its answers
/// sent, and is then not read further until the outbox is down to half its mark. So what waits for a slow subscriber waits in its publishers, a few milliseconds'
/// worth in the server, and every paced publisher's read goes through whole: one that resumes late is not held back
/// one packet at a time behind the others.
/// </summary>
internal sealed partial class MqttSession
{
    /// <summary>
    /// Bytes of one read still handled after a publication in it filled an outbox past its mark: a dozen packets of a
    /// few hundred bytes. Each paced publisher gets that much through whenever it goes on, so one that goes on when the
    /// others have filled the outbox again is not held back one packet at a time (which left some publishers' messages
    /// waiting many times longer than the rest).
    /// </summary>
    private const long PaceReadAheadBytes = 4 * 1024;

    /// <summary>Packets of one read still handled after a publication in it filled an outbox past its mark, at most: an
    /// outbox counts a packet at more than its size on the wire (its topic in full, not its alias, and an allowance),
    /// so a read of tiny packets overshoots the mark by a bounded amount too.</summary>
    private const int PaceReadAheadPackets = 16;

    /// <summary>This outbox's pacing mark and the bytes waiting in it (tests).</summary>
    internal (long Mark, long Queued) PaceState
    {
        get
        {
            lock (_gate)
            {
                return (_mark.Bytes, _queuedBytes);
            }
        }
    }

    /// <summary>A route of this client's read filled <paramref name="subscriber"/>'s outbox past its mark (the read
    /// loop's thread, through <see cref="MqttPacing.Note"/>).</summary>
    internal void NotePace(MqttSession subscriber) =>
        (_paceFull ??= new HashSet<MqttSession>(ReferenceEqualityComparer.Instance)).Add(subscriber);

    /// <summary>
    /// The read loop, before it waits: this read filled subscribers' outboxes past their marks, so its client is paced on
    /// them (the wait joins the held-back answers, after this read's acknowledgements). False: nothing to pace.
    /// </summary>
    private bool HoldForPace()
    {
        if (_paceFull is not { Count: > 0 } full)
        {
            return false;
        }

        // Only the outboxes still past half their marks are waited for (one may have drained while the read went on).
        var subscribers = new MqttSession[full.Count];
        var drained = new Task[full.Count];
        var n = 0;
        foreach (var subscriber in full)
        {
            if (subscriber.DrainedAsync() is { IsCompleted: false } waiting)
            {
                (subscribers[n], drained[n]) = (subscriber, waiting);
                n++;
            }
        }

        full.Clear();
        if (n == 0)
        {
            return false;
        }

        AckAfter(PaceAsync(subscribers.AsMemory(0, n), drained.AsMemory(0, n)), null, null);
        return true;
    }

    /// <summary>The writer took <paramref name="taken"/> bytes of publications out of this outbox (caller holds the
    /// lock): the mark follows its drain (<see cref="PaceMark"/>).</summary>
    private void MeasureDrainLocked(long taken)
    {
        var backlogged = (_publications?.Count ?? 0) > 0;
        if (_options.PaceMilliseconds > 0 && _options.PaceBytes > 0 && (taken > 0 || backlogged || !_mark.Idle))
        {
            _mark.Measure(_options, taken, backlogged, Stopwatch.GetTimestamp());
        }
    }

    /// <summary>
    /// Waits until the outboxes this client filled are down to half their marks (<paramref name="drained"/>, one per
    /// subscriber), all together at most <see cref="MqttOptions.PaceWaitMilliseconds"/> (the heartbeat paused meanwhile:
    /// not reading is the server's doing); an outbox still full then is exempt from pacing until it drains. Never faults.
    /// </summary>
    private async Task PaceAsync(ReadOnlyMemory<MqttSession> full, ReadOnlyMemory<Task> drained)
    {
        _registry.Paced();
        var connection = _connection;
        connection?.PauseHeartbeat(true);
        try
        {
            await Task.WhenAll(drained.Span).WaitAsync(TimeSpan.FromMilliseconds(_options.PaceWaitMilliseconds));
        }
        catch (TimeoutException)
        {
            for (var i = 0; i < full.Length; i++)
            {
                if (!drained.Span[i].IsCompleted)
                {
                    full.Span[i].ExemptFromPacing();
                }
            }
        }
        finally
        {
            connection?.PauseHeartbeat(false);
            connection?.Touch(_engine.Time);
        }
    }


    /// <summary>Completes once this outbox is down to half of its pacing mark (or the session ended).</summary>
    private Task DrainedAsync()
    {
        lock (_gate)
        {
            if (IsDrainedLocked)
            {
                return Task.CompletedTask;
            }

            return (_drained2 ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }

    private bool IsDrainedLocked => _closing || _writerEnded || _queuedBytes <= _mark.Bytes / 2;

    /// <summary>
    /// A publisher waited <see cref="MqttOptions.PaceWaitMilliseconds"/> for this outbox in vain: until it is down to half
    /// again, it paces nobody (its own bound drops what it cannot hold), so a subscriber that stays slow does not hold
    /// its publishers back for good.
    /// </summary>
    private void ExemptFromPacing()
    {
        lock (_gate)
        {
            _paceExempt = !IsDrainedLocked;
        }
    }

    /// <summary>The writer took packets out, or ended (caller holds the lock): paced publishers go on once the outbox is
    /// low enough.</summary>
    private void ReleasePacedLocked()
    {
        if (!IsDrainedLocked)
        {
            return;
        }

        _paceExempt = false;
        if (_drained2 is { } waiting)
        {
            _drained2 = null;
            waiting.TrySetResult();
        }
    }
}

/// <summary>
/// An outbox's pacing mark: what its writer drains in <see cref="MqttOptions.PaceMilliseconds"/>, measured while it is
/// backlogged, between <see cref="MqttOptions.PaceMinimumBytes"/> and <see cref="MqttOptions.PaceBytes"/> (where it
/// starts). Kept by the session under its lock; timestamps are <see cref="Stopwatch"/> ticks.
/// </summary>
internal struct PaceMark
{
    /// <summary>Shortest window over which a drain is measured (2 ms).</summary>
    public static readonly long Window = Stopwatch.Frequency / 500;

    /// <summary>A window this long (8 ms) or longer sets the mark by itself.</summary>
    public static readonly long Horizon = 4 * Window;

    private long _start; // when the current window began, or was last measured (0: none)
    private long _drained; // bytes taken out since
    private long _spanStart; // when the current span began (0: none)
    private long _spanBytes; // bytes taken out since
    private bool _spanKeptUp; // no window was measured in this span

    public PaceMark(long bytes) => Bytes = bytes;

    /// <summary>The mark, in bytes.</summary>
    public long Bytes { get; private set; }

    /// <summary>No window and no span is open: a pass that takes nothing from an empty outbox changes nothing.</summary>
    public readonly bool Idle => _start == 0 && _spanStart == 0;

    /// <summary>
    /// The writer took <paramref name="taken"/> bytes out at <paramref name="now"/>, and the outbox is
    /// <paramref name="backlogged"/> after it. Two measures:
    /// <list type="bullet">
    /// <item>The drain: a window, begun by a pass after which the outbox is backlogged and ended by the first pass after
    /// which it is empty, or measured every <see cref="Window"/> while it lasts. The outbox held something all along, so
    /// what the writer took is what the subscriber drained: the mark moves towards what that is per PaceMilliseconds,
    /// the more the longer the window (a quarter for the shortest, all of it from <see cref="Horizon"/>). A backlog
    /// shorter than <see cref="Window"/> counts for nothing.</item>
    /// <item>The arrivals: a span, begun by a pass that took something and emptied the outbox, of at least
    /// <see cref="Horizon"/>, took all that came: a lower bound of the drain. It can raise the mark, never lower it, so
    /// a subscriber that drains faster than its publishers refill it (its mark low after a stall; its passes empty its
    /// outbox, or leave it backlogged only for moments) gets its depth back under a steady load. A span in which a
    /// window was measured counts for nothing: the window speaks for the drain then (so a slow subscriber's bursts into
    /// its transport's free buffer do not raise its mark), and a burst taken at once counts as a quarter of itself per
    /// 2 ms, not as the subscriber's pace.</item>
    /// </list>
    /// </summary>
    public void Measure(MqttOptions options, long taken, bool backlogged, long now)
    {
        if (_start != 0)
        {
            _drained += taken;
            var elapsed = now - _start;
            if (elapsed >= Window)
            {
                var weight = Math.Min(1.0, (double)elapsed / Horizon);
                var mark = (long)(Bytes + ((InPace(options, _drained, elapsed) - Bytes) * weight));
                Bytes = Math.Clamp(mark, Math.Min(options.PaceMinimumBytes, options.PaceBytes), options.PaceBytes);
                _spanKeptUp = false; // the open span saw a sustained backlog: this window measured it
                (_start, _drained) = (now, 0);
            }

            if (!backlogged)
            {
                _start = 0; // emptied: the window ends (measured above if it lasted long enough)
            }
        }
        else if (backlogged)
        {
            (_start, _drained) = (now, 0);
        }

        if (_spanStart != 0)
        {
            _spanBytes += taken;
            var span = now - _spanStart;
            if (span >= Horizon)
            {
                if (_spanKeptUp)
                {
                    Bytes = Math.Min(Math.Max(Bytes, (long)InPace(options, _spanBytes, span)), options.PaceBytes);
                }

                _spanStart = 0;
            }
        }

        if (_spanStart == 0 && taken > 0 && !backlogged)
        {
            (_spanStart, _spanBytes, _spanKeptUp) = (now, 0, true);
        }
    }

    /// <summary>What draining <paramref name="bytes"/> in <paramref name="elapsed"/> ticks drains in PaceMilliseconds.</summary>
    private static double InPace(MqttOptions options, long bytes, long elapsed) =>
        bytes * (double)options.PaceMilliseconds * Stopwatch.Frequency / (1000.0 * elapsed);
}

/// <summary>
/// The subscribers' outboxes one MQTT client's publication filled past their pacing mark, collected on
/// the routing thread (routing is synchronous) between <see cref="Begin"/> and <see cref="End"/>. Routes of anything else
/// (wills, the JSON API, REST) collect nothing, and a publisher is never paced on its own outbox (its acknowledgements
/// are what would drain it).
/// </summary>
internal static class MqttPacing
{
    [ThreadStatic]
    private static MqttSession? t_publisher;

    public static void Begin(MqttSession publisher) => t_publisher = publisher;

    /// <summary>The route filled <paramref name="subscriber"/>'s outbox past its mark: the publisher routing it is paced
    /// on it once its read is handled (never on its own outbox).</summary>
    public static void Note(MqttSession subscriber)
    {
        if (t_publisher is { } publisher && !ReferenceEquals(publisher, subscriber))
        {
            publisher.NotePace(subscriber);
        }
    }

    /// <summary>
    /// Holds back the wake of a subscriber's write loop while an MQTT client's route runs (it may run under the core's
    /// tenant lock): the publisher gives it with its own answers once the read is handled (or before its read loop
    /// waits), on its thread. A delivery is then written by the thread that read it, as mosquitto's one loop does,
    /// instead of through the thread pool, and a read's deliveries to one subscriber leave in one write. False: no
    /// route is running on this thread.
    /// </summary>
    public static bool Defer(MqttSession subscriber) => t_publisher is { } publisher && publisher.HoldWake(subscriber);

    /// <summary>The route is over: collecting stops.</summary>
    public static void End() => t_publisher = null;
}
