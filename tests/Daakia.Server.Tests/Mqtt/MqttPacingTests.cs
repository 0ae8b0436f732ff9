using Daakia.Server.Mqtt;
using Daakia.Testing;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>
/// Publisher pacing's mark: how far a paced read overshoots it, and how it follows a subscriber's drain
/// (MqttSession.Pacing.cs). The pacing itself (paced, not dropped; bounded waits; never on its own outbox) is in
/// <see cref="MqttLimitTests"/>.
/// </summary>
public class MqttPacingTests
{
    /// <summary>What one 1,024-byte publication of <see cref="MqttLimitTests.PacedPublish"/> counts in an outbox (payload,
    /// topic and the fixed allowance).</summary>
    private const long PacketInOutbox = 1024 + 5 + 64;

    [Fact]
    public async Task APacedRead_GoesOnAtMostForItsReadAhead_SoTheOutboxOvershootsItsMarkByAFewPackets()
    {
        const long Mark = 65536;
        await using var host = await DaakiaTestHost.StartAsync(s =>
        {
            s["Daakia:Mqtt:OutboxBytes"] = "8388608";
            s["Daakia:Mqtt:PaceBytes"] = Mark.ToString(System.Globalization.CultureInfo.InvariantCulture);
            s["Daakia:Mqtt:PaceMilliseconds"] = "0"; // the mark stays PaceBytes
            s["Daakia:Mqtt:PaceWaitMilliseconds"] = "60000";
        });
        var registry = host.Get<MqttSessionRegistry>();
        await using var stuck = await MqttLimitTests.QuietSubscriberAsync(host, "stuck");
        var subscriber = registry.Find(Daakia.Core.TenantId.Default, Daakia.Core.ClientId.Parse("stuck"))!;

        // One publisher that writes 4 MiB in bursts of 100 publications (100 KiB per write): its reads are far longer
        // than the read-ahead, and the subscriber takes nothing.
        await using var pub = await RawMqttSocket.ConnectAsync(host);
        await pub.SendAsync(RawMqttSocket.Connect("bursts"));
        Assert.Equal([0x20, 2, 0, 0], await pub.ReadExactlyAsync(4));
        var publish = MqttLimitTests.PacedPublish();
        var burst = new byte[publish.Length * 100];
        for (var i = 0; i < 100; i++)
        {
            publish.CopyTo(burst, i * publish.Length);
        }

        using var stop = new CancellationTokenSource();
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < 40 && !stop.IsCancellationRequested; i++)
            {
                await pub.Stream.WriteAsync(burst, stop.Token);
            }
        });

        // Each time the outbox passes its mark, at most the read-ahead (4 KiB of input: four publications here) goes in
        // after the packet that passed it, never the rest of the 100 KiB read. Until the subscriber's socket is full the
        // writer still takes some out (and the publisher goes on once it is down to half); then the publisher waits (a
        // minute) on an outbox that never drains, past its mark.
        var limit = Mark + 4096 + 2 * PacketInOutbox;
        var samples = 0;
        await Eventually.True(() =>
        {
            var (mark, queued) = subscriber.PaceState;
            Assert.Equal(Mark, mark);
            Assert.InRange(queued, 0, limit);
            samples++;
            return queued > Mark && registry.PacedCount > 0;
        }, "the stuck subscriber's outbox passes its mark and its publisher is paced");

        // Sampled twenty times more (polled as Eventually polls: under a second), it never goes past the limit, and ends
        // past its mark (the writer stuck).
        var before = samples;
        await Eventually.True(() =>
        {
            Assert.InRange(subscriber.PaceState.Queued, 0, limit);
            return ++samples - before >= 20;
        }, "twenty more samples within the limit");

        await Eventually.True(() => subscriber.PaceState.Queued > Mark, "the outbox stays past its mark");
        Assert.InRange(subscriber.PaceState.Queued, Mark + 1, limit);
        await stop.CancelAsync();
        try
        {
            await sending; // cancelled while it waits for the paced server to read
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
        }
    }

    [Fact]
    public async Task ASubscriberThatDrainsSlowly_LowersItsMark_ToTheMinimum_AndNeverBelowIt()
    {
        const long Highest = 262144, Lowest = 16384;
        await using var host = await DaakiaTestHost.StartAsync(s =>
        {
            s["Daakia:Mqtt:OutboxBytes"] = "8388608";
            s["Daakia:Mqtt:PaceBytes"] = "262144";
            s["Daakia:Mqtt:PaceMinimumBytes"] = "16384";
            s["Daakia:Mqtt:PaceMilliseconds"] = "2";
            s["Daakia:Mqtt:PaceWaitMilliseconds"] = "60000";
        });
        var registry = host.Get<MqttSessionRegistry>();
        var engine = host.Get<Daakia.Core.DaakiaEngine>();
        await using var slow = await MqttLimitTests.QuietSubscriberAsync(host, "slow");
        var subscriber = registry.Find(Daakia.Core.TenantId.Default, Daakia.Core.ClientId.Parse("slow"))!;
        Assert.Equal(Highest, subscriber.PaceState.Mark); // nothing measured yet

        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        const int Count = 8000;
        var payload = new string('x', 1024);
        var publishing = Task.Run(async () =>
        {
            for (var i = 0; i < Count; i++)
            {
                await pub.PublishAsync("paced", payload, MQTTnet.Protocol.MqttQualityOfServiceLevel.AtMostOnce);
            }
        });

        // The subscriber reads nothing until its socket is full and its outbox past the mark (the publisher paced on
        // it); then it takes 32 publications (~32 KiB) per 10 ms tick: at most ~3 MB/s, so what it drains in 2 ms is
        // under the minimum, and the mark comes down to it. Most of what it reads comes out of the
        // sockets' buffers (hundreds of KiB), so the outbox's writer gets a pass only when they free up: 8 MiB make
        // enough of those passes on a slow or busy machine.
        await Eventually.True(() => subscriber.PaceState is var (m, q) && q > m && registry.PacedCount > 0, "the subscriber's outbox passes its mark");
        long lowest = Highest;
        var read = 0;
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(10)); // the subscriber's own rate: 32 per tick
        while (read < Count)
        {
            var n = Math.Min(32, Count - read);
            Assert.Equal(n, await slow.ReadPacketsAsync(3, n));
            read += n;
            var mark = subscriber.PaceState.Mark;
            Assert.InRange(mark, Lowest, Highest);
            lowest = Math.Min(lowest, mark);
            await tick.WaitForNextTickAsync(); // the load's shape, not a wait for the server
        }

        await publishing.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(registry.PacedCount > 0, "the publisher was paced");
        Assert.True(lowest <= 2 * Lowest, $"the mark followed the drain down (lowest {lowest})");
        Assert.Equal(0, engine.PublicationsDropped); // paced, not dropped
    }
}
