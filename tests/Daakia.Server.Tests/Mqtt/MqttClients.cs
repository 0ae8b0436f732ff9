using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using Daakia.Testing;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>A real MQTTnet client against the host's MQTT listener, collecting what it receives.</summary>
internal sealed class MqttTestClient : IAsyncDisposable
{
    private MqttTestClient(IMqttClient client)
    {
        Client = client;
        client.ApplicationMessageReceivedAsync += e =>
        {
            e.AutoAcknowledge = Acknowledge;
            PacketIds.Enqueue(e.PacketIdentifier);
            Received.Enqueue(e.ApplicationMessage);
            return Task.CompletedTask;
        };
        client.DisconnectedAsync += e =>
        {
            Disconnected.TrySetResult(e);
            return Task.CompletedTask;
        };
    }

    public IMqttClient Client { get; }

    /// <summary>False: QoS 1/2 publications are received but never acknowledged (no PUBACK / PUBREC).</summary>
    public bool Acknowledge { get; set; } = true;

    public MqttClientConnectResult? ConnectResult { get; private set; }

    public ConcurrentQueue<MqttApplicationMessage> Received { get; } = new();

    /// <summary>The packet id of each received message, in the order of <see cref="Received"/> (0 at QoS 0).</summary>
    public ConcurrentQueue<ushort> PacketIds { get; } = new();

    public TaskCompletionSource<MqttClientDisconnectedEventArgs> Disconnected { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static Task<MqttTestClient> ConnectAsync(DaakiaTestHost host, string clientId, MqttProtocolVersion version = MqttProtocolVersion.V500,
        Action<MqttClientOptionsBuilder>? configure = null) => ConnectAsync(host.MqttPort, clientId, version, configure);

    public static async Task<MqttTestClient> ConnectAsync(int port, string clientId, MqttProtocolVersion version = MqttProtocolVersion.V500,
        Action<MqttClientOptionsBuilder>? configure = null, bool acknowledge = true)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", port)
            .WithClientId(clientId)
            .WithProtocolVersion(version)
            .WithCleanSession()
            .WithTimeout(TimeSpan.FromSeconds(15));
        configure?.Invoke(builder);
        var options = builder.Build();
        if (options.ChannelOptions is MqttClientTcpOptions tcp)
        {
            // MQTTnet closes with linger 0, a reset, and Linux drops what the server had not read yet: a DISCONNECT
            // just written could vanish under load (its will then sent). A plain close keeps the tests deterministic.
            tcp.LingerState = new LingerOption(false, 0);
        }

        var c = new MqttTestClient(client) { Acknowledge = acknowledge };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        c.ConnectResult = await client.ConnectAsync(options, cts.Token);
        return c;
    }

    public async Task SubscribeAsync(string filter, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce, uint? subscriptionId = null)
    {
        var options = new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(qos));
        if (subscriptionId is { } id)
        {
            options.WithSubscriptionIdentifier(id);
        }

        var result = await Client.SubscribeAsync(options.Build());
        var code = result.Items.Single().ResultCode;
        Assert.True((int)code <= 2, $"SUBACK {code}");
    }

    public Task<MqttClientPublishResult> PublishAsync(string topic, string payload, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce) =>
        Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(qos).Build());

    /// <summary>The payloads received so far, as text, in order.</summary>
    public List<string> Payloads => Received.Select(m => Encoding.UTF8.GetString(m.Payload)).ToList();

    public async Task WaitForAsync(int count, string because) =>
        await Eventually.True(() => Received.Count >= count, $"{because} ({Received.Count} of {count} received)");

    public async ValueTask DisposeAsync()
    {
        if (Client.IsConnected)
        {
            try
            {
                await Client.DisconnectAsync();
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or InvalidOperationException)
            {
            }
        }

        Client.Dispose();
    }
}

/// <summary>Raw bytes to and from the MQTT port, for what a well-behaved client never sends.</summary>
internal sealed class RawMqttSocket : IAsyncDisposable
{
    private readonly TcpClient _tcp = new();
    private NetworkStream? _stream;

    // Kept: TcpClient refuses to hand out its stream once the socket has shut down its sending side.
    public NetworkStream Stream => _stream ??= _tcp.GetStream();

    public static Task<RawMqttSocket> ConnectAsync(DaakiaTestHost host, int receiveBuffer = 0) => ConnectAsync(host.MqttPort, receiveBuffer);

