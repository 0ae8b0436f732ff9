using Daakia.Testing;
using MQTTnet.Formatter;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>Limits and the rest of the hostile-input list: a tenant's connections, a PUBREL for an unknown id, a SUBSCRIBE flood.</summary>
public class MqttLimitTests
{
    [Fact]
    public async Task ATenantsConnectionLimit_CountsEveryProtocol_AndRefusesWithQuotaExceeded()
    {
        await using var host = await DaakiaTestHost.StartAsync(s => s["Daakia:Core:MaxConnectionsPerTenant"] = "2");
        await using var ws = await WsTestClient.HelloAsync(host, "web");
        await using var first = await MqttTestClient.ConnectAsync(host, "one");
        await using (var refused = await MqttTestClient.ConnectAsync(host, "two"))
        {
            Assert.Equal(MQTTnet.MqttClientConnectResultCode.QuotaExceeded, refused.ConnectResult!.ResultCode);
        }

        await using (var raw = await RawMqttSocket.ConnectAsync(host))
        {
            await raw.SendAsync(RawMqttSocket.Connect("three")); // 3.1.1: return code 3, server unavailable
            Assert.Equal(new byte[] { 0x20, 0x02, 0x00, 0x03 }, await raw.ReadUntilClosedAsync());
        }

        await first.DisposeAsync();
        await Eventually.True(async () =>
        {
            try
            {
                await using var again = await MqttTestClient.ConnectAsync(host, "four");
                return again.ConnectResult!.ResultCode == MQTTnet.MqttClientConnectResultCode.Success;
            }
            catch (MQTTnet.Adapter.MqttConnectingFailedException)
            {
                return false;
            }
        }, "room again once one left");
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task APubRelForAnUnknownId_IsAnsweredWithPubComp_NotAClose(MqttProtocolVersion version)
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        var v5 = version == MqttProtocolVersion.V500;
        await raw.SendAsync(RawMqttSocket.Connect("relay", v5 ? (byte)5 : (byte)4));
        var connack = new byte[v5 ? 5 : 4];
        await raw.Stream.ReadExactlyAsync(connack.AsMemory(0, 2));
        var rest = new byte[connack[1]];
        await raw.Stream.ReadExactlyAsync(rest);
        Assert.Equal(0, rest[1]); // accepted

        await raw.SendAsync(0x62, 0x02, 0x12, 0x34); // PUBREL, packet id 0x1234, never published
        var pubcomp = new byte[2];
        await raw.Stream.ReadExactlyAsync(pubcomp);
        Assert.Equal(0x70, pubcomp[0]);
        var body = new byte[pubcomp[1]];
        await raw.Stream.ReadExactlyAsync(body);
        Assert.Equal(new byte[] { 0x12, 0x34 }, body[..2]);
        if (v5)
        {
            Assert.Equal(0x92, body[2]); // Packet Identifier not found
        }

        await raw.SendAsync(0xC0, 0x00); // and the connection still answers
        var pong = new byte[2];
        await raw.Stream.ReadExactlyAsync(pong);
        Assert.Equal(new byte[] { 0xD0, 0x00 }, pong);
    }

