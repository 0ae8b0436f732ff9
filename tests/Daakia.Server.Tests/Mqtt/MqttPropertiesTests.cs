using Daakia.Testing;
using MQTTnet;
using MQTTnet.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>MQTT 5 properties a publisher attaches reach every subscriber: request/response, user properties, payload format, message expiry.</summary>
public class MqttPropertiesTests
{
    /// <summary>An MQTT and a JSON API subscriber of <c>rpc/#</c>, and an MQTT publisher.</summary>
    private sealed record Rpc(MqttTestClient Sub, WsTestClient Ws, MqttTestClient Pub) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Pub.DisposeAsync();
            await Ws.DisposeAsync();
            await Sub.DisposeAsync();
        }
    }

    private static async Task<Rpc> RpcAsync(DaakiaTestHost host)
    {
        var sub = await MqttTestClient.ConnectAsync(host, "sub");
        await sub.SubscribeAsync("rpc/#");
        var ws = await WsTestClient.HelloAsync(host, "web");
        await ws.RequestAsync("subscribe", new { topics = new[] { "rpc/#" } });
        return new Rpc(sub, ws, await MqttTestClient.ConnectAsync(host, "pub"));
    }

    [Fact]
    public async Task APropertyNotSent_IsNotReceived_EvenBesideOthers_FromMqttAndFromTheJsonApi()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var rpc = await RpcAsync(host);
        var (sub, ws, pub) = (rpc.Sub, rpc.Ws, rpc.Pub);

        // A response topic without correlation data, from MQTT and from the JSON API.
        Assert.True((await pub.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("rpc/a").WithPayload("x")
            .WithResponseTopic("rpc/replies").Build())).IsSuccess);
        await ws.RequestAsync("publish", new { topic = "rpc/b", payload = 1, properties = new { response_topic = "rpc/replies" } });

        await sub.WaitForAsync(2, "both publications");
        Assert.All(sub.Received, m =>
        {
            Assert.Equal("rpc/replies", m.ResponseTopic);
            Assert.Null(m.CorrelationData); // absent, not empty
        });
        var json = await ws.NextAsync("publication");
        Assert.False(json["properties"]!.AsObject().ContainsKey("correlation_data_base64"));
    }

    [Fact]
    public async Task ResponseTopic_CorrelationData_UserProperties_AndPayloadFormat_ReachMqttAndJsonApiSubscribers()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var rpc = await RpcAsync(host);
        var (sub, ws, pub) = (rpc.Sub, rpc.Ws, rpc.Pub);
        var request = new MqttApplicationMessageBuilder().WithTopic("rpc/add").WithPayload("1+2")
            .WithResponseTopic("rpc/replies/pub").WithCorrelationData([7, 0, 9]).WithPayloadFormatIndicator(MqttPayloadFormatIndicator.CharacterData)
            .WithUserProperty("trace", "abc"u8.ToArray()).WithUserProperty("trace", "def"u8.ToArray()).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
        Assert.True((await pub.Client.PublishAsync(request)).IsSuccess);

        await sub.WaitForAsync(1, "the request");
        var got = sub.Received.Single();
        Assert.Equal("rpc/replies/pub", got.ResponseTopic);
        Assert.Equal(new byte[] { 7, 0, 9 }, got.CorrelationData);
        Assert.Equal(MqttPayloadFormatIndicator.CharacterData, got.PayloadFormatIndicator);
        Assert.Equal([("trace", "abc"), ("trace", "def")], got.UserProperties.Select(u => (u.Name, System.Text.Encoding.UTF8.GetString(u.ValueBuffer.Span))).ToList());
        Assert.Equal(0u, got.MessageExpiryInterval);

        var json = await ws.NextAsync("publication");
        var properties = json["properties"]!;
        Assert.Equal("rpc/replies/pub", (string?)properties["response_topic"]);
        Assert.Equal(Convert.ToBase64String(new byte[] { 7, 0, 9 }), (string?)properties["correlation_data_base64"]);
        Assert.Equal("""[["trace","abc"],["trace","def"]]""", properties["user_properties"]!.ToJsonString());
    }

    [Fact]
    public async Task MessageExpiry_IsSentAsWhatRemains_AndAnExpiredRetainedMessageIsNotSent()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await DaakiaTestHost.StartAsync(customize: b => b.Services.AddSingleton<TimeProvider>(time));
        // Keep-alives longer than the time the test skips, or the heartbeat scan (on the same clock) closes them.
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub", configure: b => b.WithKeepAlivePeriod(TimeSpan.FromMinutes(10)));
        await pub.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("news/a").WithPayload("soon stale").WithRetainFlag()
            .WithMessageExpiryInterval(60).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

        time.Advance(TimeSpan.FromSeconds(20));
        await using var early = await MqttTestClient.ConnectAsync(host, "early");
        await early.SubscribeAsync("news/#");
        await early.WaitForAsync(1, "the retained message");
        Assert.Equal(40u, early.Received.Single().MessageExpiryInterval); // 60 s less the 20 it waited

        time.Advance(TimeSpan.FromSeconds(41));
        await using var late = await MqttTestClient.ConnectAsync(host, "late");
        await late.SubscribeAsync("news/#");
        await late.Client.PingAsync();
        await pub.PublishAsync("news/b", "fresh");
        await late.WaitForAsync(1, "the fresh publication");
        Assert.Equal(["fresh"], late.Payloads); // the expired retained message was not sent
    }

    [Fact]
    public async Task TheJsonApiAndRest_SetTheSameProperties_ForAnMqttSubscriber_AndBadOnesAreRefused()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var sub = await MqttTestClient.ConnectAsync(host, "sub");
        await sub.SubscribeAsync("rpc/#");
        await using var ws = await WsTestClient.HelloAsync(host, "web");
        var sent = await ws.RequestAsync("publish", new
        {
            topic = "rpc/ask",
            payload = new { q = 1 },
            properties = new { response_topic = "rpc/answers/web", correlation_data_base64 = "AQI=", user_properties = new[] { new[] { "k", "v" } } },
        });
        Assert.Equal("ack", (string?)sent["type"]);
        using (var rest = new HttpRequestMessage(HttpMethod.Post, "/v1/topics/publish")
        {
            Content = new StringContent("""{"topic":"rpc/rest","payload":2,"properties":{"user_properties":[["via","rest"]]}}""", System.Text.Encoding.UTF8, "application/json"),
        })
        {
            Assert.Equal(System.Net.HttpStatusCode.Accepted, (await host.Http.SendAsync(rest)).StatusCode);
        }

        await sub.WaitForAsync(2, "both publications");
        var fromWs = sub.Received.First();
        Assert.Equal("rpc/answers/web", fromWs.ResponseTopic);
        Assert.Equal(new byte[] { 1, 2 }, fromWs.CorrelationData);
        Assert.Equal([("k", "v")], fromWs.UserProperties.Select(u => (u.Name, System.Text.Encoding.UTF8.GetString(u.ValueBuffer.Span))).ToList());
        Assert.Equal([("via", "rest")], sub.Received.Last().UserProperties.Select(u => (u.Name, System.Text.Encoding.UTF8.GetString(u.ValueBuffer.Span))).ToList());

        foreach (var bad in new object[] { "x", new { response_topic = "a/#" }, new { correlation_data_base64 = "!!" }, new { user_properties = new[] { new[] { "only-a-name" } } }, new { user_properties = new[] { new[] { "nul", "a\0b" } } }, new { response_topic = "a\0b" } })
        {
            var refused = await ws.RequestAsync("publish", new { topic = "rpc/bad", payload = 1, properties = bad });
            Assert.Equal(("error", "invalid_argument"), ((string?)refused["type"], (string?)refused["code"]));
        }
    }
}
