using Daakia.Core.Storage;
using Daakia.Testing;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>
/// An MQTT session reads on while the previous read's acknowledgements wait for their commit: the acknowledgements
/// still go in order (MQTT-4.6.0-2), and after a write that failed nothing later is acknowledged.
/// </summary>
public sealed class MqttReadAheadTests
{
    /// <summary>A host whose store stalls its next batch until released (then fails it when asked); a persistent
    /// session offline on d/# so a publish there waits for a durable write; a live watcher on d/# and f/#, which
    /// shows when the server has routed a publication (so the next is sure to come in a later read).</summary>
    private static async Task<(DaakiaTestHost Host, MqttTestClient Watcher, Func<bool> Stalled, Action<bool> Release)> StartAsync()
    {
        var host = await DaakiaTestHost.StartAsync();
        await using (var keeper = await MqttTestClient.ConnectAsync(host, "keeper", MqttProtocolVersion.V311, b => b.WithCleanSession(false)))
        {
            await keeper.SubscribeAsync("d/#");
        }

        var watcher = await MqttTestClient.ConnectAsync(host, "watcher", MqttProtocolVersion.V311);
        await watcher.SubscribeAsync("f/#", MqttQualityOfServiceLevel.AtMostOnce);
        await watcher.SubscribeAsync("d/#", MqttQualityOfServiceLevel.AtMostOnce);
        var stalled = 0;
        var fail = false;
        var released = new ManualResetEventSlim(false);
        StoreHooks.BeforeBatch(host.Get<IDaakiaStore>(), _ =>
        {
            if (released.IsSet)
            {
                if (Volatile.Read(ref fail))
                {
                    throw new IOException("simulated disk failure");
                }

                return;
            }

            // Once: a test that fails before it releases the store must not stall every batch after (its host's stop).
            if (Interlocked.Exchange(ref stalled, 1) == 0)
            {
                released.Wait(TimeSpan.FromSeconds(30));
            }

            if (Volatile.Read(ref fail))
            {
                throw new IOException("simulated disk failure");
            }
        });
        return (host, watcher, () => Volatile.Read(ref stalled) == 1, f =>
        {
            Volatile.Write(ref fail, f);
            released.Set();
        });
    }

    /// <summary>A 3.1.1 QoS 1 PUBLISH of one-byte <paramref name="payload"/> on a three-character topic.</summary>
    private static byte[] Publish(string topic, byte id, char payload) =>
        [0x32, (byte)(2 + topic.Length + 2 + 1), 0, (byte)topic.Length, .. System.Text.Encoding.ASCII.GetBytes(topic), 0, id, (byte)payload];

    [Fact]
    public async Task AnAckThatNeedsNoWrite_WaitsBehindTheEarlierOneThatDoes()
    {
        var (host, watcher, stalled, release) = await StartAsync();
        await using var _ = host;
        await using var w = watcher;
        await using var pub = await RawMqttSocket.ConnectAsync(host);
        await pub.SendAsync(RawMqttSocket.Connect("pub"));
        Assert.Equal([0x20, 2, 0, 0], await pub.ReadExactlyAsync(4));
        try
        {
            await pub.SendAsync(Publish("d/x", 1, 'A'));
            await watcher.WaitForAsync(1, "A was routed, its write waits");
            // The writer takes the batch in its own time (a loaded machine: later than the route).
            await Eventually.True(stalled, "the store holds its batch");
            await pub.SendAsync(Publish("f/x", 2, 'B')); // comes in a later read: A's was handled already
            await watcher.WaitForAsync(2, "B was routed (read while A's write waits)");
        }
        finally
        {
            release(false); // also when an assertion failed: the host's stop must not wait on the stalled batch
        }

        // The PUBACKs in the order of the PUBLISHes (MQTT-4.6.0-2): B needs no write, but waits behind A.
        Assert.Equal([0x40, 2, 0, 1, 0x40, 2, 0, 2], await pub.ReadExactlyAsync(8));
    }

    [Fact]
    public async Task AfterAWriteFails_ALaterPublishIsNotAcknowledged_AndTheConnectionEnds()
    {
        var (host, watcher, stalled, release) = await StartAsync();
        host.ExpectErrors = true; // the store logs its fault at Critical, on purpose here
        await using var _ = host;
        await using var w = watcher;
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub", MqttProtocolVersion.V311);
        Task a, b;
        try
        {
            a = pub.PublishAsync("d/x", "A");
            await watcher.WaitForAsync(1, "A was routed, its write waits");
            await Eventually.True(stalled, "the store holds its batch");
            b = pub.PublishAsync("f/x", "B");
            await watcher.WaitForAsync(2, "B was routed (read while A's write waits)");
            Assert.False(b.IsCompleted, "B is not acknowledged while A's write waits");
        }
        finally
        {
            release(true); // the stalled batch fails (also when an assertion failed: the host's stop must not wait on it)
        }

        await pub.Disconnected.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await Assert.ThrowsAnyAsync<Exception>(() => a.WaitAsync(TimeSpan.FromSeconds(15)));
        await Assert.ThrowsAnyAsync<Exception>(() => b.WaitAsync(TimeSpan.FromSeconds(15)));
    }
}
