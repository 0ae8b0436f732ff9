using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Server.Tests.Edge;
using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>
/// WebSocket upgrades that are run below ASP.NET Core's HTTP layer (a plain upgrade head in the connection's first
/// bytes) and those that are not, over raw loopback sockets: both upgrade and work, refusals are the usual ones. The
/// two ways are told apart by the 101 response: ASP.NET Core's carries a <c>Date</c> header, the direct one does not.
/// </summary>
public sealed class DirectUpgradeTests : IAsyncLifetime
{
    private const string Key = "dGhlIHNhbXBsZSBub25jZQ==";

    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task APlainHead_IsUpgradedDirectly_AndAFrameSentWithTheHeadIsAnswered()
    {
        using var tcp = await ConnectAsync();
        var stream = tcp.GetStream();
        var hello = ClientFrame("""{"id":"h","type":"hello","author":"direct-1"}""");
        await stream.WriteAsync((byte[])[.. Head("/v1/ws"), .. hello]);

        var head = await ReadHeadAsync(stream);
        Assert.Equal(101, head.Status);
        Assert.Null(head.Header("Date"));
        Assert.Equal(ExpectedAccept(Key), head.Header("Sec-WebSocket-Accept"));
        Assert.Equal("websocket", head.Header("Upgrade"));

        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
        var reply = await ReceiveJsonAsync(socket);
        Assert.Equal("ack", (string?)reply["type"]);
        Assert.Equal("h", (string?)reply["id"]);
        Assert.Equal("direct-1", (string?)reply["client_id"]);

        await SendJsonAsync(socket, """{"id":"p","type":"ping"}""");
        Assert.Equal("p", (string?)(await ReceiveJsonAsync(socket))["id"]);

        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var close = await socket.ReceiveAsync(new byte[64], timeout.Token);
        Assert.Equal(WebSocketMessageType.Close, close.MessageType);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        Assert.Empty(_host.LoggedErrors);
    }

