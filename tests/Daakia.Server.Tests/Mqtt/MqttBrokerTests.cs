using System.Text;
using Daakia.Testing;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>The MQTT listener with real MQTTnet clients (3.1.1 and 5.0) and raw sockets, on the real host.</summary>
public class MqttBrokerTests
{
    public static TheoryData<MqttProtocolVersion> Versions => new() { MqttProtocolVersion.V311, MqttProtocolVersion.V500 };

    [Theory]
    [MemberData(nameof(Versions))]
    public async Task PublishAtEachQos_ReachesASubscriber_InOrder_ExactlyOnce(MqttProtocolVersion version)
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var sub = await MqttTestClient.ConnectAsync(host, "sub", version);
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub", version);
        await sub.SubscribeAsync("sensors/+/temp", MqttQualityOfServiceLevel.ExactlyOnce);

        var expected = new List<string>();
        foreach (var qos in new[] { MqttQualityOfServiceLevel.AtMostOnce, MqttQualityOfServiceLevel.AtLeastOnce, MqttQualityOfServiceLevel.ExactlyOnce })
        {
            for (var i = 0; i < 20; i++)
            {
                var payload = $"{qos}-{i}";
                var result = await pub.PublishAsync($"sensors/{i % 3}/temp", payload, qos);
                Assert.True(result.IsSuccess, $"{payload}: {result.ReasonCode}");
                expected.Add(payload);
            }
        }

