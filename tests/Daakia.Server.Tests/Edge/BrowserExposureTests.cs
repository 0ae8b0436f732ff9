using System.Net;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Server.Tests.Edge;

/// <summary>
/// What a web page on the same machine can make the loopback dev server do (docs/security.md), with real handshakes
/// over real loopback sockets: forged <c>Host</c> headers (DNS rebinding) and cross-origin WebSocket upgrades.
/// </summary>
public sealed class BrowserExposureTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c => c["Daakia:AllowedOrigins:0"] = "https://chat.example.com");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Theory]
    [InlineData("rebound.attacker.example", 421)]
    [InlineData("localhost.attacker.example", 421)]
    [InlineData("127.0.0.2", 421)]
    [InlineData("localhost", 200)]
    [InlineData("LOCALHOST", 200)]
    [InlineData("127.0.0.1", 200)]
    public async Task Host_OnlyTheBoundAddressesAndLocalhost_AnswerByDefault(string host, int status)
    {
        foreach (var target in new[] { "/healthz", "/v1/clients/bob/inbox/count" })
        {
            var response = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "GET", target, host: $"{host}:{_host.BaseUri.Port}"));
            Assert.True(status == response.Status, $"{host} {target}: {response.Status} {response.Text}");
            if (status == 421)
            {
                Assert.StartsWith("application/problem+json", response.Header("Content-Type"), StringComparison.Ordinal);
                Assert.Equal("invalid_host", (string?)JsonNode.Parse(response.Text)!["code"]);
            }
        }
    }

    [Fact]
    public async Task Host_ForgedOnAWebSocketUpgrade_IsRefusedBeforeTheUpgrade()
    {
        var response = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "GET", "/v1/ws", Upgrade(), host: "rebound.attacker.example"));
        Assert.Equal(421, response.Status);
        Assert.Equal("invalid_host", (string?)JsonNode.Parse(response.Text)!["code"]);
    }

    [Fact]
    public async Task Host_ConfiguredList_ReplacesTheDefault()
    {
        await using var host = await DaakiaTestHost.StartAsync(c =>
        {
            c["Daakia:AllowedHosts:0"] = "*.example.com";
            c["Daakia:AllowedHosts:1"] = "127.0.0.1";
        });
        Assert.Equal(200, (await RawHttp.SendAsync(host.BaseUri, RawHttp.Request(host.BaseUri, "GET", "/healthz", host: "chat.example.com"))).Status);
        Assert.Equal(200, (await RawHttp.SendAsync(host.BaseUri, RawHttp.Request(host.BaseUri, "GET", "/healthz"))).Status);
        Assert.Equal(421, (await RawHttp.SendAsync(host.BaseUri, RawHttp.Request(host.BaseUri, "GET", "/healthz", host: "localhost"))).Status);
        Assert.Equal(421, (await RawHttp.SendAsync(host.BaseUri, RawHttp.Request(host.BaseUri, "GET", "/healthz", host: "example.org"))).Status);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("http://localhost:3000")]
    [InlineData("http://127.0.0.1:8080")]
    [InlineData("https://localhost")]
    [InlineData("http://[::1]:5173")]
    [InlineData("https://chat.example.com")]
    [InlineData("HTTPS://CHAT.EXAMPLE.COM")]
    [InlineData("same-origin")]
    public async Task WebSocketOrigin_AbsentSameLoopbackOrListed_Upgrades(string? origin)
    {
        foreach (var path in new[] { "/v1/ws", "/v1/texto" })
        {
            using var socket = new ClientWebSocket();
            socket.Options.CollectHttpResponseDetails = true;
            if (origin is not null)
            {
                socket.Options.SetRequestHeader("Origin", origin == "same-origin" ? $"http://{_host.BaseUri.Authority}" : origin);
            }

            await socket.ConnectAsync(_host.WebSocketUri(path), CancellationToken.None);
            Assert.Equal(HttpStatusCode.SwitchingProtocols, socket.HttpStatusCode);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        }
    }

    [Theory]
    [InlineData("https://attacker.example")]
    [InlineData("http://chat.example.com")]
    [InlineData("https://chat.example.com:8443")]
    [InlineData("https://chat.example.com.attacker.example")]
    [InlineData("null")]
    [InlineData("file://")]
    [InlineData("not an origin")]
    [InlineData("http://localhost.attacker.example")]
    public async Task WebSocketOrigin_CrossSite_IsRefused403ProblemBeforeUpgrading(string origin)
    {
        foreach (var path in new[] { "/v1/ws", "/v1/texto" })
        {
            using var socket = new ClientWebSocket();
            socket.Options.CollectHttpResponseDetails = true;
            socket.Options.SetRequestHeader("Origin", origin);
            await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(_host.WebSocketUri(path), CancellationToken.None));
            Assert.Equal(HttpStatusCode.Forbidden, socket.HttpStatusCode);
        }

        var raw = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "GET", "/v1/ws", [.. Upgrade(), $"Origin: {origin}"]));
        Assert.Equal(403, raw.Status);
        Assert.StartsWith("application/problem+json", raw.Header("Content-Type"), StringComparison.Ordinal);
        Assert.Equal("forbidden", (string?)JsonNode.Parse(raw.Text)!["code"]);
    }

    [Fact]
    public async Task WebSocketOrigin_TwoOriginHeaders_AreRefused()
    {
        var raw = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "GET", "/v1/ws", [.. Upgrade(), "Origin: http://localhost", "Origin: https://attacker.example"]));
        Assert.Equal(403, raw.Status);
    }

    [Theory]
    [InlineData("Upgrade: h2c")]
    [InlineData("Upgrade: websocketx")]
    [InlineData(null)]
    public async Task WebSocketHandshake_WithoutUpgradeWebsocket_Is400Problem(string? upgrade)
    {
        string[] headers = upgrade is null
            ? ["Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
            : ["Connection: Upgrade", upgrade, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="];
        var raw = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "GET", "/v1/ws", headers));
        Assert.Equal(400, raw.Status);
        Assert.Equal("invalid_argument", (string?)JsonNode.Parse(raw.Text)!["code"]);
    }

    [Fact]
    public async Task WebSocketHandshake_TokenListsAndCase_AreAccepted()
    {
        var head = await RawHttp.SendForHeadAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "GET", "/v1/ws",
            ["Connection: keep-alive, Upgrade", "Upgrade: WebSocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]));
        Assert.Equal(101, head.Status);
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", head.Header("Sec-WebSocket-Accept"));
    }

    [Fact]
    public async Task SimpleCrossSiteForms_CannotPostLetters()
    {
        // What a page can send cross-site without a preflight: text/plain, a form, or multipart. All refused with 415.
        foreach (var type in new[] { "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
            {
                Content = new StringContent("""{"recipients":["bob"],"payload":1}"""),
            };
            request.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(type);
            request.Headers.Add("X-Daakia-Client", "alice");
            request.Headers.Add("Origin", "https://attacker.example");
            using var response = await _host.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        }

        Assert.Equal("{\"count\":0}", await _host.Http.GetStringAsync("/v1/clients/bob/inbox/count"));
    }

    private static string[] Upgrade() => ["Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="];
}