    [Fact]
    public async Task Texto_IsUpgradedDirectly_AndGreets()
    {
        using var tcp = await ConnectAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Head("/v1/texto"));
        var head = await ReadHeadAsync(stream);
        Assert.Equal(101, head.Status);
        Assert.Null(head.Header("Date"));

        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
        var greeting = await ReceiveJsonAsync(socket);
        Assert.Equal("connection", (string?)greeting["kind"]);
    }

    [Theory]
    [InlineData("/v1/ws?trace=1", null)]
    [InlineData("/V1/WS", null)]
    [InlineData("/v1/ws", "Connection: keep-alive")]
    public async Task AnUnusualHead_IsLeftToAspNetCore_WhichUpgradesIt(string target, string? extra)
    {
        using var tcp = await ConnectAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Head(target, extra));
        var head = await ReadHeadAsync(stream);
        Assert.Equal(101, head.Status);
        Assert.NotNull(head.Header("Date"));

        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
        await SendJsonAsync(socket, """{"id":"p","type":"ping"}""");
        Assert.Equal("p", (string?)(await ReceiveJsonAsync(socket))["id"]);
    }

    [Fact]
    public async Task AHeadInTwoWrites_IsUpgraded_WhicheverWayItIsRead()
    {
        using var tcp = await ConnectAsync();
        tcp.NoDelay = true;
        var stream = tcp.GetStream();
        var full = Head("/v1/ws");
        await stream.WriteAsync(full.AsMemory(0, 20));
        await stream.FlushAsync();
        await stream.WriteAsync(full.AsMemory(20));
        var head = await ReadHeadAsync(stream);
        Assert.Equal(101, head.Status);
    }

    [Fact]
    public async Task ACrossSiteOrigin_InAPlainHead_IsRefused403()
    {
        using var tcp = await ConnectAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Head("/v1/ws", "Origin: https://attacker.example"));
        var head = await ReadHeadAsync(stream);
        Assert.Equal(403, head.Status);
    }

    [Fact]
    public async Task AForgedHost_InAPlainHead_IsRefused421()
    {
        using var tcp = await ConnectAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Head("/v1/texto", host: "rebound.attacker.example"));
        var head = await ReadHeadAsync(stream);
        Assert.Equal(421, head.Status);
    }

    [Fact]
    public async Task OtherRequests_OnTheSameListener_AreServedAsBefore()
    {
        var response = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "GET", "/healthz"));
        Assert.Equal(200, response.Status);
        Assert.Equal("ok\n", response.Text);
        using var tcp = await ConnectAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync("NOT HTTP AT ALL\r\n\r\n"u8.ToArray());
        var head = await ReadHeadAsync(stream);
        Assert.Equal(400, head.Status);
    }

    [Theory]
    [InlineData("127.0.0.1:abc", 400)]
    [InlineData("127.0.0.1 x", 400)]
    public async Task AMalformedHost_IsLeftToAspNetCore_AndRefusedAsBefore_WithNoErrorLogged(string host, int status)
    {
        var direct = Metrics.UpgradeCount(direct: true);
        using var tcp = await ConnectAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Head("/v1/ws", host: host));
        var head = await ReadHeadAsync(stream);
        Assert.Equal(status, head.Status);
        Assert.Equal(direct, Metrics.UpgradeCount(direct: true));
        Assert.Empty(_host.LoggedErrors);
    }

    [Fact]
    public async Task MoreHeadersThanKestrelAllows_Is431AsBefore()
    {
        var extra = string.Join("\r\n", Enumerable.Range(0, 150).Select(i => $"X-Filler-{i}: {i}"));
        using var tcp = await ConnectAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Head("/v1/ws", extra));
        var head = await ReadHeadAsync(stream);
        Assert.Equal(431, head.Status);
        Assert.Empty(_host.LoggedErrors);
    }

    [Theory]
    [InlineData("Content-Length: 0")]
    [InlineData("Host: 127.0.0.1")]
    [InlineData("Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==")]
    public async Task AHeadWithABodyOrARepeatedHeader_IsLeftToAspNetCore(string extra)
    {
        var direct = Metrics.UpgradeCount(direct: true);
        using var tcp = await ConnectAsync();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Head("/v1/ws", extra));
        var head = await ReadHeadAsync(stream);
        Assert.NotEqual(500, head.Status);
        Assert.Equal(direct, Metrics.UpgradeCount(direct: true));
        Assert.Empty(_host.LoggedErrors);
    }

    [Fact]
    public async Task AClientThatResetsBeforeItsHeadCompletes_LogsNoError()
    {
        using (var tcp = await ConnectAsync())
        {
            await tcp.GetStream().WriteAsync("GET /v1/ws HTTP/1.1\r\nHo"u8.ToArray());
            tcp.Client.LingerState = new LingerOption(true, 0); // close with a reset
        }

        // The server is still well: a new connection upgrades directly.
        using var client = new ClientWebSocket();
        var direct = Metrics.UpgradeCount(direct: true);
        await client.ConnectAsync(_host.WebSocketUri("/v1/ws"), CancellationToken.None);
        Assert.Equal(direct + 1, Metrics.UpgradeCount(direct: true));
        Assert.Empty(_host.LoggedErrors);
    }

    [Fact]
    public async Task ClientWebSocket_TakesTheDirectPath()
    {
        var direct = Metrics.UpgradeCount(direct: true);
        var aspNetCore = Metrics.UpgradeCount(direct: false);
        using var client = new ClientWebSocket();
        await client.ConnectAsync(_host.WebSocketUri("/v1/ws"), CancellationToken.None);
        Assert.Equal(direct + 1, Metrics.UpgradeCount(direct: true));
        Assert.Equal(aspNetCore, Metrics.UpgradeCount(direct: false));
    }

    [Fact]
    public async Task AConnectionThatSendsNothing_DoesNotHoldUpShutdown()
    {
        var host = await DaakiaTestHost.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host.BaseUri.Host, host.BaseUri.Port);
        // Kestrel has the connection once a request on another connection is served after it was accepted.
        Assert.Equal(200, (await RawHttp.SendAsync(host.BaseUri, RawHttp.Request(host.BaseUri, "GET", "/healthz"))).Status);
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        await host.DisposeAsync();
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(5), $"stopping took {stopping.Elapsed}");
    }

    private Daakia.Server.WebSockets.SessionMetrics Metrics => _host.Get<Daakia.Server.WebSockets.WebSocketSessionFactory>().Metrics;

    private async Task<TcpClient> ConnectAsync()
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(_host.BaseUri.Host, _host.BaseUri.Port);
        return tcp;
    }

    private byte[] Head(string target, string? extra = null, string? host = null)
    {
        var head = new StringBuilder();
        head.Append("GET ").Append(target).Append(" HTTP/1.1\r\n");
        head.Append("Host: ").Append(host ?? _host.BaseUri.Authority).Append("\r\n");
        head.Append("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
        head.Append("Sec-WebSocket-Key: ").Append(Key).Append("\r\n");
        if (extra is not null)
        {
            head.Append(extra).Append("\r\n");
        }

        head.Append("\r\n");
        return Encoding.ASCII.GetBytes(head.ToString());
    }

    private static string ExpectedAccept(string key) =>
#pragma warning disable CA5350 // RFC 6455 mandates SHA-1 for the accept value.
        Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350

    /// <summary>A masked text frame (RFC 6455 §5.2), as a client sends it.</summary>
    private static byte[] ClientFrame(string text)
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

    /// <summary>Reads the response head byte by byte, so that what follows stays in the stream.</summary>
    private static async Task<RawHttp.Response> ReadHeadAsync(NetworkStream stream)
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

    private static async Task SendJsonAsync(WebSocket socket, string json) =>
        await socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

    private static async Task<JsonNode> ReceiveJsonAsync(WebSocket socket)
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
