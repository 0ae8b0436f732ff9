using System.Text;
using Daakia.Testing;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>Retained messages through the real listener: kept per topic, handed to new subscriptions, durable.</summary>
public class MqttRetainedTests
{
    private static MqttApplicationMessage Retained(string topic, string payload, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(qos).WithRetainFlag().Build();

    private static async Task SubscribeAsync(MqttTestClient c, string filter, MqttRetainHandling handling = MqttRetainHandling.SendAtSubscribe, bool asPublished = false)
    {
        var result = await c.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainHandling(handling).WithRetainAsPublished(asPublished))
            .Build());
        Assert.True((int)result.Items.Single().ResultCode <= 2, $"SUBACK {result.Items.Single().ResultCode}");
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task TheLastRetainedMessageOfEachTopic_ReachesALaterSubscriber_WithTheRetainFlag_AndAnEmptyPayloadRemovesIt(MqttProtocolVersion version)
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub", version);
        Assert.True((await pub.Client.PublishAsync(Retained("home/kitchen/temp", "19"))).IsSuccess);
        Assert.True((await pub.Client.PublishAsync(Retained("home/kitchen/temp", "21"))).IsSuccess);
        Assert.True((await pub.Client.PublishAsync(Retained("home/hall/temp", "18", MqttQualityOfServiceLevel.AtMostOnce))).IsSuccess);
        Assert.True((await pub.Client.PublishAsync(Retained("home/attic/temp", "5", MqttQualityOfServiceLevel.ExactlyOnce))).IsSuccess);
        Assert.True((await pub.Client.PublishAsync(Retained("home/attic/temp", ""))).IsSuccess); // removes it
        Assert.True((await pub.PublishAsync("home/cellar/temp", "not retained")).IsSuccess);

        await using var sub = await MqttTestClient.ConnectAsync(host, "sub", version);
        await SubscribeAsync(sub, "home/+/temp");
        await Eventually.True(() => sub.Received.Count >= 2, "the two retained messages");
        Assert.Equal(["home/hall/temp=18", "home/kitchen/temp=21"],
            sub.Received.Select(m => $"{m.Topic}={Encoding.UTF8.GetString(m.Payload)}").Order(StringComparer.Ordinal).ToList());
        Assert.All(sub.Received, m => Assert.True(m.Retain, $"{m.Topic} carries the retain flag"));
        Assert.Equal(MqttQualityOfServiceLevel.AtMostOnce, sub.Received.Single(m => m.Topic == "home/hall/temp").QualityOfServiceLevel);

        // A live retained publication to an existing subscription: 3.1.1 clears the flag (MQTT-3.3.1-9), and so does
        // 5.0 without Retain As Published.
        await pub.Client.PublishAsync(Retained("home/kitchen/temp", "22"));
        await sub.WaitForAsync(3, "the live publication");
        Assert.False(sub.Received.Last().Retain);

