using System.Text.Json.Nodes;
using Daakia.Server.WebSockets;
using Daakia.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>
/// The WebSocket endpoints run without ASP.NET Core's exception handler (its await would live as long as the
/// connection), so a fault before the session starts is answered as that handler answers it: a client's fault with its
/// status at Debug, a server fault 500 <c>internal</c> at Error — never an empty 500. The fault is injected through the
/// request's upgrade feature; the factory and its handler are the server's own.
/// </summary>
public sealed class PreSessionFaultTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task AServerFault_BeforeTheSession_Is500ProblemJson_LoggedAtError()
    {
        _host.ExpectErrors = true;
        var (status, body) = await RunAsync(new NotSupportedException("boom"));
        Assert.Equal(500, status);
        Assert.Equal("internal", (string?)body["code"]);
        Assert.Contains(_host.LoggedErrors, e => e.Contains("boom", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AClientFault_BeforeTheSession_IsItsStatus_NotAnError()
    {
        var (status, body) = await RunAsync(new BadHttpRequestException("the head was cut off", 400));
        Assert.Equal(400, status);
        Assert.Equal("invalid_argument", (string?)body["code"]);
        Assert.Empty(_host.LoggedErrors);
    }

    private async Task<(int Status, JsonNode Body)> RunAsync(Exception fault)
    {
        var http = new DefaultHttpContext { RequestServices = _host.Services };
        http.Request.Method = "GET";
        http.Request.Path = "/v1/ws";
        http.Request.Host = new HostString(_host.BaseUri.Authority);
        http.Request.Headers.Connection = "Upgrade";
        http.Request.Headers.Upgrade = "websocket";
        http.Request.Headers.SecWebSocketVersion = "13";
        http.Request.Headers.SecWebSocketKey = UpgradeWire.Key;
        var upgrade = new FaultyUpgrade(fault);
        http.Features.Set<IHttpUpgradeFeature>(upgrade);
        http.Features.Set<IHttpWebSocketFeature>(upgrade);
        using var body = new MemoryStream();
        http.Response.Body = body;

        await _host.Get<WebSocketSessionFactory>().RunJsonApiAsync(http);

        Assert.StartsWith("application/problem+json", http.Response.ContentType, StringComparison.Ordinal);
        return (http.Response.StatusCode, JsonNode.Parse(body.ToArray())!);
    }

    private sealed class FaultyUpgrade(Exception fault) : IHttpUpgradeFeature, IHttpWebSocketFeature
    {
        public bool IsUpgradableRequest => true;

        public bool IsWebSocketRequest => true;

        public Task<System.Net.WebSockets.WebSocket> AcceptAsync(WebSocketAcceptContext context) => Task.FromException<System.Net.WebSockets.WebSocket>(fault);

        public Task<Stream> UpgradeAsync() => Task.FromException<Stream>(fault);
    }
}