    [Fact]
    public async Task AFloodOfSubscribes_FromAClientThatReadsNothing_IsHeldBack_AndTheLimitIsQuotaExceeded()
    {
        await using var host = await DaakiaTestHost.StartAsync(s =>
        {
            s["Daakia:Mqtt:OutboxCapacity"] = "64";
            s["Daakia:Core:MaxSubscriptionsPerConnection"] = "100";
        });
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        await raw.SendAsync(RawMqttSocket.Connect("flood"));
        var connack = new byte[4];
        await raw.Stream.ReadExactlyAsync(connack);

        // 20,000 SUBSCRIBEs written without reading a SUBACK: the server stops reading once half its outbox (64) is
        // answers, so the writes back up in TCP instead of in the server, and other connections go on.
        var flood = new List<byte>();
        for (var i = 1; i <= 20_000; i++)
        {
            var filter = System.Text.Encoding.ASCII.GetBytes($"f/{i % 200}");
            flood.AddRange([0x82, (byte)(2 + 2 + filter.Length + 1), (byte)(i >> 8), (byte)i, 0, (byte)filter.Length, .. filter, 0]);
        }

        var writing = raw.Stream.WriteAsync(flood.ToArray()).AsTask();
        await using var other = await MqttTestClient.ConnectAsync(host, "other");
        await other.SubscribeAsync("t");
        await other.PublishAsync("t", "unaffected");
        await other.WaitForAsync(1, "another connection's publication, during the flood");

        // Reading the answers lets it go on; filters past the 100th get 0x80 (3.1.1's failure code).
        var codes = new List<byte>();
        var buffer = new byte[5];
        while (codes.Count < 20_000)
        {
            await raw.Stream.ReadExactlyAsync(buffer); // SUBACK: 0x90, 3, id, id, code
            Assert.Equal(0x90, buffer[0]);
            codes.Add(buffer[4]);
        }

        await writing;
        Assert.Equal(20_000, codes.Count);
        Assert.Contains((byte)0x80, codes);
        Assert.Equal(100, codes.Take(200).Count(c => c == 0));
    }

    private static async Task<int> PublishAllAsync(MqttTestClient pub, int count)
    {
        var payload = new string('x', 1024);
        for (var i = 0; i < count; i++)
        {
            await pub.PublishAsync("paced", payload, MQTTnet.Protocol.MqttQualityOfServiceLevel.AtMostOnce);
        }

        return count;
    }

    /// <summary>A raw QoS 0 PUBLISH to <c>paced</c> with a 1,024-byte payload.</summary>
    internal static byte[] PacedPublish()
    {
        var publish = new byte[3 + 2 + 5 + 1024];
        publish[0] = 0x30;
        publish[1] = 0x87; // remaining length 1031
        publish[2] = 0x08;
        publish[4] = 5;
        "paced"u8.CopyTo(publish.AsSpan(5));
        return publish;
    }

    /// <summary>A raw 3.1.1 subscriber of <c>paced</c> at QoS 0 with a small receive buffer, which reads only when told.</summary>
    internal static async Task<RawMqttSocket> QuietSubscriberAsync(DaakiaTestHost host, string client)
    {
        var raw = await RawMqttSocket.ConnectAsync(host, receiveBuffer: 4096);
        await raw.SendAsync(RawMqttSocket.Connect(client));
        Assert.Equal([0x20, 2, 0, 0], await raw.ReadExactlyAsync(4));
        await raw.SendAsync(0x82, 10, 0, 1, 0, 5, (byte)'p', (byte)'a', (byte)'c', (byte)'e', (byte)'d', 0);
        Assert.Equal([0x90, 3, 0, 1, 0], await raw.ReadExactlyAsync(5));
        return raw;
    }