    /// <param name="port">The MQTT port.</param>
    /// <param name="receiveBuffer">The socket's receive buffer (0: the system's, which grows): small, a client that
    /// stops reading stops the server's writes soon.</param>
    public static async Task<RawMqttSocket> ConnectAsync(int port, int receiveBuffer = 0)
    {
        var raw = new RawMqttSocket();
        if (receiveBuffer > 0)
        {
            raw._tcp.ReceiveBufferSize = receiveBuffer;
        }

        await raw._tcp.ConnectAsync("127.0.0.1", port);
        return raw;
    }

    /// <summary>Reads whole packets until <paramref name="count"/> of type <paramref name="type"/> (the high nibble of
    /// the first byte, e.g. 3 for PUBLISH) came; returns how many packets were read in all.</summary>
    public async Task<int> ReadPacketsAsync(int type, int count, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        var seen = 0;
        var all = 0;
        while (seen < count)
        {
            var (first, _) = await ReadOneAsync(cts.Token);
            all++;
            seen += first >> 4 == type ? 1 : 0;
        }

        return all;
    }

    /// <summary>One whole packet: its first byte, and its variable header and payload.</summary>
    private async Task<(byte First, byte[] Body)> ReadOneAsync(CancellationToken cancellationToken)
    {
        var one = new byte[1];
        await Stream.ReadExactlyAsync(one, cancellationToken);
        var first = one[0];
        var length = 0;
        for (var shift = 0; ; shift += 7)
        {
            await Stream.ReadExactlyAsync(one, cancellationToken);
            length |= (one[0] & 0x7F) << shift;
            if ((one[0] & 0x80) == 0)
            {
                break;
            }
        }

        var body = new byte[length];
        await Stream.ReadExactlyAsync(body, cancellationToken);
        return (first, body);
    }

    public Task SendAsync(params byte[] bytes) => Stream.WriteAsync(bytes).AsTask();

    /// <summary>Reads whole packets until one of type <paramref name="type"/> (the high nibble of the first byte) comes;
    /// returns its variable header and payload.</summary>
    public async Task<byte[]> ReadPacketAsync(int type, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var (first, body) = await ReadOneAsync(cts.Token);
            if (first >> 4 == type)
            {
                return body;
            }
        }
    }

    /// <summary>An MQTT 5 PUBLISH at QoS 1 or 2 with no properties (remaining length below 128).</summary>
    public static byte[] Publish5(string topic, ushort packetId, int qos, string payload)
    {
        var t = Encoding.UTF8.GetBytes(topic);
        var p = Encoding.UTF8.GetBytes(payload);
        byte[] body = [(byte)(t.Length >> 8), (byte)t.Length, .. t, (byte)(packetId >> 8), (byte)packetId, 0, .. p];
        return [(byte)(0x30 | (qos << 1)), (byte)body.Length, .. body];
    }

    /// <summary>Reads until the server closes the connection (or the deadline passes: then fails), returning all it sent.</summary>
    public async Task<byte[]> ReadUntilClosedAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        var all = new List<byte>();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var n = await Stream.ReadAsync(buffer, cts.Token);
                if (n == 0)
                {
                    return [.. all];
                }

                all.AddRange(buffer.AsSpan(0, n).ToArray());
            }
        }
        catch (IOException)
        {
            return [.. all]; // a reset is a close too
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The server did not close the connection; it sent {Convert.ToHexString([.. all])}.");
        }
    }

    /// <summary>A CONNECT of the given level with a client id and keep-alive (no will, clean).</summary>
    public static byte[] Connect(string clientId, byte level = 4, ushort keepAlive = 60, bool clean = true)
    {
        var id = Encoding.UTF8.GetBytes(clientId);
        var body = new List<byte> { 0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', level, clean ? (byte)0x02 : (byte)0x00, (byte)(keepAlive >> 8), (byte)keepAlive };
        if (level == 5)
        {
            body.Add(0); // no properties
        }

        body.Add((byte)(id.Length >> 8));
        body.Add((byte)id.Length);
        body.AddRange(id);
        return [0x10, (byte)body.Count, .. body];
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes (or fails after the deadline).</summary>
    public async Task<byte[]> ReadExactlyAsync(int count, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        var buffer = new byte[count];
        await Stream.ReadExactlyAsync(buffer, cts.Token);
        return buffer;
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
