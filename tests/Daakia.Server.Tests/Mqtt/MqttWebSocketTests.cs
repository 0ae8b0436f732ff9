using System.Net;
using System.Net.WebSockets;
using System.Text;
using Daakia.Testing;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>MQTT over WebSocket at /mqtt on the HTTP port: the same sessions as TCP, with MQTTnet's WebSocket channel and raw sockets.</summary>
public class MqttWebSocketTests
{
    private static Task<MqttTestClient> ConnectWsAsync(DaakiaTestHost host, string id, MqttProtocolVersion version = MqttProtocolVersion.V500) =>
        MqttTestClient.ConnectAsync(host, id, version, b => b.WithWebSocketServer(o => o.WithUri($"ws://{host.BaseUri.Authority}/mqtt")));

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task AWebSocketClient_AndATcpClient_PublishToEachOther_AtEveryQos_WithRetainedMessages(MqttProtocolVersion version)
    {
        await using var host = await DaakiaTestHost.StartAsync();
        await using var ws = await ConnectWsAsync(host, "browser", version);
        Assert.Equal(MqttClientConnectResultCode.Success, ws.ConnectResult!.ResultCode);
        await using var tcp = await MqttTestClient.ConnectAsync(host, "device", version);
        await tcp.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("dev/state").WithPayload("ready").WithRetainFlag().WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await ws.SubscribeAsync("dev/#", MqttQualityOfServiceLevel.ExactlyOnce);
        await tcp.SubscribeAsync("ui/#", MqttQualityOfServiceLevel.ExactlyOnce);
        await ws.WaitForAsync(1, "the retained message over WebSocket");

        var big = new string('b', 200_000); // several WebSocket frames for one packet
        foreach (var qos in new[] { MqttQualityOfServiceLevel.AtMostOnce, MqttQualityOfServiceLevel.AtLeastOnce, MqttQualityOfServiceLevel.ExactlyOnce })
        {
            Assert.True((await ws.PublishAsync("ui/click", $"click-{qos}", qos)).IsSuccess);
            Assert.True((await tcp.PublishAsync("dev/temp", $"temp-{qos}", qos)).IsSuccess);
        }

        Assert.True((await ws.PublishAsync("ui/big", big)).IsSuccess);
        await tcp.WaitForAsync(4, "the WebSocket client's publications");
        await ws.WaitForAsync(4, "the TCP client's publications");
        Assert.Equal(["click-AtMostOnce", "click-AtLeastOnce", "click-ExactlyOnce", big], tcp.Payloads);
        Assert.Equal(["ready", "temp-AtMostOnce", "temp-AtLeastOnce", "temp-ExactlyOnce"], ws.Payloads);
        Assert.True(ws.Received.First().Retain);
    }

    [Fact]
    public async Task TheHandshake_NamesMqtt_AndTextFrames_OrAPlainRequest_AreRefused()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        using var plain = await host.Http.GetAsync("/mqtt");
        Assert.Equal(HttpStatusCode.BadRequest, plain.StatusCode);
        Assert.Contains("mqtt", await plain.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using (var wrong = new ClientWebSocket())
        {
            wrong.Options.AddSubProtocol("graphql-ws");
            var refused = await Assert.ThrowsAsync<WebSocketException>(() => wrong.ConnectAsync(new Uri($"ws://{host.BaseUri.Authority}/mqtt"), CancellationToken.None));
            Assert.Contains("400", refused.Message, StringComparison.Ordinal);
        }

        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("mqtt");
        await socket.ConnectAsync(new Uri($"ws://{host.BaseUri.Authority}/mqtt"), CancellationToken.None);
        Assert.Equal("mqtt", socket.SubProtocol);
        // A CONNECT (3.1.1, client "raw") split over two binary frames gets its CONNACK.
        var connect = RawMqttSocket.Connect("raw");
        await socket.SendAsync(connect.AsMemory(0, 5), WebSocketMessageType.Binary, true, CancellationToken.None);
        await socket.SendAsync(connect.AsMemory(5), WebSocketMessageType.Binary, true, CancellationToken.None);
        var buffer = new byte[64];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var got = await socket.ReceiveAsync(buffer, timeout.Token);
        Assert.Equal(new byte[] { 0x20, 0x02, 0x00, 0x00 }, buffer[..got.Count]);

        // A text frame ends it (MQTT-6.0.0-1).
        await socket.SendAsync(Encoding.UTF8.GetBytes("hello"), WebSocketMessageType.Text, true, CancellationToken.None);
        while (socket.State == WebSocketState.Open)
        {
            var r = await socket.ReceiveAsync(buffer, timeout.Token);
            if (r.MessageType == WebSocketMessageType.Close)
            {
                break;
            }
        }

        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, socket.CloseStatus);
    }
}
