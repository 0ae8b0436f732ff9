using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>The shared WebSocket test clients must not hide the server's errors from the tests that use them.</summary>
public sealed class WsTestClientTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task NextAsync_MeetsAnErrorFrameWhileWaitingForAnotherType_ThrowsWithTheFrame()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, Unique.Name("alice"));
        await alice.SendTextAsync("not json");

        var thrown = await Assert.ThrowsAsync<UnexpectedErrorFrameException>(() => alice.NextAsync("letter", TimeSpan.FromSeconds(5)));
        Assert.Equal("invalid_json", (string?)thrown.Frame["code"]);
        Assert.Contains("invalid_json", thrown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NextAsync_WaitingForErrors_ReturnsTheErrorFrame()
    {
        await using var alice = await WsTestClient.HelloAsync(_host, Unique.Name("alice"));
        await alice.SendTextAsync("not json");
        Assert.Equal("invalid_json", (string?)(await alice.NextAsync("error"))["code"]);
    }

    [Fact]
    public async Task TextoNextAsync_MeetsAnErrorFrameWhileWaitingForAnotherKind_ThrowsWithTheFrame()
    {
        await using var a = await TextoTestClient.ConnectAsync(_host);
        await a.Socket.SendTextAsync("garbage");

        var thrown = await Assert.ThrowsAsync<UnexpectedErrorFrameException>(() => a.NextAsync("receive", TimeSpan.FromSeconds(5)));
        Assert.Equal("EBADMSG", (string?)thrown.Frame["data"]!["code"]);
    }
}
