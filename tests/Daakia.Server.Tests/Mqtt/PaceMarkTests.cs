using System.Diagnostics;
using Daakia.Server.Mqtt;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>The pacing mark's arithmetic on a clock of its own: what a subscriber's drain does to it.</summary>
public class PaceMarkTests
{
    private static readonly MqttOptions Options = new() { PaceBytes = 262_144, PaceMinimumBytes = 16_384, PaceMilliseconds = 2 };

    /// <summary>A timestamp <paramref name="ms"/> milliseconds after an arbitrary start.</summary>
    private static long At(double ms) => 1_000_000 + (long)(ms * Stopwatch.Frequency / 1000.0);

    /// <summary>A mark whose outbox became backlogged at 0 ms.</summary>
    private static PaceMark Backlogged(long bytes = 262_144)
    {
        var mark = new PaceMark(bytes);
        mark.Measure(Options, 0, backlogged: true, At(0));
        return mark;
    }

    [Fact]
    public void ABackloggedWindowUnderTwoMilliseconds_MovesNothing()
    {
        var mark = Backlogged();
        mark.Measure(Options, 50_000, backlogged: true, At(1.5));
        Assert.Equal(262_144, mark.Bytes);
    }

    [Fact]
    public void ABackloggedWindowOfEightMillisecondsOrMore_SetsTheMarkToWhatItDrainsInPaceMilliseconds()
    {
        var mark = Backlogged();
        mark.Measure(Options, 100_000, backlogged: true, At(10)); // 10 MB/s: 20,000 bytes in 2 ms
        Assert.InRange(mark.Bytes, 19_990, 20_010);
    }

    [Fact]
    public void AShorterWindow_MovesItPartOfTheWay()
    {
        var mark = Backlogged();
        mark.Measure(Options, 20_000, backlogged: true, At(2)); // 20,000 in 2 ms, a quarter of the way from 262,144
        Assert.InRange(mark.Bytes, 201_600, 201_620);

        mark.Measure(Options, 20_000, backlogged: true, At(4)); // a new window began at 2 ms: a quarter again
        Assert.InRange(mark.Bytes, 156_200, 156_220);
    }

    [Fact]
    public void AStall_SetsItToTheMinimum_AndAFastDrainNeverPastPaceBytes()
    {
        var mark = Backlogged();
        mark.Measure(Options, 65_536, backlogged: true, At(500)); // half a second for 64 KiB
        Assert.Equal(16_384, mark.Bytes);

        mark.Measure(Options, 100_000_000, backlogged: true, At(510)); // 10 GB/s
        Assert.Equal(262_144, mark.Bytes);
    }

    [Fact]
    public void ASpanInWhichEveryPassEmptiedTheOutbox_RaisesTheMark_ButNeverLowersIt()
    {
        var mark = Backlogged();
        mark.Measure(Options, 65_536, backlogged: true, At(500));
        Assert.Equal(16_384, mark.Bytes); // after a stall

        // Emptied every millisecond, 40,000 bytes each time: counted once 8 ms have passed since the first of them, it
        // drains at least 80,000 bytes per 2 ms.
        for (var ms = 1; ms <= 8; ms++)
        {
            mark.Measure(Options, 40_000, backlogged: false, At(600 + ms));
            Assert.Equal(16_384, mark.Bytes); // not yet a whole span
        }

        mark.Measure(Options, 40_000, backlogged: false, At(609));
        Assert.InRange(mark.Bytes, 79_990, 80_010);

        // Emptied slowly: the arrivals were slow, which says nothing against the drain.
        mark.Measure(Options, 1_000, backlogged: false, At(700));
        mark.Measure(Options, 1_000, backlogged: false, At(800));
        Assert.InRange(mark.Bytes, 79_990, 80_010);
    }

    [Fact]
    public void ASpanInWhichAWindowWasMeasured_RaisesNothing()
    {
        var mark = Backlogged();
        mark.Measure(Options, 65_536, backlogged: true, At(500));
        mark.Measure(Options, 1_000, backlogged: false, At(500.5)); // emptied: a span begins
        mark.Measure(Options, 0, backlogged: true, At(501)); // a backlog...
        mark.Measure(Options, 10_000, backlogged: true, At(504)); // ...of 3 ms: a slow drain, measured
        Assert.Equal(16_384, mark.Bytes);

        // The transport takes the rest in bursts (its buffer had room): within the span, which the window spoke for.
        for (var ms = 505; ms <= 509; ms++)
        {
            mark.Measure(Options, 60_000, backlogged: false, At(ms));
        }

        Assert.Equal(16_384, mark.Bytes);
    }

    [Fact]
    public void BackloggedPassesOfUnderTwoMilliseconds_DoNotKeepASteadyFastDrainFromRaisingTheMark()
    {
        var mark = Backlogged();
        mark.Measure(Options, 65_536, backlogged: true, At(500));
        Assert.Equal(16_384, mark.Bytes);

        // Many paced publishers: each burst is more than one pass takes, so a pass leaves a moment's backlog and the
        // next empties it, every half millisecond.
        for (var i = 1; i <= 40; i++)
        {
            mark.Measure(Options, 30_000, backlogged: i % 2 == 0, At(500 + (i * 0.25)));
        }

        Assert.True(mark.Bytes > 100_000, $"raised to {mark.Bytes}");
    }

    [Fact]
    public void AWindow_CountsThePassThatEmptiesIt_ButABacklogUnderTwoMillisecondsCountsForNothing()
    {
        var mark = Backlogged();
        mark.Measure(Options, 1_000, backlogged: false, At(1)); // emptied after 1 ms
        Assert.Equal(262_144, mark.Bytes);

        var slow = Backlogged();
        slow.Measure(Options, 100_000, backlogged: false, At(10)); // backlogged for 10 ms, emptied by the last pass
        Assert.InRange(slow.Bytes, 19_990, 20_010);
    }

    [Fact]
    public void ABurstTakenAtOnce_RaisesALowMarkByAQuarterOfItselfPerTwoMilliseconds()
    {
        var mark = Backlogged();
        mark.Measure(Options, 65_536, backlogged: true, At(500));
        mark.Measure(Options, 1_000, backlogged: false, At(500.05)); // emptied: a span begins
        mark.Measure(Options, 200_000, backlogged: false, At(500.1)); // the transport had room for all of it
        mark.Measure(Options, 0, backlogged: false, At(508.05));
        Assert.InRange(mark.Bytes, 49_990, 50_010);
    }

    [Fact]
    public void SlowArrivalsIntoAnEmptyOutbox_DoNotRaiseALowMark()
    {
        var mark = new PaceMark(16_384);
        mark.Measure(Options, 1_000, backlogged: false, At(0));
        mark.Measure(Options, 1_000, backlogged: false, At(100));
        mark.Measure(Options, 1_000, backlogged: false, At(200));
        Assert.Equal(16_384, mark.Bytes);
    }
}
