using Daakia.Core;
using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>Resuming an identity the server refuses: the connection keeps the identity it had.</summary>
public sealed class TextoResumeTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c => c["Daakia:Core:MaxConnectionsPerClient"] = "1");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Texto_ResumeRefusedByTheConnectionLimit_GetsEdquotAndStaysItsPreviousIdentity()
    {
        var engine = _host.Get<DaakiaEngine>();
        await using var a = await TextoTestClient.ConnectAsync(_host);
        await using var b = await TextoTestClient.ConnectAsync(_host);
        Assert.Equal(2, engine.ConnectionCount);

        // a is online and may have one connection only: b cannot become a.
        var request = await b.ResumeAsync(a.Id, a.ResumeSecret);
        var error = await b.NextAsync("error");
        Assert.Equal(request, (string?)error["id"]);
        Assert.Equal("EDQUOT", (string?)error["data"]!["code"]);
        Assert.Equal(b.Id, (string?)error["client_id"]);
        Assert.Equal(2, engine.ConnectionCount);

        // b is still b, and live: it is told so, it receives, and its acks empty its inbox.
        await b.SendFrameAsync("registration", null, "who");
        Assert.Equal(b.Id, (string?)(await b.NextAsync("connection"))["data"]!["client_id"]);
        await a.SendAsync(b.Id, "still here");
        await a.NextAsync("ack");
        var receive = await b.NextAsync("receive");
        Assert.Equal("still here", (string?)receive["data"]!["text"]);
        Assert.Equal(b.Id, (string?)receive["client_id"]);
        await b.AckAsync((string)receive["id"]!);
        await Eventually.True(async () => (await _host.Http.GetStringAsync($"/v1/clients/{b.Id}/inbox/count")).Contains("\"count\":0", StringComparison.Ordinal), "b's ack empties its inbox");

        // Once a has gone, b may become a after all.
        var aId = a.Id;
        var aSecret = a.ResumeSecret;
        await a.DisposeAsync();
        await Eventually.True(() => engine.ConnectionCount == 1, "a's connection is gone");
        await b.ResumeAndWaitAsync(aId, aSecret);
        Assert.Equal(1, engine.ConnectionCount);
    }

    [Fact]
    public async Task Texto_ResumeRefused_TheConnectionIsStillClosedByADrain()
    {
        var engine = _host.Get<DaakiaEngine>();
        await using var a = await TextoTestClient.ConnectAsync(_host);
        await using var b = await TextoTestClient.ConnectAsync(_host);
        await b.ResumeAsync(a.Id, a.ResumeSecret);
        await b.NextAsync("error");

        // A drain closes every connection the core knows (the heartbeat scan walks the same list); a connection the
        // core had lost track of would stay open.
        await engine.StopAsync();
        await a.Socket.Closed.Task.WaitAsync(Eventually.DefaultTimeout);
        await b.Socket.Closed.Task.WaitAsync(Eventually.DefaultTimeout);
        await Eventually.True(() => engine.ConnectionCount == 0, "both sessions ended and were removed");
    }
}