        await sub.WaitForAsync(expected.Count, "every publication");
        Assert.Equal(expected, sub.Payloads);
        // Each came at the QoS it was published with (the subscription granted 2).
        Assert.Equal([.. Enumerable.Repeat(MqttQualityOfServiceLevel.AtMostOnce, 20), .. Enumerable.Repeat(MqttQualityOfServiceLevel.AtLeastOnce, 20), .. Enumerable.Repeat(MqttQualityOfServiceLevel.ExactlyOnce, 20)],
            sub.Received.Select(m => m.QualityOfServiceLevel).ToList());
    }

    [Fact]
    public async Task ASubscriptionsMaximumQos_CapsTheDelivery()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var sub = await MqttTestClient.ConnectAsync(host, "sub");
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        await sub.SubscribeAsync("a", MqttQualityOfServiceLevel.AtMostOnce);
        await pub.PublishAsync("a", "x", MqttQualityOfServiceLevel.ExactlyOnce);
        await sub.WaitForAsync(1, "the publication");
        Assert.Equal(MqttQualityOfServiceLevel.AtMostOnce, sub.Received.Single().QualityOfServiceLevel);
    }

    [Fact]
    public async Task AnMqttPublish_ReachesAJsonApiSubscriber_AndAJsonApiPublish_ReachesAnMqttSubscriber()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var ws = await WsTestClient.HelloAsync(host, "web");
        await ws.RequestAsync("subscribe", new { topics = new[] { "room/#" } });
        await using var mqtt = await MqttTestClient.ConnectAsync(host, "device", MqttProtocolVersion.V311);
        await mqtt.SubscribeAsync("room/+");

        await mqtt.PublishAsync("room/json", """{"t":21.5}""");
        var json = await ws.NextAsync("publication");
        Assert.Equal("room/json", (string?)json["topic"]);
        Assert.Equal(21.5, (double?)json["payload"]!["t"]);
        Assert.Equal("device", (string?)json["author"]);

        await mqtt.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("room/bin").WithPayload(new byte[] { 0, 255, 7 }).Build());
        var binary = await ws.NextAsync("publication");
        Assert.Equal(Convert.ToBase64String(new byte[] { 0, 255, 7 }), (string?)binary["payload_base64"]);
        Assert.Equal("application/octet-stream", (string?)binary["content_type"]);
        Assert.Null(binary["payload"]);

        await ws.RequestAsync("publish", new { topic = "room/from-web", payload = new { hello = "mqtt" } });
        await Eventually.True(() => mqtt.Payloads.Contains("""{"hello":"mqtt"}"""), "the JSON API publication at the MQTT subscriber");
        Assert.Equal(["""{"t":21.5}""", "\0\uFFFD\a", """{"hello":"mqtt"}"""], mqtt.Payloads); // its own too: no no-local in 3.1.1
    }

    [Fact]
    public async Task SubscriptionIdentifiers_AndContentType_ReachA50Subscriber()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var sub = await MqttTestClient.ConnectAsync(host, "sub");
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        await sub.SubscribeAsync("a/#", subscriptionId: 11);
        await sub.SubscribeAsync("a/+", subscriptionId: 12);
        await pub.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("a/b").WithPayload("x").WithContentType("text/plain").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await sub.WaitForAsync(1, "one copy for both subscriptions");
        var m = sub.Received.Single();
        Assert.Equal([11u, 12u], m.SubscriptionIdentifiers.Order().ToList());
        Assert.Equal("text/plain", m.ContentType);
    }

    [Fact]
    public async Task TopicAliases_FromA50Client_AreResolved()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var sub = await MqttTestClient.ConnectAsync(host, "sub");
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        await sub.SubscribeAsync("long/topic/name");
        await pub.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("long/topic/name").WithTopicAlias(1).WithPayload("first").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await pub.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("").WithTopicAlias(1).WithPayload("second").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await sub.WaitForAsync(2, "both publications");
        Assert.Equal(["first", "second"], sub.Payloads);
    }

    [Fact]
    public async Task TopicAliases_TowardsA50ClientThatAllowsThem_AreSetOnFirstUse_AndSentAlone_AfterThat()
    {
        await using var host = await DaakiaTestHost.StartAsync(s => s["Daakia:Mqtt:MaxOutboundTopicAliases"] = "8");
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        // CONNECT 5.0, clean, keep-alive 60, Topic Alias Maximum 2, client id "raw".
        await raw.SendAsync(0x10, 19, 0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 5, 0x02, 0, 60, 3, 0x22, 0, 2, 0, 3, (byte)'r', (byte)'a', (byte)'w');
        var connack = await raw.ReadExactlyAsync(2);
        Assert.Equal(0x20, connack[0]);
        Assert.Equal(0, (await raw.ReadExactlyAsync(connack[1]))[1]); // success
        ushort id = 1;
        foreach (var filter in new[] { "a/b", "c/d", "e/f" })
        {
            await raw.SendAsync(0x82, 9, 0, (byte)id, 0, 0, 3, (byte)filter[0], (byte)'/', (byte)filter[2], 0); // SUBSCRIBE at QoS 0
            Assert.Equal([0x90, 4, 0, (byte)id, 0, 0], await raw.ReadExactlyAsync(6));
            id++;
        }

        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        foreach (var (topic, payload) in new[] { ("a/b", "1"), ("a/b", "2"), ("c/d", "3"), ("e/f", "4"), ("a/b", "5"), ("e/f", "6") })
        {
            await pub.PublishAsync(topic, payload, MqttQualityOfServiceLevel.AtMostOnce);
        }

        var got = new List<(string Topic, int Alias, string Payload)>();
        for (var i = 0; i < 6; i++)
        {
            var head = await raw.ReadExactlyAsync(2);
            Assert.Equal(0x30, head[0]);
            var body = await raw.ReadExactlyAsync(head[1]);
            var topicLength = (body[0] << 8) | body[1];
            var topic = Encoding.UTF8.GetString(body, 2, topicLength);
            var at = 2 + topicLength;
            var propsLength = body[at];
            var alias = 0;
            for (var p = at + 1; p < at + 1 + propsLength;)
            {
                if (body[p] == 0x23)
                {
                    alias = (body[p + 1] << 8) | body[p + 2];
                    p += 3;
                }
                else
                {
                    break; // another property: the alias, if any, came first or not at all
                }
            }

            got.Add((topic, alias, Encoding.UTF8.GetString(body, at + 1 + propsLength, body.Length - (at + 1 + propsLength))));
        }

        Assert.Equal([("a/b", 1, "1"), ("", 1, "2"), ("c/d", 2, "3"), ("e/f", 0, "4"), ("", 1, "5"), ("e/f", 0, "6")], got);
    }

    [Fact]
    public async Task TopicAliases_AreNotSentToClients_ByDefault_EvenWhenTheyAllowThem()
    {
        // MQTTnet 5.2's client announces a Topic Alias Maximum but hands an aliased PUBLISH on with an empty topic.
        await using var host = await DaakiaTestHost.StartAsync();
        await using var sub = await MqttTestClient.ConnectAsync(host, "sub", configure: b => b.WithTopicAliasMaximum(4));
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        await sub.SubscribeAsync("t/#");
        for (var i = 0; i < 6; i++)
        {
            await pub.PublishAsync($"t/{i % 2}", $"{i}");
        }

        await sub.WaitForAsync(6, "all six");
        Assert.Equal(["t/0", "t/1", "t/0", "t/1", "t/0", "t/1"], sub.Received.Select(m => m.Topic).ToList());
    }

    [Fact]
    public async Task ASecondConnectionWithTheSameClientId_TakesTheSessionOver()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var first = await MqttTestClient.ConnectAsync(host, "same");
        await using var second = await MqttTestClient.ConnectAsync(host, "same");
        var gone = await first.Disconnected.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(MqttClientDisconnectReason.SessionTakenOver, gone.Reason);
        Assert.True(second.Client.IsConnected);
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        await second.SubscribeAsync("t");
        await pub.PublishAsync("t", "to the new one");
        await second.WaitForAsync(1, "the new connection receives");
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public async Task TheWill_IsPublishedWhenTheConnectionDrops_NotAfterADisconnect(MqttProtocolVersion version)
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var watcher = await MqttTestClient.ConnectAsync(host, "watcher", version);
        await watcher.SubscribeAsync("wills/#");

        var polite = await MqttTestClient.ConnectAsync(host, "polite", version, b => b.WithWillTopic("wills/polite").WithWillPayload("polite gone"));
        await polite.DisposeAsync(); // DISCONNECT first: no will

        // A raw connection with a will that just drops.
        await using (var raw = await RawMqttSocket.ConnectAsync(host))
        {
            var id = "rude"u8.ToArray();
            var topic = "wills/rude"u8.ToArray();
            var message = "rude gone"u8.ToArray();
            var level = version == MqttProtocolVersion.V500 ? (byte)5 : (byte)4;
            var body = new List<byte> { 0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', level, 0x06, 0, 60 };
            if (level == 5)
            {
                body.Add(0);
            }

            body.AddRange([0, (byte)id.Length, .. id]);
            if (level == 5)
            {
                body.Add(0); // will properties
            }

            body.AddRange([0, (byte)topic.Length, .. topic, 0, (byte)message.Length, .. message]);
            await raw.SendAsync([0x10, (byte)body.Count, .. body]);
            var connack = new byte[4];
            await raw.Stream.ReadExactlyAsync(connack);
            Assert.Equal(0x20, connack[0]);
        }

        await watcher.WaitForAsync(1, "the dropped connection's will");
        Assert.Equal(["rude gone"], watcher.Payloads);
    }

    [Fact]
    public async Task AClientThatHalfClosesAfterItsPackets_StillGetsTheirAnswers()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        for (var round = 0; round < 20; round++)
        {
            // CONNECT, a QoS 1 PUBLISH (id 7) and a PINGREQ, then FIN: the transport's end must not cut off the answers
            // already queued for it (the write loop drains what is queued; only the read side ends at once).
            await using var raw = await RawMqttSocket.ConnectAsync(host);
            await raw.SendAsync(RawMqttSocket.Connect($"half-{round}"));
            Assert.Equal([0x20, 2, 0, 0], await raw.ReadExactlyAsync(4));
            await raw.SendAsync(0x32, 7, 0, 3, (byte)'a', (byte)'/', (byte)'b', 0, 7, 0xC0, 0);
            raw.Stream.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            var answers = await raw.ReadUntilClosedAsync();
            Assert.Equal([0x40, 2, 0, 7, 0xD0, 0], answers);
        }
    }

    [Fact]
    public async Task ASocketThatNeverSendsConnect_IsClosedAfterTheConnectTimeout()
    {
        await using var host = await DaakiaTestHost.StartAsync(s => s["Daakia:Mqtt:ConnectTimeoutSeconds"] = "1");
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        var started = DateTime.UtcNow;
        Assert.Empty(await raw.ReadUntilClosedAsync());
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(0.9));
    }

    [Fact]
    public async Task AFirstPacketThatIsNotConnect_ClosesTheConnection()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        await raw.SendAsync(0xC0, 0x00); // PINGREQ
        Assert.Empty(await raw.ReadUntilClosedAsync());
    }

    [Fact]
    public async Task ASecondConnect_IsAProtocolError()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        await raw.SendAsync(RawMqttSocket.Connect("twice", level: 5));
        await raw.SendAsync(RawMqttSocket.Connect("twice", level: 5));
        var sent = await raw.ReadUntilClosedAsync();
        Assert.Equal(0x20, sent[0]); // CONNACK first
        var disconnect = sent.AsSpan(2 + sent[1]).ToArray();
        Assert.Equal([0xE0, 0x02, 0x82, 0x00], disconnect); // DISCONNECT, protocol error
    }

    [Fact]
    public async Task AnUnsupportedProtocolLevel_GetsReturnCode1_InThe311Form()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        await raw.SendAsync(RawMqttSocket.Connect("old", level: 3));
        Assert.Equal(new byte[] { 0x20, 0x02, 0x00, 0x01 }, await raw.ReadUntilClosedAsync());
    }

    [Fact]
    public async Task APacketPastTheMaximumSize_IsRefusedBeforeItArrives()
    {
        await using var host = await DaakiaTestHost.StartAsync(s => s["Daakia:Mqtt:MaxPacketSize"] = "1024");
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        await raw.SendAsync(RawMqttSocket.Connect("big", level: 5));
        await raw.SendAsync(0x30, 0xFF, 0xFF, 0xFF, 0x7F); // PUBLISH announcing 256 MiB, none of it sent
        var sent = await raw.ReadUntilClosedAsync();
        var disconnect = sent.AsSpan(2 + sent[1]).ToArray();
        Assert.Equal([0xE0, 0x02, 0x95, 0x00], disconnect); // DISCONNECT, packet too large
    }

    [Fact]
    public async Task ASilentClient_IsClosedAfterOneAndAHalfKeepAlives()
    {
        await using var host = await DaakiaTestHost.StartAsync(s => s["Daakia:Core:HeartbeatCheckInterval"] = "00:00:00.200");
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        await raw.SendAsync(RawMqttSocket.Connect("sleepy", level: 5, keepAlive: 2));
        var started = DateTime.UtcNow;
        var sent = await raw.ReadUntilClosedAsync(TimeSpan.FromSeconds(20));
        var elapsed = DateTime.UtcNow - started;
        Assert.Equal([0xE0, 0x02, 0x8D, 0x00], sent.AsSpan(2 + sent[1]).ToArray()); // DISCONNECT, keep alive timeout
        Assert.InRange(elapsed, TimeSpan.FromSeconds(2.9), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task AnInvalidFilter_IsRefusedInTheSuback_OthersGranted()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        await raw.SendAsync(RawMqttSocket.Connect("filters", level: 5));
        // SUBSCRIBE id 1, no properties: "a/#/b" (a '#' that is not last) at QoS 0, "ok/+" at QoS 1.
        await raw.SendAsync(0x82, 0x12, 0x00, 0x01, 0x00, 0x00, 0x05, (byte)'a', (byte)'/', (byte)'#', (byte)'/', (byte)'b', 0x00,
            0x00, 0x04, (byte)'o', (byte)'k', (byte)'/', (byte)'+', 0x01);
        var connack = new byte[2];
        await raw.Stream.ReadExactlyAsync(connack);
        await raw.Stream.ReadExactlyAsync(new byte[connack[1]]);
        var suback = new byte[7];
        await raw.Stream.ReadExactlyAsync(suback);
        Assert.Equal(new byte[] { 0x90, 0x05, 0x00, 0x01, 0x00, 0x8F, 0x01 }, suback); // topic filter invalid, granted QoS 1
    }

    [Fact]
    public async Task AnEmptyClientId_IsAssignedOne_In50_AndRefusedWithoutACleanSession_In311()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var v5 = await MqttTestClient.ConnectAsync(host, "", MqttProtocolVersion.V500);
        Assert.StartsWith("auto-", v5.ConnectResult!.AssignedClientIdentifier, StringComparison.Ordinal);

        // MQTTnet refuses to send this itself, so the bytes go raw: 3.1.1, Clean Session 0, an empty client id.
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        await raw.SendAsync(0x10, 0x0C, 0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 4, 0x00, 0, 60, 0, 0);
        Assert.Equal(new byte[] { 0x20, 0x02, 0x00, 0x02 }, await raw.ReadUntilClosedAsync()); // identifier rejected [MQTT-3.1.3-8]
    }

    [Fact]
    public async Task PublishingToAServerTopic_IsRefused_AndReachesNobody()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var c = await MqttTestClient.ConnectAsync(host, "c");
        await c.SubscribeAsync("$SYS/#");
        var result = await c.PublishAsync("$SYS/fake", "x");
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, result.ReasonCode);
        var marker = await c.PublishAsync("plain", "x");
        Assert.Empty(c.Received);
    }

    [Fact]
    public async Task AMalformedPacket_EndsOnlyItsOwnConnection()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var sub = await MqttTestClient.ConnectAsync(host, "sub");
        await sub.SubscribeAsync("t");
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        await raw.SendAsync(RawMqttSocket.Connect("bad", level: 5));
        await raw.SendAsync(0x36, 0x04, 0x00, 0x01, (byte)'t', 0x00); // QoS 3
        var sent = await raw.ReadUntilClosedAsync();
        Assert.Equal([0xE0, 0x02, 0x81, 0x00], sent.AsSpan(2 + sent[1]).ToArray()); // malformed packet
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        await pub.PublishAsync("t", "still fine");
        await sub.WaitForAsync(1, "the other connections are unaffected");
    }

    /// <summary>
    /// A burst queues far more than a subscriber's socket takes. MQTTnet's default 8 KiB socket buffer makes a receive
    /// window smaller than loopback's 64 KiB segments, which stalled Linux's sender for seconds to minutes at a time
    /// (Daakia:TcpMaxSegmentSize keeps segments below it; with it set to 0 this test timed out in about one run of three).
    /// Everything must arrive, promptly, in order.
    /// </summary>
    [Theory]
    [InlineData(MqttQualityOfServiceLevel.AtMostOnce)]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce)]
    public async Task ABurstToASubscriberWithASmallSocketBuffer_ArrivesWhole_InOrder(MqttQualityOfServiceLevel qos)
    {
        const int publishers = 8, messages = 10_000, window = 64;
        await using var host = await DaakiaTestHost.StartAsync(s => s["Daakia:Mqtt:OutboxCapacity"] = "100000");
        await using var sub = await MqttTestClient.ConnectAsync(host, "sub");
        await sub.SubscribeAsync("burst", qos);
        var clients = new List<MqttTestClient>();
        for (var p = 0; p < publishers; p++)
        {
            clients.Add(await MqttTestClient.ConnectAsync(host, $"pub-{p}"));
        }

        var pad = new string('x', 200);
        await Task.WhenAll(clients.Select((c, p) => Task.Run(async () =>
        {
            var inflight = new Queue<Task<MqttClientPublishResult>>();
            for (var i = 0; i < messages; i++)
            {
                inflight.Enqueue(c.PublishAsync("burst", $"{p}:{i}:{pad}", qos));
                if (inflight.Count >= window)
                {
                    Assert.True((await inflight.Dequeue()).IsSuccess);
                }
            }

            while (inflight.Count > 0)
            {
                Assert.True((await inflight.Dequeue()).IsSuccess);
            }
        })));

        await Eventually.True(() => sub.Received.Count >= publishers * messages, $"the whole burst ({sub.Received.Count} of {publishers * messages})", TimeSpan.FromSeconds(45));
        var next = new int[publishers];
        foreach (var payload in sub.Payloads)
        {
            var parts = payload.Split(':');
            var p = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(next[p]++, int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.All(next, n => Assert.Equal(messages, n));
        foreach (var c in clients)
        {
            await c.DisposeAsync();
        }
    }
}
