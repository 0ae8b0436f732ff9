using System.Diagnostics;
using Daakia.Testing;
using MQTTnet.Formatter;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>Debian's mosquitto_pub and mosquitto_sub (installed by test.sh) against the MQTT listener, both versions.</summary>
public class MosquittoClientTests
{
    public static TheoryData<string> Versions => new() { "mqttv311", "mqttv5" };

    private static Process Start(string tool, params string[] args)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        return Process.Start(info) ?? throw new InvalidOperationException($"{tool} did not start");
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public async Task MosquittoPub_ReachesAnMqttnetSubscriber_AndMosquittoSub_ReceivesAnMqttnetPublication(string version)
    {
        await using var host = await DaakiaTestHost.StartAsync();
        var port = host.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var mqttnet = await MqttTestClient.ConnectAsync(host, "mqttnet", version == "mqttv5" ? MqttProtocolVersion.V500 : MqttProtocolVersion.V311);
        await mqttnet.SubscribeAsync("interop/to-mqttnet");

        using (var pub = Start("mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-V", version, "-q", "1", "-i", "mosquitto-pub", "-t", "interop/to-mqttnet", "-m", "from mosquitto_pub"))
        {
            await pub.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(pub.ExitCode == 0, await pub.StandardError.ReadToEndAsync());
        }

        await mqttnet.WaitForAsync(1, "mosquitto_pub's message");
        Assert.Equal(["from mosquitto_pub"], mqttnet.Payloads);

        // mosquitto_sub prints each message as "topic payload". Probes go out until it prints one (it is subscribed
        // then); after them, exactly the three messages must follow, in order.
        using var sub = Start("mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-V", version, "-q", "1", "-i", "mosquitto-sub", "-t", "interop/to-sub/#", "-v", "-W", "60");
        try
        {
            var firstLine = sub.StandardOutput.ReadLineAsync();
            await Eventually.True(async () =>
            {
                if (firstLine.IsCompleted)
                {
                    return true;
                }

                await mqttnet.PublishAsync("interop/to-sub/probe", "probe"); // one more probe per poll until it prints
                return false;
            }, "mosquitto_sub is subscribed and prints");
            Assert.Equal("interop/to-sub/probe probe", await firstLine);
            await mqttnet.PublishAsync("interop/to-sub/a", "one");
            await mqttnet.PublishAsync("interop/to-sub/b", "two");
            await mqttnet.PublishAsync("interop/to-sub/c", "three");
            var after = new List<string>();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (after.Count == 0 || after[^1] != "interop/to-sub/c three")
            {
                var line = await sub.StandardOutput.ReadLineAsync(deadline.Token) ?? throw new InvalidOperationException("mosquitto_sub ended: " + await sub.StandardError.ReadToEndAsync());
                after.Add(line);
            }

            after.RemoveAll(l => l == "interop/to-sub/probe probe"); // probes still in flight when it printed the first
            Assert.Equal(["interop/to-sub/a one", "interop/to-sub/b two", "interop/to-sub/c three"], after);
        }
        finally
        {
            sub.Kill();
            await sub.WaitForExitAsync();
        }
    }
}
