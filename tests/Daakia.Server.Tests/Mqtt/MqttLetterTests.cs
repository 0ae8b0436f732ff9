using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>Letters (durable direct messages) to an MQTT client: on <c>$inbox/{author}</c> after it subscribes to <c>$inbox/#</c>, acknowledged by PUBACK.</summary>
public class MqttLetterTests
{
    private static async Task<long> InboxCountAsync(DaakiaTestHost host, string client) =>
        JsonNode.Parse(await host.Http.GetStringAsync($"/v1/clients/{client}/inbox/count"))!["count"]!.GetValue<long>();

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task LettersFromTheJsonApi_ReachAnMqttClient_InOrder_AndItsPubAckRemovesThem(MqttProtocolVersion version)
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var web = await WsTestClient.HelloAsync(host, "web");
        // Sent while the device is offline: they wait in its inbox.
        for (var i = 0; i < 3; i++)
        {
            var sent = await web.RequestAsync("send", new JsonObject { ["recipients"] = new JsonArray("device"), ["payload"] = new JsonObject { ["n"] = i } });
            Assert.Equal("ack", (string?)sent["type"]);
        }

        await using var device = await MqttTestClient.ConnectAsync(host, "device", version);
        await device.SubscribeAsync("$inbox/#");
        for (var i = 3; i < 6; i++)
        {
            await web.RequestAsync("send", new JsonObject { ["recipients"] = new JsonArray("device"), ["payload"] = new JsonObject { ["n"] = i } });
        }

        await device.WaitForAsync(6, "every letter");
        Assert.All(device.Received, m => Assert.Equal(("$inbox/web", MqttQualityOfServiceLevel.AtLeastOnce, false), (m.Topic, m.QualityOfServiceLevel, m.Dup)));
        Assert.Equal(Enumerable.Range(0, 6).Select(i => $$"""{"n":{{i}}}""").ToList(), device.Payloads);
        if (version == MqttProtocolVersion.V500)
        {
            Assert.All(device.Received, m => Assert.Equal("application/json", m.ContentType));
        }

        await Eventually.True(async () => await InboxCountAsync(host, "device") == 0, "the PUBACKs acknowledged every letter");
    }

    [Fact]
    public async Task ALetterNotAcknowledged_ComesAgainWithDup_OnTheNextConnection_AndQos0IsRefused()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using (var first = await MqttTestClient.ConnectAsync(host, "device"))
        {
            first.Acknowledge = false;
            var refused = await first.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("$inbox/#", MqttQualityOfServiceLevel.AtMostOnce).Build());
            Assert.Equal(MqttClientSubscribeResultCode.ImplementationSpecificError, refused.Items.Single().ResultCode);
            await first.SubscribeAsync("$inbox/#", MqttQualityOfServiceLevel.ExactlyOnce); // granted 1
            using var send = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
            {
                Content = new StringContent("""{"recipients":["device"],"payload":"hello"}""", Encoding.UTF8, "application/json"),
            };
            send.Headers.Add("X-Daakia-Client", "rest");
            Assert.Equal(System.Net.HttpStatusCode.Created, (await host.Http.SendAsync(send)).StatusCode);
            await first.WaitForAsync(1, "the letter");
            Assert.False(first.Received.Single().Dup);
        }

        Assert.Equal(1, await InboxCountAsync(host, "device"));
        await using var second = await MqttTestClient.ConnectAsync(host, "device");
        await second.SubscribeAsync("$inbox/#");
        await second.WaitForAsync(1, "the letter again");
        var again = second.Received.Single();
        Assert.Equal(("$inbox/rest", "\"hello\"", true), (again.Topic, Encoding.UTF8.GetString(again.Payload), again.Dup));
        await Eventually.True(async () => await InboxCountAsync(host, "device") == 0, "acknowledged this time");
    }
}
