using System.Text;
using Daakia.Server.Mqtt;
using Daakia.Testing;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>MQTT 5 enhanced authentication through the AUTH hook (<see cref="IMqttEnhancedAuthenticator"/>).</summary>
public class MqttEnhancedAuthTests
{
    private const string Method = "TEST-CHALLENGE";

    /// <summary>Step 0 must say "hello" and gets a nonce; step 1 must answer "answer:" + the nonce.</summary>
    private sealed class ChallengeAuthenticator : IMqttEnhancedAuthenticator
    {
        public string Method => MqttEnhancedAuthTests.Method;

        public int Steps;

        public ValueTask<MqttAuthStep> AuthenticateAsync(MqttAuthRequest request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Steps);
            var data = request.Data is { } d ? Encoding.UTF8.GetString(d.Span) : null;
            return ValueTask.FromResult(request.Step switch
            {
                0 when data == "hello" => MqttAuthStep.Continue("nonce-42"u8.ToArray(), state: "nonce-42"),
                1 when data == "answer:" + (string)request.State! => MqttAuthStep.Succeed("welcome"u8.ToArray()),
                _ => MqttAuthStep.Refuse($"step {request.Step} got '{data}'"),
            });
        }
    }

    /// <summary>The client's side: answers the server's AUTH with <paramref name="answer"/> (the nonce appended).</summary>
    private sealed class Answerer(string answer) : IMqttEnhancedAuthenticationHandler
    {
        public string? Challenge { get; private set; }

        public async Task HandleEnhancedAuthenticationAsync(MqttEnhancedAuthenticationEventArgs eventArgs)
        {
            Challenge = Encoding.UTF8.GetString(eventArgs.AuthenticationData);
            await eventArgs.SendAsync(new SendMqttEnhancedAuthenticationDataOptions { Data = Encoding.UTF8.GetBytes(answer + Challenge) }, eventArgs.CancellationToken);
        }
    }

    private static Task<DaakiaTestHost> StartAsync(ChallengeAuthenticator authenticator) =>
        DaakiaTestHost.StartAsync(customize: b => b.Services.AddSingleton<IMqttEnhancedAuthenticator>(authenticator));

    [Fact]
    public async Task AChallengeAndAnswer_Authenticates_AndTheConnAckNamesTheMethodWithTheLastData()
    {
        var authenticator = new ChallengeAuthenticator();
        await using var host = await StartAsync(authenticator);
        var answerer = new Answerer("answer:");
        await using var client = await MqttTestClient.ConnectAsync(host.MqttPort, "authed", configure: b => b
            .WithEnhancedAuthentication(Method, "hello"u8.ToArray()).WithEnhancedAuthenticationHandler(answerer));

        Assert.Equal("nonce-42", answerer.Challenge);
        Assert.Equal(MqttClientConnectResultCode.Success, client.ConnectResult!.ResultCode);
        Assert.Equal(Method, client.ConnectResult.AuthenticationMethod);
        Assert.Equal("welcome", Encoding.UTF8.GetString(client.ConnectResult.AuthenticationData));
        Assert.Equal(2, authenticator.Steps);

        // A session like any other from here.
        await client.SubscribeAsync("auth/+", MqttQualityOfServiceLevel.AtLeastOnce);
        await using var pub = await MqttTestClient.ConnectAsync(host, "pub");
        await pub.PublishAsync("auth/1", "hi", MqttQualityOfServiceLevel.AtLeastOnce);
        await client.WaitForAsync(1, "a publication after the authentication");
    }

    [Fact]
    public async Task AWrongAnswer_IsNotAuthorized_AndAnUnknownMethod_IsABadAuthenticationMethod()
    {
        await using var host = await StartAsync(new ChallengeAuthenticator());
        Assert.Equal(MqttClientConnectResultCode.NotAuthorized, await RefusalAsync(host.MqttPort, "wrong",
            b => b.WithEnhancedAuthentication(Method, "hello"u8.ToArray()).WithEnhancedAuthenticationHandler(new Answerer("guess:"))));
        Assert.Equal(MqttClientConnectResultCode.BadAuthenticationMethod, await RefusalAsync(host.MqttPort, "unknown",
            b => b.WithEnhancedAuthentication("SCRAM-SHA-1", "x"u8.ToArray())));
    }

    /// <summary>The CONNACK's code of a refused connect (MQTTnet returns it as the connect's result).</summary>
    private static async Task<MqttClientConnectResultCode> RefusalAsync(int port, string clientId, Action<MqttClientOptionsBuilder> configure)
    {
        await using var c = await MqttTestClient.ConnectAsync(port, clientId, configure: configure);
        return c.ConnectResult!.ResultCode;
    }

    [Fact]
    public async Task APublishDuringTheExchange_IsAProtocolError_AndNothingIsRouted()
    {
        await using var host = await StartAsync(new ChallengeAuthenticator());
        await using var watcher = await MqttTestClient.ConnectAsync(host, "watcher");
        await watcher.SubscribeAsync("#", MqttQualityOfServiceLevel.AtMostOnce);

        // CONNECT 5.0 with Authentication Method and Data, then a PUBLISH instead of the AUTH answer.
        await using var raw = await RawMqttSocket.ConnectAsync(host);
        var method = Encoding.UTF8.GetBytes(Method);
        byte[] props = [0x15, 0, (byte)method.Length, .. method, 0x16, 0, 5, .. "hello"u8.ToArray()];
        byte[] body = [0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 5, 0x02, 0, 60, (byte)props.Length, .. props, 0, 3, (byte)'r', (byte)'a', (byte)'w'];
        await raw.SendAsync([0x10, (byte)body.Length, .. body]);
        var auth = await raw.ReadExactlyAsync(2);
        Assert.Equal(0xF0, auth[0]); // AUTH
        Assert.Equal(0x18, (await raw.ReadExactlyAsync(auth[1]))[0]); // continue authentication
        await raw.SendAsync(0x30, 5, 0, 1, (byte)'x', (byte)'!', (byte)'!');
        var answer = await raw.ReadUntilClosedAsync();
        Assert.Equal((0x20, 0x82), (answer[0], answer[3])); // CONNACK (type, length, flags, reason): 0x82, protocol error
        await watcher.Client.PingAsync();
        Assert.Empty(watcher.Received);
    }
}
