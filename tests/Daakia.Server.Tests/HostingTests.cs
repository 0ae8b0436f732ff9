using System.Net;
using Daakia.Core;
using Daakia.Testing;

namespace Daakia.Server.Tests;

public sealed class HostingTests
{
    [Fact]
    public async Task Healthz_WhileDraining_Is503AndNewWebSocketsAreRefused()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("/healthz")).StatusCode);
        host.Get<DaakiaEngine>().BeginDrain();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await host.Http.GetAsync("/healthz")).StatusCode);
        await Assert.ThrowsAnyAsync<System.Net.WebSockets.WebSocketException>(() => WsTestClient.ConnectAsync(host.WebSocketUri("/v1/ws")));
    }

    [Fact]
    public async Task WebSocketEndpoint_PlainHttpRequest_Is400WithJson()
    {
        await using var host = await DaakiaTestHost.StartAsync();
        using var response = await host.Http.GetAsync("/v1/ws");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("invalid_argument", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