        // An exact filter finds its topic too; the removed one is gone.
        await using var exact = await MqttTestClient.ConnectAsync(host, "exact", version);
        await SubscribeAsync(exact, "home/kitchen/temp");
        await SubscribeAsync(exact, "home/attic/temp");
        await exact.WaitForAsync(1, "the kitchen's retained message");
        await exact.Client.PingAsync();
        Assert.Equal("22", Assert.Single(exact.Payloads));
    }

    [Fact]
    public async Task ARetainedMessage_KeepsItsUserProperties_ResponseTopic_CorrelationData_AndPayloadFormat_AcrossARestart()
    {
        var dataDir = Unique.TempDirectory();
        await using (var host = await DaakiaTestHost.StartAsync(dataDirectory: dataDir))
        {
            await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
            var message = new MqttApplicationMessageBuilder().WithTopic("dev/1/state").WithPayload("on").WithRetainFlag()
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithUserProperty("unit", "°C"u8.ToArray())
                .WithUserProperty("unit", "K"u8.ToArray()).WithResponseTopic("dev/1/reply").WithCorrelationData([9, 8, 7])
                .WithPayloadFormatIndicator(MqttPayloadFormatIndicator.CharacterData).Build();
            Assert.True((await pub.Client.PublishAsync(message)).IsSuccess);

            await using var sub = await MqttTestClient.ConnectAsync(host, "sub");
            await SubscribeAsync(sub, "dev/+/state");
            await sub.WaitForAsync(1, "the retained message");
            AssertProperties(sub.Received.Single());
        }

        // From the store: the properties were kept with it.
        await using (var host = await DaakiaTestHost.StartAsync(dataDirectory: dataDir))
        {
            await using var later = await MqttTestClient.ConnectAsync(host, "later");
            await SubscribeAsync(later, "dev/#");
            await later.WaitForAsync(1, "the retained message after the restart");
            AssertProperties(later.Received.Single());
        }

        static void AssertProperties(MqttApplicationMessage m)
        {
            Assert.True(m.Retain);
            Assert.Equal(("dev/1/state", "on"), (m.Topic, Encoding.UTF8.GetString(m.Payload)));
            Assert.Equal([("unit", "°C"), ("unit", "K")], m.UserProperties.Select(u => (u.Name, Encoding.UTF8.GetString(u.ValueBuffer.Span))).ToList());
            Assert.Equal(("dev/1/reply", "090807", MqttPayloadFormatIndicator.CharacterData), (m.ResponseTopic, Convert.ToHexString(m.CorrelationData), m.PayloadFormatIndicator));
        }
    }

    [Fact]
    public async Task RetainHandling_AndRetainAsPublished_And_SharedSubscriptions_Mqtt5()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        await pub.Client.PublishAsync(Retained("s/a", "kept"));

        await using var sub = await MqttTestClient.ConnectAsync(host, "sub");
        await SubscribeAsync(sub, "s/#", MqttRetainHandling.SendAtSubscribeIfNewSubscriptionOnly, asPublished: true);
        await sub.WaitForAsync(1, "the retained message for the new subscription");
        await SubscribeAsync(sub, "s/#", MqttRetainHandling.SendAtSubscribeIfNewSubscriptionOnly, asPublished: true); // not new: none
        await SubscribeAsync(sub, "s/a", MqttRetainHandling.DoNotSendOnSubscribe);
        await SubscribeAsync(sub, "$share/g/s/#"); // shared subscriptions get no retained messages (MQTT-4.8.2-6)
        await sub.Client.PingAsync();
        await pub.Client.PublishAsync(Retained("s/b", "live"));
        await Eventually.True(() => sub.Received.Count >= 2, "the live publication");
        await sub.Client.PingAsync();
        Assert.Equal(["kept", "live"], sub.Payloads.Take(2).ToList());
        // Retain As Published keeps the flag on the live one.
        Assert.True(sub.Received.ElementAt(1).Retain);
    }

    [Fact]
    public async Task RetainedMessages_CrossProtocols_AndTheTenantsLimitIsQuotaExceeded()
    {
        await using var host = await DaakiaTestHost.StartAsync(s => s["Daakia:Core:MaxRetainedPerTenant"] = "2");
        await using var mqtt = await MqttTestClient.ConnectAsync(host, "device");
        await mqtt.Client.PublishAsync(Retained("status/device", "online"));

        // The JSON API: retain on publish, and retained messages (marked) on subscribe.
        await using var ws = await WsTestClient.HelloAsync(host, "web");
        await ws.RequestAsync("publish", new { topic = "status/web", payload = new { up = true }, retain = true });
        await ws.RequestAsync("subscribe", new { topics = new[] { "status/+" } });
        var got = new[] { await ws.NextAsync("publication"), await ws.NextAsync("publication") }.OrderBy(p => (string?)p["topic"], StringComparer.Ordinal).ToList();
        Assert.Equal(["status/device", "status/web"], got.Select(p => (string?)p["topic"]).ToList());
        Assert.All(got, p => Assert.True((bool?)p["retained"]));
        Assert.Equal(true, (bool?)got[1]["payload"]!["up"]);

        await SubscribeAsync(mqtt, "status/web");
        await mqtt.WaitForAsync(1, "the JSON API's retained message");
        Assert.Equal("""{"up":true}""", Assert.Single(mqtt.Payloads));

        // A third topic passes the tenant's limit of two: QoS 1 answers Quota exceeded, nothing is kept or sent.
        var refused = await mqtt.Client.PublishAsync(Retained("status/third", "x"));
        Assert.Equal(MqttClientPublishReasonCode.QuotaExceeded, refused.ReasonCode);
        var error = await ws.RequestAsync("publish", new { topic = "status/fourth", payload = 1, retain = true });
        Assert.Equal(("error", "quota_exceeded"), ((string?)error["type"], (string?)error["code"]));
        using (var rest = new HttpRequestMessage(HttpMethod.Post, "/v1/topics/publish")
        {
            Content = new StringContent("""{"topic":"status/fifth","payload":1,"retain":true}""", Encoding.UTF8, "application/json"),
        })
        {
            Assert.Equal(System.Net.HttpStatusCode.InsufficientStorage, (await host.Http.SendAsync(rest)).StatusCode);
        }

        // Replacing or removing one that exists is still allowed.
        Assert.True((await mqtt.Client.PublishAsync(Retained("status/device", "offline"))).IsSuccess);
        await ws.RequestAsync("publish", new { topic = "status/web", retain = true }); // no payload: removes it
        await using var late = await WsTestClient.HelloAsync(host, "late");
        await late.RequestAsync("subscribe", new { topics = new[] { "status/#" } });
        var only = await late.NextAsync("publication");
        Assert.Equal(("status/device", Convert.ToBase64String("offline"u8)), ((string?)only["topic"], (string?)only["payload_base64"])); // not JSON: base64
        await late.RequestAsync("ping");
        Assert.False(late.TryPeekEvent(out var extra), $"nothing else is retained: {extra?.ToJsonString()}");
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("journal")]
    public async Task AnAcknowledgedRetainedMessage_SurvivesKillDashNine(string storage)
    {
        var dataDir = Unique.TempDirectory();
        await using (var server = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir, "--storage", storage]))
        {
            await using var pub = await MqttTestClient.ConnectAsync(server.MqttPort, "pub");
            for (var i = 0; i < 20; i++)
            {
                Assert.True((await pub.Client.PublishAsync(Retained($"fleet/{i}", $"v{i}"))).IsSuccess);
            }

            // The last ones without waiting: whatever was acknowledged must survive the kill.
            var last = Enumerable.Range(20, 30).Select(i => pub.Client.PublishAsync(Retained($"fleet/{i}", $"v{i}"))).ToList();
            await Eventually.True(() => last.Count(t => t.IsCompleted) >= 5, "some of the last ones acknowledged");
            await server.KillHardAsync();
            var acked = Enumerable.Range(0, 20).ToList();
            acked.AddRange(Enumerable.Range(20, 30).Where(i => last[i - 20].IsCompletedSuccessfully && last[i - 20].Result.IsSuccess));

            await using var restarted = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir, "--storage", storage]);
            await using var sub = await MqttTestClient.ConnectAsync(restarted.MqttPort, "sub");
            await SubscribeAsync(sub, "fleet/#");
            // More than the acknowledged ones may be there (stored, their PUBACK lost in the kill), and they come in
            // topic order: wait for each acknowledged topic, not for a count.
            await Eventually.True(() => acked.All(i => sub.Received.Any(m => m.Topic == $"fleet/{i}")), "every acknowledged retained message", TimeSpan.FromSeconds(30));
            var kept = sub.Received.ToDictionary(m => m.Topic, m => Encoding.UTF8.GetString(m.Payload));
            Assert.All(acked, i => Assert.Equal($"v{i}", kept[$"fleet/{i}"]));
        }

        Directory.Delete(dataDir, recursive: true);
    }
}
