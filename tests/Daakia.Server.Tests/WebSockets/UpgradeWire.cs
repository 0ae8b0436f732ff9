using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Server.Tests.Edge;
using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>Upgrade heads written byte for byte over a raw loopback socket, and the responses read back.</summary>
internal static class UpgradeWire
{
    public const string Key = "dGhlIHNhbXBsZSBub25jZQ==";

    public static async Task<TcpClient> ConnectAsync(DaakiaTestHost host)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(host.BaseUri.Host, host.BaseUri.Port);
        return tcp;
    }

    /// <summary>A plain upgrade head; <paramref name="extra"/> lines go after the usual ones, before the empty line.</summary>
    public static byte[] Head(string authority, string target = "/v1/ws", string? host = null, params string[] extra)
    {
        var head = new StringBuilder();
        head.Append("GET ").Append(target).Append(" HTTP/1.1\r\n");
        head.Append("Host: ").Append(host ?? authority).Append("\r\n");
        head.Append("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
        head.Append("Sec-WebSocket-Key: ").Append(Key).Append("\r\n");
        foreach (var line in extra)
        {
            head.Append(line).Append("\r\n");
        }

        head.Append("\r\n");
        // Latin-1 so that a test can put any byte into a line.
        return Encoding.Latin1.GetBytes(head.ToString());
    }

    /// <summary>Sends <paramref name="request"/> on a new connection and reads the response head.</summary>
    public static async Task<RawHttp.Response> SendAsync(DaakiaTestHost host, byte[] request)
    {
        using var tcp = await ConnectAsync(host);
        var stream = tcp.GetStream();
        await stream.WriteAsync(request);
        return await ReadHeadAsync(stream);
    }

    /// <summary>Reads the response head byte by byte, so that what follows stays in the stream.</summary>
    public static async Task<RawHttp.Response> ReadHeadAsync(NetworkStream stream)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new List<byte>();
        var one = new byte[1];
        while (received.Count < 4 || !received.TakeLast(4).SequenceEqual("\r\n\r\n"u8.ToArray()))
        {
            var n = await stream.ReadAsync(one, timeout.Token);
            Assert.True(n == 1, $"the connection ended after {received.Count} bytes of the response head");
            received.Add(one[0]);
        }

        return RawHttp.Parse([.. received]);
    }

    public static string ExpectedAccept(string key) =>
#pragma warning disable CA5350 // RFC 6455 mandates SHA-1 for the accept value.
        Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350

    /// <summary>A masked text frame (RFC 6455 §5.2), as a client sends it.</summary>
    public static byte[] ClientFrame(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        Assert.True(payload.Length < 126);
        var mask = RandomNumberGenerator.GetBytes(4);
        var frame = new byte[2 + 4 + payload.Length];
        frame[0] = 0x81;
        frame[1] = (byte)(0x80 | payload.Length);
        mask.CopyTo(frame, 2);
        for (var i = 0; i < payload.Length; i++)
        {
            frame[6 + i] = (byte)(payload[i] ^ mask[i % 4]);
        }

        return frame;
    }

    public static WebSocket Client(Stream stream) =>
        WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });

    public static async Task SendJsonAsync(WebSocket socket, string json) =>
        await socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

    public static async Task<JsonNode> ReceiveJsonAsync(WebSocket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[64 * 1024];
        var count = 0;
        ValueWebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer.AsMemory(count), timeout.Token);
            Assert.Equal(WebSocketMessageType.Text, result.MessageType);
            count += result.Count;
        }
        while (!result.EndOfMessage);

        return JsonNode.Parse(buffer.AsSpan(0, count))!;
    }
}
