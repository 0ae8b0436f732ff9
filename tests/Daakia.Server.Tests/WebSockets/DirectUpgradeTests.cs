using System.Diagnostics;
using System.Net.Sockets;
using System.Net.WebSockets;
using Daakia.Core;
using Daakia.Server.Tests.Edge;
using Daakia.Server.WebSockets;
using Daakia.Testing;
using Microsoft.AspNetCore.Hosting;
using static Daakia.Server.Tests.WebSockets.UpgradeWire;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>
/// WebSocket upgrades that are run below ASP.NET Core's HTTP layer (a plain upgrade head in the connection's first
/// bytes) and those that are not, over raw loopback sockets: both upgrade and work, refusals are the usual ones, and
/// nothing the client does is logged as a server error. Which way an upgrade went is read from
/// <c>daakia_websockets_upgrades{protocol,path}</c>'s counts.
/// </summary>
public sealed class DirectUpgradeTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    private SessionMetrics Metrics => _host.Get<WebSocketSessionFactory>().Metrics;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task APlainHead_IsUpgradedDirectly_AndAFrameSentWithTheHeadIsAnswered()
    {
        using var tcp = await ConnectAsync(_host);
        var stream = tcp.GetStream();
        var hello = ClientFrame("""{"id":"h","type":"hello","author":"direct-1"}""");
        await stream.WriteAsync((byte[])[.. Head(_host.BaseUri.Authority), .. hello]);

        var head = await ReadHeadAsync(stream);
        Assert.Equal(101, head.Status);
        Assert.NotNull(head.Header("Date"));
        Assert.Equal(ExpectedAccept(Key), head.Header("Sec-WebSocket-Accept"));
        Assert.Equal("websocket", head.Header("Upgrade"));
        await Eventually.True(() => Metrics.UpgradeCount(texto: false, direct: true) == 1, "the upgrade is counted as direct");
        Assert.Equal(0, Metrics.UpgradeCount(texto: false, direct: false));

        using var socket = Client(stream);
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
        using var tcp = await ConnectAsync(_host);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Head(_host.BaseUri.Authority, "/v1/texto"));
        var head = await ReadHeadAsync(stream);
        Assert.Equal(101, head.Status);
        await Eventually.True(() => Metrics.UpgradeCount(texto: true, direct: true) == 1, "the upgrade is counted as direct");

        using var socket = Client(stream);
        var greeting = await ReceiveJsonAsync(socket);
        Assert.Equal("connection", (string?)greeting["kind"]);
    }

    [Fact]
    public async Task AClientWebSocket_TakesTheDirectPath_AndTheCounterIsExported()
    {
        await using (var client = await WsTestClient.HelloAsync(_host, Unique.Name("cws")))
        {
            Assert.Equal(1, Metrics.UpgradeCount(texto: false, direct: true));
            Assert.Equal(0, Metrics.UpgradeCount(texto: false, direct: false));
            await client.CloseAsync();
        }

        var text = await _host.Http.GetStringAsync("/metrics");
        Assert.Contains("daakia_websockets_upgrades", text, StringComparison.Ordinal);
        Assert.Contains("path=\"direct\"", text, StringComparison.Ordinal);
        Assert.Empty(_host.LoggedErrors);
    }

    [Theory]
    [InlineData("/v1/ws?trace=1", null)]
    [InlineData("/V1/WS", null)]
    [InlineData("/v1/ws", "Connection: keep-alive")]
    public async Task AnUnusualHead_IsLeftToAspNetCore_WhichUpgradesIt(string target, string? extra)
    {
        using var tcp = await ConnectAsync(_host);
        var stream = tcp.GetStream();
        await stream.WriteAsync(extra is null ? Head(_host.BaseUri.Authority, target) : Head(_host.BaseUri.Authority, target, null, extra));
        var head = await ReadHeadAsync(stream);
        Assert.Equal(101, head.Status);
        await Eventually.True(() => Metrics.UpgradeCount(texto: false, direct: false) == 1, "the upgrade is counted as ASP.NET Core's");
        Assert.Equal(0, Metrics.UpgradeCount(texto: false, direct: true));

        using var socket = Client(stream);
        await SendJsonAsync(socket, """{"id":"p","type":"ping"}""");
        Assert.Equal("p", (string?)(await ReceiveJsonAsync(socket))["id"]);
    }

    [Fact]
    public async Task AHeadInTwoWrites_IsUpgraded_WhicheverWayItIsRead()
    {
        using var tcp = await ConnectAsync(_host);
        tcp.NoDelay = true;
        var stream = tcp.GetStream();
        var full = Head(_host.BaseUri.Authority);
        await stream.WriteAsync(full.AsMemory(0, 20));
        await stream.FlushAsync();
        await stream.WriteAsync(full.AsMemory(20));
        var head = await ReadHeadAsync(stream);
        Assert.Equal(101, head.Status);
        await Eventually.True(() => Metrics.UpgradeCount(texto: false, direct: true) + Metrics.UpgradeCount(texto: false, direct: false) == 1, "the upgrade is counted once");
    }

    [Fact]
    public async Task ACrossSiteOrigin_InAPlainHead_IsRefused403()
    {
        var head = await SendAsync(_host, Head(_host.BaseUri.Authority, "/v1/ws", null, "Origin: https://attacker.example"));
        Assert.Equal(403, head.Status);
        Assert.Equal(0, Metrics.UpgradeCount(texto: false, direct: true));
    }

    [Fact]
    public async Task AForgedHost_InAPlainHead_IsRefused421()
    {
        var head = await SendAsync(_host, Head(_host.BaseUri.Authority, "/v1/texto", host: "rebound.attacker.example"));
        Assert.Equal(421, head.Status);
        Assert.Equal(0, Metrics.UpgradeCount(texto: true, direct: true));
    }

    [Fact]
    public async Task WhileDraining_APlainHead_Is503WithRetryAfter()
    {
        _host.Get<DaakiaEngine>().BeginDrain();
        var head = await SendAsync(_host, Head(_host.BaseUri.Authority));
        Assert.Equal(503, head.Status);
        Assert.Equal("1", head.Header("Retry-After"));
        Assert.Equal(0, Metrics.UpgradeCount(texto: false, direct: true));
        Assert.Equal(0, Metrics.UpgradeCount(texto: false, direct: false));
        Assert.Empty(_host.LoggedErrors);
    }

    [Fact]
    public async Task OtherRequests_OnTheSameListener_AreServedAsBefore()
    {
        var response = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "GET", "/healthz"));
        Assert.Equal(200, response.Status);
        Assert.Equal("ok\n", response.Text);
        var head = await SendAsync(_host, "NOT HTTP AT ALL\r\n\r\n"u8.ToArray());
        Assert.Equal(400, head.Status);
    }

    [Fact]
    public async Task AResetBeforeTheHeadCompletes_IsNoServerError()
    {
        using var connections = new KestrelConnections(_host.BaseUri.Port);
        // Nothing sent, then a part of a head: both reset (RST, no FIN).
        foreach (var sent in new[] { Array.Empty<byte>(), Head(_host.BaseUri.Authority)[..30] })
        {
            using var tcp = await ConnectAsync(_host);
            if (sent.Length > 0)
            {
                await tcp.GetStream().WriteAsync(sent);
            }

            tcp.LingerState = new LingerOption(true, 0);
            tcp.Client.Close();
        }

        await Eventually.True(() => connections.Ended >= 2, "the server is done with both connections");
        Assert.Empty(_host.LoggedErrors);
        // And the server still upgrades.
        Assert.Equal(101, (await SendAsync(_host, Head(_host.BaseUri.Authority))).Status);
    }

    [Fact]
    public async Task LoweredKestrelLimits_AreHonoured_431AsKestrelAnswers()
    {
        await using var host = await DaakiaTestHost.StartAsync(customize: b => b.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestHeaderCount = 6;
            k.Limits.MaxRequestHeadersTotalSize = 400;
        }));
        var metrics = host.Get<WebSocketSessionFactory>().Metrics;
        var authority = host.BaseUri.Authority;

        // Five headers plus one: within both limits, taken directly.
        Assert.Equal(101, (await SendAsync(host, Head(authority, "/v1/ws", null, "X-One: 1"))).Status);
        await Eventually.True(() => metrics.UpgradeCount(texto: false, direct: true) == 1, "the upgrade is counted as direct");
        // Seven headers, then one header that takes the head past 400 bytes.
        Assert.Equal(431, (await SendAsync(host, Head(authority, "/v1/ws", null, "X-One: 1", "X-Two: 2"))).Status);
        Assert.Equal(431, (await SendAsync(host, Head(authority, "/v1/ws", null, "X-Long: " + new string('a', 300)))).Status);
        Assert.Equal(1, metrics.UpgradeCount(texto: false, direct: true));
        Assert.Empty(host.LoggedErrors);
    }

    [Fact]
    public async Task ALimitOnUpgradedConnections_SendsEveryUpgradeThroughAspNetCore()
    {
        await using var host = await DaakiaTestHost.StartAsync(customize: b => b.WebHost.ConfigureKestrel(k => k.Limits.MaxConcurrentUpgradedConnections = 1));
        var metrics = host.Get<WebSocketSessionFactory>().Metrics;
        await using var first = await WsTestClient.HelloAsync(host, Unique.Name("one"));
        Assert.Equal(0, metrics.UpgradeCount(texto: false, direct: true));
        Assert.Equal(1, metrics.UpgradeCount(texto: false, direct: false));
        // Kestrel counts the upgraded connection: a second one is over its limit.
        var second = await SendAsync(host, Head(host.BaseUri.Authority));
        Assert.Equal(503, second.Status);
        Assert.Equal("1", second.Header("Retry-After"));
        Assert.Equal(0, metrics.UpgradeCount(texto: false, direct: true));
        Assert.Equal(1, metrics.UpgradeCount(texto: false, direct: false));
        Assert.Empty(host.LoggedErrors);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Shutdown_WithASilentConnection_IsNotHeldUp(bool direct)
    {
        var host = await StartAsync(direct);
        using var connections = new KestrelConnections(host.BaseUri.Port);
        using var silent = await ConnectAsync(host);
        await Eventually.True(() => connections.Started >= 1, "Kestrel has taken the connection");

        var clock = Stopwatch.StartNew();
        await host.DisposeAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"stopping took {clock.ElapsedMilliseconds} ms");
        // The server closed the connection (end of stream, or a reset).
        try
        {
            Assert.Equal(0, await silent.GetStream().ReadAsync(new byte[16]).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        }
        catch (IOException)
        {
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Shutdown_ClosesAnUpgradedConnectionWith1001_OnEitherPath(bool direct)
    {
        var host = await StartAsync(direct);
        var metrics = host.Get<WebSocketSessionFactory>().Metrics;
        await using var client = await WsTestClient.HelloAsync(host, Unique.Name("stop"));
        Assert.Equal(1, metrics.UpgradeCount(texto: false, direct: direct));
        Assert.Equal(0, metrics.UpgradeCount(texto: false, direct: !direct));

        var clock = Stopwatch.StartNew();
        await host.DisposeAsync();
        await client.Closed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, client.CloseStatus);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"stopping took {clock.ElapsedMilliseconds} ms");
    }

    private static Task<DaakiaTestHost> StartAsync(bool direct) =>
        DaakiaTestHost.StartAsync(c => c["Daakia:DirectUpgrades"] = direct ? "true" : "false");
}
