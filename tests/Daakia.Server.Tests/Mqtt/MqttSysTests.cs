using System.Text;
using Daakia.Testing;
using MQTTnet.Protocol;

namespace Daakia.Server.Tests.Mqtt;

/// <summary><c>$SYS/broker/…</c>: Mosquitto's statistics topics, per tenant, retained, every <c>Daakia:Core:SysInterval</c>.</summary>
public class MqttSysTests
{
    [Fact]
    public async Task SysTopics_CountThisTenantsClientsAndPublications_AndReachTheJsonApiToo()
    {
        await using var host = await DaakiaTestHost.StartAsync(s => s["Daakia:Core:SysInterval"] = "00:00:00.2");
        await using var dash = await MqttTestClient.ConnectAsync(host, "dashboard");
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        await using var sub = await MqttTestClient.ConnectAsync(host, "sub");
        await sub.SubscribeAsync("data/#");
        for (var i = 0; i < 5; i++)
        {
            await pub.PublishAsync("data/x", $"{i}");
        }

        await sub.WaitForAsync(5, "the publications");
        await dash.SubscribeAsync("$SYS/broker/#", MqttQualityOfServiceLevel.AtMostOnce);

        string? Value(string topic) => dash.Received.LastOrDefault(m => m.Topic == topic) is { } m ? Encoding.UTF8.GetString(m.Payload) : null;
        await Eventually.True(() => Value("$SYS/broker/clients/connected") == "3" && Value("$SYS/broker/messages/received") == "5",
            $"three clients connected and five publications received (connected {Value("$SYS/broker/clients/connected")}, received {Value("$SYS/broker/messages/received")})");
        Assert.StartsWith("daakia ", Value("$SYS/broker/version"), StringComparison.Ordinal);
        Assert.EndsWith(" seconds", Value("$SYS/broker/uptime"), StringComparison.Ordinal);
        Assert.True(long.Parse(Value("$SYS/broker/messages/sent")!, System.Globalization.CultureInfo.InvariantCulture) >= 5);
        Assert.Equal("0", Value("$SYS/broker/retained messages/count"));
        // Retained: a later subscriber gets the current values at once, with the retain flag; '#' alone does not
        // match them ($ rule).
        await using var late = await MqttTestClient.ConnectAsync(host, "late");
        await late.SubscribeAsync("$SYS/broker/version", MqttQualityOfServiceLevel.AtMostOnce);
        await late.WaitForAsync(1, "the retained version");
        Assert.True(late.Received.First().Retain);
        await using var all = await MqttTestClient.ConnectAsync(host, "all");
        await all.SubscribeAsync("#", MqttQualityOfServiceLevel.AtMostOnce);
        await all.Client.PingAsync();
        await pub.PublishAsync("data/y", "seen");
        await all.WaitForAsync(1, "an ordinary publication");
        Assert.DoesNotContain(all.Received, m => m.Topic.StartsWith('$'));

        // The JSON API subscribes to the same topics.
        await using var ws = await WsTestClient.HelloAsync(host, "web");
        await ws.RequestAsync("subscribe", new { topics = new[] { "$SYS/broker/clients/connected" } });
        var connected = await ws.NextAsync("publication");
        Assert.Equal("$SYS/broker/clients/connected", (string?)connected["topic"]);
        Assert.NotNull((string?)connected["payload_base64"] ?? (string?)connected["payload"]?.ToJsonString());
    }

    [Fact]
    public async Task ATenantsSysTopics_SayNothingAboutAnotherTenant()
    {
        await using var host = await DaakiaTestHost.StartAsync(s =>
        {
            s["Daakia:Core:SysInterval"] = "00:00:00.2";
            s["Daakia:OpenTenants:0"] = "default";
            s["Daakia:OpenTenants:1"] = "other";
        });
        await using var otherClient = await WsTestClient.HelloAsync(host, "someone", new { tenant = "other" });
        await using var dash = await MqttTestClient.ConnectAsync(host, "dashboard"); // MQTT: the default tenant
        await dash.SubscribeAsync("$SYS/broker/clients/connected", MqttQualityOfServiceLevel.AtMostOnce);
        await dash.WaitForAsync(2, "two updates");
        Assert.All(dash.Payloads, p => Assert.Equal("1", p)); // itself only, not the other tenant's client
    }
}
