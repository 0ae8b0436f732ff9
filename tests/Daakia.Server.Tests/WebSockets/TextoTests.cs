using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

public sealed class TextoTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<TextoTestClient> ConnectAsync()
    {
        var client = await TextoTestClient.ConnectAsync(_host);
        var greeting = client.Socket.AllFrames.First();
        Assert.True(Guid.TryParse(client.Id, out _), "the server makes a UUID");
        Assert.Equal(client.Id, (string?)greeting["data"]!["client_id"]);
        return client;
    }

    [Fact]
    public async Task Texto_SendReceiveAck_AsTheSeedDescribes()
    {
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();

        await a.Socket.SendTextAsync($$$"""{"client_id":"{{{a.Id}}}","id":"req-1","kind":"registration","data":null}""");
        var reg = await a.NextAsync("connection");
        Assert.Equal("req-1", (string?)reg["id"]);
        Assert.Equal(a.Id, (string?)reg["data"]!["client_id"]);

        await a.Socket.SendTextAsync($$$"""{"client_id":"{{{a.Id}}}","id":"8a15b000-02d7-4823-8336-0cd0b0b13ae9","kind":"send","data":{"receiver_id":"{{{b.Id}}}","text":"Lorem ipsum"}}""");
        var ack = await a.NextAsync("ack");
        Assert.Equal("8a15b000-02d7-4823-8336-0cd0b0b13ae9", (string?)ack["id"]);

        var receive = await b.NextAsync("receive");
        Assert.Equal(a.Id, (string?)receive["data"]!["sender_id"]);
        Assert.Equal("Lorem ipsum", (string?)receive["data"]!["text"]);
        await b.Socket.SendTextAsync($$$"""{"client_id":"{{{b.Id}}}","id":"{{{(string)receive["id"]!}}}","kind":"ack","data":null}""");
        await Eventually.True(async () => (await _host.Http.GetStringAsync($"/v1/clients/{b.Id}/inbox/count")).Contains("\"count\":0", StringComparison.Ordinal), "the ack empties the inbox");
    }

    [Fact]
    public async Task Texto_RegistrationWithEarlierId_ResumesAndGetsMessagesSentWhileAway()
    {
        await using var a = await ConnectAsync();
        var b = await ConnectAsync();
        var bId = b.Id;
        var bSecret = b.ResumeSecret;
        await b.DisposeAsync();

        for (var i = 0; i < 3; i++)
        {
            await a.SendAsync(bId, $"m{i}");
            await a.NextAsync("ack");
        }

        await using var b2 = await ConnectAsync();
        await b2.ResumeAndWaitAsync(bId, bSecret);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal($"m{i}", (string?)(await b2.NextAsync("receive"))["data"]!["text"]);
        }
    }

    [Theory]
    [InlineData("garbage", "EBADMSG")]
    [InlineData("{\"id\":\"x\",\"kind\":\"dance\",\"data\":null}", "ENOSYS")]
    [InlineData("{\"id\":\"8a15b000-02d7-4823-8336-0cd0b0b13ae9\",\"kind\":\"send\",\"data\":{\"text\":\"no receiver\"}}", "EINVAL")]
    [InlineData("{\"id\":\"x\",\"data\":null}", "EINVAL")]
    public async Task Texto_BadInput_GetsErrorWithCodeAndDescription(string frame, string code)
    {
        await using var a = await ConnectAsync();
        await a.Socket.SendTextAsync(frame);
        var error = await a.NextAsync("error");
        Assert.Equal(code, (string?)error["data"]!["code"]);
        Assert.False(string.IsNullOrEmpty((string?)error["data"]!["description"]));
    }

    [Fact]
    public async Task Texto_BinaryFrameOrBadResumeId_GetErrorsAndTheConnectionStaysUsable()
    {
        await using var a = await ConnectAsync();
        await a.Socket.SendBinaryAsync([1, 2, 3]);
        Assert.Equal("EBADMSG", (string?)(await a.NextAsync("error"))["data"]!["code"]);
        await a.Socket.SendTextAsync("{\"id\":\"r\",\"kind\":\"registration\",\"data\":{\"client_id\":\"not a valid id\"}}");
        Assert.Equal("EINVAL", (string?)(await a.NextAsync("error"))["data"]!["code"]);
        await a.Socket.SendTextAsync("{\"id\":\"r2\",\"kind\":\"registration\",\"data\":null}");
        Assert.Equal(a.Id, (string?)(await a.NextAsync("connection"))["data"]!["client_id"]);
    }

    [Fact]
    public async Task Texto_And_JsonApi_ShareInboxes()
    {
        await using var t = await ConnectAsync();
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        await alice.RequestAsync("send", new { recipients = new[] { t.Id }, payload = "from the JSON API" });
        var receive = await t.NextAsync("receive");
        Assert.Equal("alice", (string?)receive["data"]!["sender_id"]);
        Assert.Equal("from the JSON API", (string?)receive["data"]!["text"]);
    }
}
