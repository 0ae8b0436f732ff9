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
    /// <summary>
    /// Holds the store's next batch on its writer until released, once (then fails it and every batch after, when
    /// asked). Disposing releases it: a test that fails before its release must not leave its host's stop waiting.
    /// </summary>
    private sealed class Stall : IDisposable
    {
        private readonly ManualResetEventSlim _released = new(false);
        private int _stalled;
        private bool _fail;

        public Stall(IDaakiaStore store) => StoreHooks.BeforeBatch(store, _ =>
        {
            // Longer than any wait of the test before its release: the writer never frees itself early.
            if (!_released.IsSet && Interlocked.Exchange(ref _stalled, 1) == 0)
            {
                _released.Wait(TimeSpan.FromMinutes(2));
            }

            if (Volatile.Read(ref _fail))
            {
                throw new IOException("simulated disk failure");
            }
        });

        /// <summary>The writer took a batch and holds it.</summary>
        public bool Stalled => Volatile.Read(ref _stalled) == 1;

        public void Release(bool fail)
        {
            Volatile.Write(ref _fail, fail);
            _released.Set();
        }

        public void Dispose()
        {
            _released.Set();
            _released.Dispose();
        }
    }

    /// <summary>A host with a persistent session offline on d/# (a publish there waits for a durable write) and a live
    /// watcher on d/# and f/#, which shows when the server has routed a publication (so the next is sure to come in a
    /// later read).</summary>
    private static async Task<(DaakiaTestHost Host, MqttTestClient Watcher)> StartAsync()
    {
        var host = await DaakiaTestHost.StartAsync();
        await using (var keeper = await MqttTestClient.ConnectAsync(host, "keeper", MqttProtocolVersion.V311, b => b.WithCleanSession(false)))
        {
            await keeper.SubscribeAsync("d/#");
        }

        var watcher = await MqttTestClient.ConnectAsync(host, "watcher", MqttProtocolVersion.V311);
        await watcher.SubscribeAsync("f/#", MqttQualityOfServiceLevel.AtMostOnce);
        await watcher.SubscribeAsync("d/#", MqttQualityOfServiceLevel.AtMostOnce);
        return (host, watcher);
    }

    /// <summary>A 3.1.1 QoS 1 PUBLISH of one-byte <paramref name="payload"/> on a three-character topic.</summary>
    private static byte[] Publish(string topic, byte id, char payload) =>
        [0x32, (byte)(2 + topic.Length + 2 + 1), 0, (byte)topic.Length, .. System.Text.Encoding.ASCII.GetBytes(topic), 0, id, (byte)payload];

    [Fact]
    public async Task AnAckThatNeedsNoWrite_WaitsBehindTheEarlierOneThatDoes()
    {
        var (host, watcher) = await StartAsync();
        await using var _ = host;
        await using var w = watcher;
        await using var pub = await RawMqttSocket.ConnectAsync(host);
        await pub.SendAsync(RawMqttSocket.Connect("pub"));
        Assert.Equal([0x20, 2, 0, 0], await pub.ReadExactlyAsync(4));
        using (var stall = new Stall(host.Get<IDaakiaStore>()))
        {
            await pub.SendAsync(Publish("d/x", 1, 'A'));
            await watcher.WaitForAsync(1, "A was routed, its write waits");
            // The writer takes the batch in its own time (on a loaded machine later than the route).
            await Eventually.True(() => stall.Stalled, "the store holds its batch");
            await pub.SendAsync(Publish("f/x", 2, 'B')); // comes in a later read: A's was handled already
            await watcher.WaitForAsync(2, "B was routed (read while A's write waits)");
            stall.Release(false);
        }

        // The PUBACKs in the order of the PUBLISHes (MQTT-4.6.0-2): B needs no write, but waits behind A.
        Assert.Equal([0x40, 2, 0, 1, 0x40, 2, 0, 2], await pub.ReadExactlyAsync(8));
    }

    [Fact]
    public async Task AfterAWriteFails_ALaterPublishIsNotAcknowledged_AndTheConnectionEnds()
    {
        var (host, watcher) = await StartAsync();
        host.ExpectErrors = true; // the store logs its fault at Critical, on purpose here
        await using var _ = host;
        await using var w = watcher;
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub", MqttProtocolVersion.V311);
        Task a, b;
        using (var stall = new Stall(host.Get<IDaakiaStore>()))
        {
            a = pub.PublishAsync("d/x", "A");
            await watcher.WaitForAsync(1, "A was routed, its write waits");
            await Eventually.True(() => stall.Stalled, "the store holds its batch");
            b = pub.PublishAsync("f/x", "B");
            await watcher.WaitForAsync(2, "B was routed (read while A's write waits)");
            Assert.False(b.IsCompleted, "B is not acknowledged while A's write waits");
            stall.Release(true); // the held batch fails
        }

        await pub.Disconnected.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await Assert.ThrowsAnyAsync<Exception>(() => a.WaitAsync(TimeSpan.FromSeconds(15)));
        await Assert.ThrowsAnyAsync<Exception>(() => b.WaitAsync(TimeSpan.FromSeconds(15)));
    }
}
