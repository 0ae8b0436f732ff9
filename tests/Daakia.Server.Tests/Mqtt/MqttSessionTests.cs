using System.Text;
using System.Text.Json.Nodes;
using Daakia.Core;
using Daakia.Testing;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>Persistent sessions (clean session 0 / session expiry above 0) through the real listener: queued while the
/// client is away, resent unacknowledged with DUP, durable across restarts and kill -9, expiring, bounded.</summary>
public class MqttSessionTests
{
    /// <summary>Connects keeping (or resuming) the session: 3.1.1 clean session 0, 5.0 clean start 0 with an expiry.</summary>
    private static Task<MqttTestClient> ResumeAsync(int port, string client, MqttProtocolVersion version, uint expiry = 3600, bool acknowledge = true) =>
        MqttTestClient.ConnectAsync(port, client, version, b =>
        {
            b.WithCleanSession(false);
            if (version == MqttProtocolVersion.V500)
            {
                b.WithSessionExpiryInterval(expiry);
            }
        }, acknowledge);

    private static TenantId Tenant(DaakiaTestHost host) => host.Get<TenantResolver>().Default;

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task WhatIsPublishedWhileTheClientIsAway_ArrivesWhenItComesBack_InOrder_WithSessionPresent(MqttProtocolVersion version)
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using (var first = await ResumeAsync(host.MqttPort, "dev", version))
        {
            Assert.False(first.ConnectResult!.IsSessionPresent, "a new session");
            await first.SubscribeAsync("fleet/#", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        // Away means the server has ended that connection: until then a publish may still be written to it, and comes
        // again with DUP (rightly: it may have been received), which this test's "never sent before" would not allow.
        await Eventually.True(() => !host.Get<DaakiaEngine>().Presence.IsOnline(Tenant(host), ClientId.Parse("dev")), "the first connection has ended");
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub", version);
        for (var i = 0; i < 20; i++)
        {
            Assert.True((await pub.PublishAsync($"fleet/{i % 3}", $"m{i}")).IsSuccess, $"PUBACK {i}");
        }

        await pub.PublishAsync("fleet/0", "at most once", MqttQualityOfServiceLevel.AtMostOnce); // not kept for an offline session
        await pub.Client.PingAsync(); // its PINGRESP follows the QoS 0 publish's routing (one read loop, in order)
        Assert.Equal(20, host.Get<DaakiaEngine>().Sessions.QueuedFor(Tenant(host), ClientId.Parse("dev")));

        await using var back = await ResumeAsync(host.MqttPort, "dev", version);
        Assert.True(back.ConnectResult!.IsSessionPresent, "the session was resumed");
        await back.WaitForAsync(20, "the queued messages, without subscribing again");
        await back.Client.PingAsync();
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"m{i}"), back.Payloads);
        Assert.All(back.Received, m => Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, m.QualityOfServiceLevel));
        Assert.All(back.Received, m => Assert.False(m.Dup, "never sent before"));

        // Online now: live messages come through the session's queue too, and the PUBACKs empty it.
        await pub.PublishAsync("fleet/9", "live");
        await back.WaitForAsync(21, "a live message");
        await Eventually.True(() => host.Get<DaakiaEngine>().Sessions.QueuedFor(Tenant(host), ClientId.Parse("dev")) == 0, "the queue emptied by the PUBACKs");
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task MessagesNotAcknowledged_ComeAgainOnReconnect_WithDup_AndTheirPacketIds(MqttProtocolVersion version)
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub", version);
        List<ushort> firstIds;
        await using (var deaf = await ResumeAsync(host.MqttPort, "deaf", version, acknowledge: false))
        {
            await deaf.SubscribeAsync("t", MqttQualityOfServiceLevel.AtLeastOnce);
            for (var i = 0; i < 5; i++)
            {
                await pub.PublishAsync("t", $"m{i}");
            }

            await deaf.WaitForAsync(5, "the messages, not acknowledged");
            firstIds = [.. deaf.PacketIds];
        }

        await using var again = await ResumeAsync(host.MqttPort, "deaf", version);
        await again.WaitForAsync(5, "the same messages again");
        Assert.Equal(["m0", "m1", "m2", "m3", "m4"], again.Payloads);
        Assert.All(again.Received, m => Assert.True(m.Dup, "sent before: DUP"));
        Assert.Equal(firstIds, [.. again.PacketIds]); // MQTT-4.4.0-1
        await Eventually.True(() => host.Get<DaakiaEngine>().Sessions.QueuedFor(Tenant(host), ClientId.Parse("deaf")) == 0, "acknowledged this time");
        await again.Client.DisconnectAsync();

        await using var third = await ResumeAsync(host.MqttPort, "deaf", version);
        await third.Client.PingAsync();
        await pub.PublishAsync("t", "after");
        await third.WaitForAsync(1, "the next message");
        Assert.Equal(["after"], third.Payloads);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task ACleanStart_DiscardsTheSession_ItsSubscriptionsAndItsQueue(MqttProtocolVersion version)
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using (var c = await ResumeAsync(host.MqttPort, "dev", version))
        {
            await c.SubscribeAsync("a", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await using var pub = await MqttTestClient.ConnectAsync(host, "pub", version);
        await pub.PublishAsync("a", "queued");
        await using (var clean = await MqttTestClient.ConnectAsync(host, "dev", version))
        {
            Assert.False(clean.ConnectResult!.IsSessionPresent);
            await pub.PublishAsync("a", "nobody subscribed");
            await clean.Client.PingAsync();
            Assert.Empty(clean.Received);
        }

        Assert.Equal(0, host.Get<DaakiaEngine>().Sessions.Count(Tenant(host)));
        await using var later = await ResumeAsync(host.MqttPort, "dev", version);
        Assert.False(later.ConnectResult!.IsSessionPresent, "the old session is gone");
        await later.Client.PingAsync();
        Assert.Empty(later.Received);
    }

    [Fact]
    public async Task ASessionExpires_WhenItsClientStaysAwayPastTheInterval_Mqtt5()
    {
        await using var host = await DaakiaTestHost.StartAsync(s => s["Daakia:Core:ExpirySweepInterval"] = "00:00:00.2");
        await using (var c = await ResumeAsync(host.MqttPort, "brief", MqttProtocolVersion.V500, expiry: 1))
        {
            await c.SubscribeAsync("a", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await using (var keeps = await ResumeAsync(host.MqttPort, "keeps", MqttProtocolVersion.V500, expiry: 3600))
        {
            await keeps.SubscribeAsync("a", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        var sessions = host.Get<DaakiaEngine>().Sessions;
        Assert.Equal(2, sessions.Count(Tenant(host)));
        await Eventually.True(() => sessions.Count(Tenant(host)) == 1, "the one-second session expired", TimeSpan.FromSeconds(10));
        await using var back = await ResumeAsync(host.MqttPort, "brief", MqttProtocolVersion.V500, expiry: 1);
        Assert.False(back.ConnectResult!.IsSessionPresent);
        await using var other = await ResumeAsync(host.MqttPort, "keeps", MqttProtocolVersion.V500);
        Assert.True(other.ConnectResult!.IsSessionPresent);
    }

    [Fact]
    public async Task ASessionWithExpiryZero_EndsWithItsConnection_Mqtt5()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using (var c = await ResumeAsync(host.MqttPort, "dev", MqttProtocolVersion.V500, expiry: 3600))
        {
            await c.SubscribeAsync("a", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        // Resumed with expiry 0: present now, gone once this connection ends.
        await using (var c = await ResumeAsync(host.MqttPort, "dev", MqttProtocolVersion.V500, expiry: 0))
        {
            Assert.True(c.ConnectResult!.IsSessionPresent);
        }

        await Eventually.True(() => host.Get<DaakiaEngine>().Sessions.Count(Tenant(host)) == 0, "the session ended with its connection");
    }

    [Fact]
    public async Task AFullSessionQueue_DropsForThatSessionOnly_AndThePublisherIsStillAcknowledged()
    {
        await using var host = await DaakiaTestHost.StartAsync(s => s["Daakia:Core:MaxSessionQueuedMessages"] = "5");
        foreach (var id in new[] { "small", "other" })
        {
            await using var c = await ResumeAsync(host.MqttPort, id, MqttProtocolVersion.V500);
            await c.SubscribeAsync(id == "small" ? "x" : "y", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        for (var i = 0; i < 8; i++)
        {
            Assert.True((await pub.PublishAsync("x", $"x{i}")).IsSuccess);
        }

        Assert.True((await pub.PublishAsync("y", "y0")).IsSuccess);
        Assert.Equal(3, host.Get<DaakiaEngine>().Sessions.Dropped);
        await using var small = await ResumeAsync(host.MqttPort, "small", MqttProtocolVersion.V500);
        await small.WaitForAsync(5, "the first five");
        await small.Client.PingAsync();
        Assert.Equal(["x0", "x1", "x2", "x3", "x4"], small.Payloads);
        await using var other = await ResumeAsync(host.MqttPort, "other", MqttProtocolVersion.V500);
        await other.WaitForAsync(1, "the other session's message");
    }

    [Fact]
    public async Task SessionsAndTheirQueues_SurviveARestart()
    {
        var dataDir = Unique.TempDirectory();
        await using (var host = await DaakiaTestHost.StartAsync(dataDirectory: dataDir))
        {
            await using (var c = await ResumeAsync(host.MqttPort, "dev", MqttProtocolVersion.V500))
            {
                await c.SubscribeAsync("q/+", MqttQualityOfServiceLevel.ExactlyOnce, subscriptionId: 7);
            }

            await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
            await pub.PublishAsync("q/1", "one", MqttQualityOfServiceLevel.ExactlyOnce);
            await pub.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("q/2").WithPayload("two")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithUserProperty("k", "v"u8.ToArray()).WithResponseTopic("r/1").Build());
        }

        await using (var host = await DaakiaTestHost.StartAsync(dataDirectory: dataDir))
        {
            await using var back = await ResumeAsync(host.MqttPort, "dev", MqttProtocolVersion.V500);
            Assert.True(back.ConnectResult!.IsSessionPresent);
            await back.WaitForAsync(2, "both queued messages after the restart");
            var (one, two) = (back.Received.First(), back.Received.Last());
            Assert.Equal(("q/1", "one", MqttQualityOfServiceLevel.ExactlyOnce), (one.Topic, Encoding.UTF8.GetString(one.Payload), one.QualityOfServiceLevel));
            Assert.Equal(("q/2", "two", MqttQualityOfServiceLevel.AtLeastOnce), (two.Topic, Encoding.UTF8.GetString(two.Payload), two.QualityOfServiceLevel));
            Assert.Equal("r/1", two.ResponseTopic);
            Assert.Null(one.CorrelationData); // none was sent, so none comes back from the store (not an empty one)
            Assert.Null(two.CorrelationData);
            Assert.Equal(("k", "v"), (two.UserProperties.Single().Name, Encoding.UTF8.GetString(two.UserProperties.Single().ValueBuffer.Span)));
            Assert.Equal([7u], one.SubscriptionIdentifiers);

            // The subscription came back with the session: a new publish reaches it.
            await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
            await pub.PublishAsync("q/3", "three");
            await back.WaitForAsync(3, "a publish after the restart");
        }

        Directory.Delete(dataDir, recursive: true);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("journal")]
    public async Task EveryAcknowledgedPublish_ToAnOfflineSession_SurvivesKillDashNine_InOrder(string storage)
    {
        var dataDir = Unique.TempDirectory();
        var acked = new List<int>();
        await using (var server = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir, "--storage", storage]))
        {
            foreach (var id in new[] { "s1", "s2", "s3" })
            {
                await using var c = await ResumeAsync(server.MqttPort, id, MqttProtocolVersion.V500);
                await c.SubscribeAsync("load/#", MqttQualityOfServiceLevel.AtLeastOnce);
            }

            await using var pub = await MqttTestClient.ConnectAsync(server.MqttPort, "pub");
            var inFlight = new List<(int Seq, Task<MqttClientPublishResult> Ack)>();
            for (var i = 0; i < 2000; i++)
            {
                inFlight.Add((i, pub.PublishAsync("load/x", $"{i}")));
                if (i == 300)
                {
                    await Eventually.True(() => inFlight.Count(f => f.Ack.IsCompleted) >= 50, "some acknowledged");
                }

                if (i == 600)
                {
                    await server.KillHardAsync(); // while publishes are in flight
                    break;
                }
            }

            acked.AddRange(inFlight.Where(f => f.Ack.IsCompletedSuccessfully && f.Ack.Result.IsSuccess).Select(f => f.Seq));
        }

        Assert.NotEmpty(acked);
        await using (var restarted = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir, "--storage", storage]))
        {
            foreach (var id in new[] { "s1", "s2", "s3" })
            {
                await using var c = await ResumeAsync(restarted.MqttPort, id, MqttProtocolVersion.V500);
                Assert.True(c.ConnectResult!.IsSessionPresent, $"{id}'s session survived");
                // Stored but unacknowledged ones may come too, before acknowledged ones: wait for each acknowledged one.
                await Eventually.True(() => c.Payloads.Select(int.Parse).ToHashSet() is var have && acked.All(have.Contains),
                    $"{id}: every acknowledged message ({c.Received.Count} of at least {acked.Count})");
                await c.Client.PingAsync();
                var got = c.Payloads.Select(int.Parse).ToList();
                Assert.All(acked, seq => Assert.Contains(seq, got));
                Assert.Equal(got.Order().ToList(), got); // in publish order
                Assert.Equal(got.Distinct().Count(), got.Count); // nothing twice
            }
        }

        Directory.Delete(dataDir, recursive: true);
    }

    [Fact]
    public async Task APersistentSessionSubscribedToItsLetters_GetsThemAgainOnResume_WithoutSubscribingAgain_AlsoAfterARestart()
    {
        var dataDir = Unique.TempDirectory();
        await using (var host = await DaakiaTestHost.StartAsync(dataDirectory: dataDir))
        {
            await using (var device = await ResumeAsync(host.MqttPort, "device", MqttProtocolVersion.V311))
            {
                await device.SubscribeAsync("$inbox/#");
            }

            await using var web = await WsTestClient.HelloAsync(host, "web");
            await web.RequestAsync("send", new System.Text.Json.Nodes.JsonObject { ["recipients"] = new System.Text.Json.Nodes.JsonArray("device"), ["payload"] = "one" });
            await using (var back = await ResumeAsync(host.MqttPort, "device", MqttProtocolVersion.V311))
            {
                await back.WaitForAsync(1, "the letter, on resume");
                Assert.Equal(("$inbox/web", "\"one\""), (back.Received.Single().Topic, back.Payloads.Single()));
                await Eventually.True(async () => JsonNode.Parse(await host.Http.GetStringAsync("/v1/clients/device/inbox/count"))!["count"]!.GetValue<long>() == 0, "acknowledged");
            }

            await web.RequestAsync("send", new System.Text.Json.Nodes.JsonObject { ["recipients"] = new System.Text.Json.Nodes.JsonArray("device"), ["payload"] = "two" });
        }

        await using (var host = await DaakiaTestHost.StartAsync(dataDirectory: dataDir))
        {
            await using var back = await ResumeAsync(host.MqttPort, "device", MqttProtocolVersion.V311);
            await back.WaitForAsync(1, "the letter sent before the restart");
            Assert.Equal("\"two\"", back.Payloads.Last());
        }

        Directory.Delete(dataDir, recursive: true);
    }

    [Fact]
    public async Task AQos2MessageFromTheClient_IsRoutedOnce_WhenItsResendComesOnTheNextConnection()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var sub = await MqttTestClient.ConnectAsync(host, "sub");
        await sub.SubscribeAsync("t", MqttQualityOfServiceLevel.ExactlyOnce);
        byte[] publish = [0x34, 6, 0, 1, (byte)'t', 0, 7, (byte)'x'];
        await using (var first = await RawMqttSocket.ConnectAsync(host))
        {
            await first.SendAsync(RawMqttSocket.Connect("q2", clean: false));
            Assert.Equal([0x20, 2, 0, 0], await first.ReadExactlyAsync(4)); // a new session
            await first.SendAsync(publish);
            Assert.Equal([0x50, 2, 0, 7], await first.ReadExactlyAsync(4)); // PUBREC; the connection drops before PUBREL
        }

        await using var second = await RawMqttSocket.ConnectAsync(host);
        await second.SendAsync(RawMqttSocket.Connect("q2", clean: false));
        Assert.Equal([0x20, 2, 1, 0], await second.ReadExactlyAsync(4)); // session present
        publish[0] |= 0x08; // DUP
        await second.SendAsync(publish);
        Assert.Equal([0x50, 2, 0, 7], await second.ReadExactlyAsync(4));
        await second.SendAsync(0x62, 2, 0, 7); // PUBREL
        Assert.Equal([0x70, 2, 0, 7], await second.ReadExactlyAsync(4)); // PUBCOMP
        await second.SendAsync(0x34, 6, 0, 1, (byte)'t', 0, 7, (byte)'y'); // the id is free again: a new message
        Assert.Equal([0x50, 2, 0, 7], await second.ReadExactlyAsync(4));
        await sub.WaitForAsync(2, "the two distinct messages");
        await sub.Client.PingAsync();
        Assert.Equal(["x", "y"], sub.Payloads);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("journal")]
    public async Task AQos2MessageTheClientReceived_StillGetsItsPubRel_AfterKillDashNine_AndIsNotSentAgain(string storage)
    {
        var dataDir = Unique.TempDirectory();
        byte[] id;
        await using (var server = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir, "--storage", storage]))
        {
            await using var raw = await RawMqttSocket.ConnectAsync(server.MqttPort);
            await raw.SendAsync(RawMqttSocket.Connect("r2", clean: false));
            Assert.Equal([0x20, 2, 0, 0], await raw.ReadExactlyAsync(4));
            await raw.SendAsync(0x82, 6, 0, 1, 0, 1, (byte)'z', 2); // SUBSCRIBE z at QoS 2
            Assert.Equal([0x90, 3, 0, 1, 2], await raw.ReadExactlyAsync(5));
            await using var pub = await MqttTestClient.ConnectAsync(server.MqttPort, "pub");
            Assert.True((await pub.PublishAsync("z", "m", MqttQualityOfServiceLevel.ExactlyOnce)).IsSuccess);
            var publish = await raw.ReadExactlyAsync(8);
            Assert.Equal([0x34, 6, 0, 1, (byte)'z'], publish[..5]);
            Assert.Equal((byte)'m', publish[7]);
            id = publish[5..7];
            await raw.SendAsync([0x50, 2, .. id]); // PUBREC
            Assert.Equal([0x62, 2, .. id], await raw.ReadExactlyAsync(4)); // PUBREL: sent once that is durable
            await server.KillHardAsync(); // no PUBCOMP
        }

        await using (var restarted = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir, "--storage", storage]))
        {
            await using var raw = await RawMqttSocket.ConnectAsync(restarted.MqttPort);
            await raw.SendAsync(RawMqttSocket.Connect("r2", clean: false));
            Assert.Equal([0x20, 2, 1, 0], await raw.ReadExactlyAsync(4));
            Assert.Equal([0x62, 2, .. id], await raw.ReadExactlyAsync(4)); // the PUBREL again, first (MQTT-4.4.0-1)
            await raw.SendAsync([0x70, 2, .. id]); // PUBCOMP
            await raw.SendAsync(0xC0, 0); // PINGREQ
            Assert.Equal([0xD0, 0], await raw.ReadExactlyAsync(2)); // and the message itself is not sent again
        }

        Directory.Delete(dataDir, recursive: true);
    }
}