    [Fact]
    public async Task APublisher_IsPacedByASubscriberThatStopsReading_SoNothingIsDropped_AndGoesOnWhenItReadsAgain()
    {
        await using var host = await DaakiaTestHost.StartAsync(s =>
        {
            s["Daakia:Mqtt:OutboxBytes"] = "1048576";
            s["Daakia:Mqtt:PaceBytes"] = "65536";
            s["Daakia:Mqtt:PaceWaitMilliseconds"] = "60000";
        });
        var registry = host.Get<Daakia.Server.Mqtt.MqttSessionRegistry>();
        var engine = host.Get<Daakia.Core.DaakiaEngine>();
        await using var sub = await QuietSubscriberAsync(host, "slow");
        await using var pub = await MqttTestClient.ConnectAsync(host, "fast");

        // 4 MiB at QoS 0 into a subscriber that reads nothing: four times its outbox.
        const int Count = 4000;
        var publishing = PublishAllAsync(pub, Count);
        await Eventually.True(() => registry.PacedCount > 0, "the publisher paced");
        Assert.False(publishing.IsCompleted, "the publisher waits for the subscriber");

        Assert.Equal(Count, await sub.ReadPacketsAsync(3, Count)); // every publication, and nothing else
        Assert.Equal(Count, await publishing.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(0, engine.PublicationsDropped); // paced, not dropped
    }

    [Fact]
    public async Task APaceThatIsOverBeforeItIsWaitedFor_LeavesThePublisherConnected_AndEveryPublicationArrives()
    {
        // A tiny pacing mark and a subscriber that reads as fast as it can: most paces are over (the outbox drained
        // below half) before the publisher's read loop gets to wait for them, with nothing else held back.
        await using var host = await DaakiaTestHost.StartAsync(s =>
        {
            s["Daakia:Mqtt:PaceBytes"] = "8192";
            s["Daakia:Mqtt:PaceWaitMilliseconds"] = "60000";
        });
        var registry = host.Get<Daakia.Server.Mqtt.MqttSessionRegistry>();
        await using var sub = await MqttTestClient.ConnectAsync(host, "fast-reader");
        await sub.SubscribeAsync("paced", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtMostOnce);

        // Bare 3.1.1 clients that only publish at QoS 0: nothing of theirs ever waits for the store.
        const int Publishers = 8, Count = 3000;
        var publish = PacedPublish();
        await Task.WhenAll(Enumerable.Range(0, Publishers).Select(n => Task.Run(async () =>
        {
            await using var pub = await RawMqttSocket.ConnectAsync(host);
            await pub.SendAsync(RawMqttSocket.Connect($"bare-{n}"));
            Assert.Equal([0x20, 2, 0, 0], await pub.ReadExactlyAsync(4));
            var burst = new byte[publish.Length * 10];
            for (var i = 0; i < 10; i++)
            {
                publish.CopyTo(burst, i * publish.Length);
            }

            for (var i = 0; i < Count / 10; i++)
            {
                await pub.SendAsync(burst);
            }

            await pub.SendAsync(0xC0, 0); // PINGREQ after the last: answered only by a session that lived through them all
            Assert.Equal([0xD0, 0], await pub.ReadExactlyAsync(2, TimeSpan.FromSeconds(60)));
        })));
        await Eventually.True(() => sub.Received.Count >= Publishers * Count, $"every publication arrives ({sub.Received.Count})", TimeSpan.FromSeconds(30));
        Assert.Equal(Publishers * Count, sub.Received.Count);
        Assert.True(registry.PacedCount > 0, "the publisher was paced");
    }

    [Fact]
    public async Task ATakenOverMqtt5ClientThatReadsNothing_StillEnds_AfterItsDisconnectCouldNotBeWritten()
    {
        await using var host = await DaakiaTestHost.StartAsync(s =>
        {
            s["Daakia:Mqtt:OutboxBytes"] = "65536";
            s["Daakia:Mqtt:PaceBytes"] = "32768";
            s["Daakia:Mqtt:PaceWaitMilliseconds"] = "50";
        });
        var engine = host.Get<Daakia.Core.DaakiaEngine>();
        var registry = host.Get<Daakia.Server.Mqtt.MqttSessionRegistry>();

        // A 5.0 subscriber of "paced" with a small receive buffer that never reads: its writer ends up waiting in a
        // flush that never completes.
        await using var stuck = await RawMqttSocket.ConnectAsync(host, receiveBuffer: 4096);
        await stuck.SendAsync(RawMqttSocket.Connect("stuck", level: 5));
        var connack = await stuck.ReadExactlyAsync(2);
        Assert.Equal(0x20, connack[0]);
        Assert.Equal(0, (await stuck.ReadExactlyAsync(connack[1]))[1]); // success (its properties follow)
        await stuck.SendAsync(0x82, 11, 0, 1, 0, 0, 5, (byte)'p', (byte)'a', (byte)'c', (byte)'e', (byte)'d', 0);
        Assert.Equal([0x90, 4, 0, 1, 0, 0], await stuck.ReadExactlyAsync(6));
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        Assert.Equal(3000, await PublishAllAsync(pub, 3000).WaitAsync(TimeSpan.FromSeconds(60)));
        await Eventually.True(() => engine.PublicationsDropped > 0, "the stuck subscriber's outbox is full");
        Assert.Equal(2, registry.Running);

        // Taken over: its DISCONNECT (0x8E) waits behind the flush. The session must end all the same (within the close
        // grace), not wait for TCP to give up on it.
        await using var again = await MqttTestClient.ConnectAsync(host, "stuck");
        await Eventually.True(() => registry.Running == 2, $"the old session ended ({registry.Running} sessions run)", TimeSpan.FromSeconds(15));
        Assert.True(again.Client.IsConnected);
    }

    [Fact]
    public async Task ASubscriberThatNeverReads_SlowsItsPublisher_OnlyForPaceWaitMilliseconds_AndItsBoundDropsTheRest()
    {
        await using var host = await DaakiaTestHost.StartAsync(s =>
        {
            s["Daakia:Mqtt:OutboxBytes"] = "65536";
            s["Daakia:Mqtt:PaceBytes"] = "32768";
            s["Daakia:Mqtt:PaceWaitMilliseconds"] = "50";
        });
        var engine = host.Get<Daakia.Core.DaakiaEngine>();
        await using var stuck = await QuietSubscriberAsync(host, "stuck");
        await using var other = await MqttTestClient.ConnectAsync(host, "other");
        await other.SubscribeAsync("paced", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtMostOnce);
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");

        Assert.Equal(3000, await PublishAllAsync(pub, 3000).WaitAsync(TimeSpan.FromSeconds(60)));
        await Eventually.True(() => other.Received.Count >= 3000, $"the reading subscriber gets all ({other.Received.Count})", TimeSpan.FromSeconds(30));
        Assert.True(engine.PublicationsDropped > 0, "the stuck subscriber's outbox dropped what it could not hold");
    }

    [Fact]
    public async Task APublisherSubscribedToItsOwnTopic_IsNeverPacedOnItsOwnOutbox()
    {
        await using var host = await DaakiaTestHost.StartAsync(s =>
        {
            s["Daakia:Mqtt:OutboxBytes"] = "65536";
            s["Daakia:Mqtt:PaceBytes"] = "32768";
            s["Daakia:Mqtt:PaceWaitMilliseconds"] = "60000";
        });
        var engine = host.Get<Daakia.Core.DaakiaEngine>();
        await using var other = await MqttTestClient.ConnectAsync(host, "other");
        await other.SubscribeAsync("paced", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtMostOnce);

        // A subscriber of "paced" that publishes to "paced" and reads nothing: its own outbox fills.
        await using var self = await QuietSubscriberAsync(host, "self");
        var publish = PacedPublish();
        for (var i = 0; i < 3000; i++)
        {
            await self.SendAsync(publish);
        }

        // Paced on its own outbox it would wait PaceWaitMilliseconds (a minute) per publication; on "other" only briefly.
        await Eventually.True(() => other.Received.Count >= 3000, $"every publication routed ({other.Received.Count})", TimeSpan.FromSeconds(30));
        Assert.True(engine.PublicationsDropped > 0, "its own outbox filled past its bound");
    }

    [Fact]
    public async Task SubscribersThatStaySlow_PaceTheirPublisherOnce_NotForEveryPublication()
    {
        await using var host = await DaakiaTestHost.StartAsync(s =>
        {
            s["Daakia:Mqtt:OutboxBytes"] = "65536";
            s["Daakia:Mqtt:PaceBytes"] = "32768";
            s["Daakia:Mqtt:PaceWaitMilliseconds"] = "1500";
        });
        var registry = host.Get<Daakia.Server.Mqtt.MqttSessionRegistry>();
        await using var a = await QuietSubscriberAsync(host, "a");
        await using var b = await QuietSubscriberAsync(host, "b");
        await using var c = await QuietSubscriberAsync(host, "c");
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");

        // Once a stuck outbox made the publisher wait in vain it is exempt until it drains: without that every
        // publication after would wait 1.5 s, and 3000 would take over an hour.
        Assert.Equal(3000, await PublishAllAsync(pub, 3000).WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.InRange(registry.PacedCount, 1, 100);
    }
}
