using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

public sealed class TextoTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<(WsTestClient Client, string Id)> ConnectAsync()
    {
        var client = await WsTestClient.ConnectAsync(_host.WebSocketUri("/v1/texto"));
        var greeting = await client.NextEventAsync();
        Assert.Equal("connection", (string?)greeting["kind"]);
        var id = (string)greeting["client_id"]!;
        Assert.True(Guid.TryParse(id, out _), "the server makes a UUID");
        Assert.Equal(id, (string?)greeting["data"]!["client_id"]);
        return (client, id);
    }

    private static async Task<System.Text.Json.Nodes.JsonObject> NextKindAsync(WsTestClient c, string kind)
    {
        while (true)
        {
            var f = await c.NextEventAsync();
            if ((string?)f["kind"] == kind)
            {
                return f;
            }
        }
    }

    [Fact]
    public async Task Texto_SendReceiveAck_AsTheSeedDescribes()
    {
        var (a, aId) = await ConnectAsync();
        var (b, bId) = await ConnectAsync();
        await using var _ = a;
        await using var __ = b;

        await a.SendTextAsync($$$"""{"client_id":"{{{aId}}}","id":"req-1","kind":"registration","data":null}""");
        var reg = await NextKindAsync(a, "connection");
        Assert.Equal("req-1", (string?)reg["id"]);
        Assert.Equal(aId, (string?)reg["data"]!["client_id"]);

        await a.SendTextAsync($$$"""{"client_id":"{{{aId}}}","id":"req-2","kind":"send","data":{"receiver_id":"{{{bId}}}","text":"Lorem ipsum"}}""");
        var ack = await NextKindAsync(a, "ack");
        Assert.Equal("req-2", (string?)ack["id"]);

        var receive = await NextKindAsync(b, "receive");
        Assert.Equal(aId, (string?)receive["data"]!["sender_id"]);
        Assert.Equal("Lorem ipsum", (string?)receive["data"]!["text"]);
        await b.SendTextAsync($$$"""{"client_id":"{{{bId}}}","id":"{{{(string)receive["id"]!}}}","kind":"ack","data":null}""");
        await Eventually.True(async () => (await _host.Http.GetStringAsync($"/v1/clients/{bId}/inbox/count")).Contains("\"count\":0", StringComparison.Ordinal), "the ack empties the inbox");
    }

    [Fact]
    public async Task Texto_RegistrationWithEarlierId_ResumesAndGetsMessagesSentWhileAway()
    {
        var (a, aId) = await ConnectAsync();
        await using var _ = a;
        var (b, bId) = await ConnectAsync();
        await b.DisposeAsync();

        for (var i = 0; i < 3; i++)
        {
            await a.SendTextAsync($$$"""{"client_id":"{{{aId}}}","id":"s{{{i}}}","kind":"send","data":{"receiver_id":"{{{bId}}}","text":"m{{{i}}}"}}""");
            await NextKindAsync(a, "ack");
        }

        var (b2, newId) = await ConnectAsync();
        await using var ___ = b2;
        await b2.SendTextAsync($$$"""{"client_id":"{{{newId}}}","id":"resume","kind":"registration","data":{"client_id":"{{{bId}}}"}}""");
        var conn = await NextKindAsync(b2, "connection");
        Assert.Equal(bId, (string?)conn["data"]!["client_id"]);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal($"m{i}", (string?)(await NextKindAsync(b2, "receive"))["data"]!["text"]);
        }
    }

    [Theory]
    [InlineData("garbage", "EBADMSG")]
    [InlineData("{\"id\":\"x\",\"kind\":\"dance\",\"data\":null}", "ENOSYS")]
    [InlineData("{\"id\":\"x\",\"kind\":\"send\",\"data\":{\"text\":\"no receiver\"}}", "EINVAL")]
    [InlineData("{\"id\":\"x\",\"data\":null}", "EINVAL")]
    public async Task Texto_BadInput_GetsErrorWithCodeAndDescription(string frame, string code)
    {
        var (a, _) = await ConnectAsync();
        await using var __ = a;
        await a.SendTextAsync(frame);
        var error = await NextKindAsync(a, "error");
        Assert.Equal(code, (string?)error["data"]!["code"]);
        Assert.False(string.IsNullOrEmpty((string?)error["data"]!["description"]));
    }

    [Fact]
    public async Task Texto_BinaryFrameOrBadResumeId_GetErrorsAndTheConnectionStaysUsable()
    {
        var (a, aId) = await ConnectAsync();
        await using var _ = a;
        await a.SendBinaryAsync([1, 2, 3]);
        Assert.Equal("EBADMSG", (string?)(await NextKindAsync(a, "error"))["data"]!["code"]);
        await a.SendTextAsync("{\"id\":\"r\",\"kind\":\"registration\",\"data\":{\"client_id\":\"not a valid id\"}}");
        Assert.Equal("EINVAL", (string?)(await NextKindAsync(a, "error"))["data"]!["code"]);
        await a.SendTextAsync("{\"id\":\"r2\",\"kind\":\"registration\",\"data\":null}");
        Assert.Equal(aId, (string?)(await NextKindAsync(a, "connection"))["data"]!["client_id"]);
    }

    [Fact]
    public async Task Texto_And_JsonApi_ShareInboxes()
    {
        var (t, tId) = await ConnectAsync();
        await using var _ = t;
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        await alice.RequestAsync("send", new { recipients = new[] { tId }, payload = "from the JSON API" });
        var receive = await NextKindAsync(t, "receive");
        Assert.Equal("alice", (string?)receive["data"]!["sender_id"]);
        Assert.Equal("from the JSON API", (string?)receive["data"]!["text"]);
    }
}
