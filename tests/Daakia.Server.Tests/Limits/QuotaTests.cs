using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Server.Tests.Limits;

/// <summary>Stored-data quotas through every protocol: the same refusal in each one's words, nothing stored.</summary>
public sealed class QuotaTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c => c["Daakia:Core:MaxInboxLetters"] = "2");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<HttpResponseMessage> PostAsync(string recipient, string payload = "1")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
        {
            Content = new StringContent($$"""{"recipients":["{{recipient}}"],"payload":{{payload}}}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Daakia-Client", "alice");
        return await _host.Http.SendAsync(request);
    }

    [Fact]
    public async Task Rest_SendPastTheInboxQuota_Is507ProblemJson_AndNothingIsStored()
    {
        var bob = Unique.Name("bob");
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(bob)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(bob)).StatusCode);
        using var refused = await PostAsync(bob);
        Assert.Equal((HttpStatusCode)507, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        var body = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
        Assert.Equal("quota_exceeded", (string?)body["code"]);
        Assert.Contains(bob, (string?)body["detail"], StringComparison.Ordinal);
        Assert.Equal(2, (int)JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{bob}/inbox/count"))!["count"]!);
    }

    [Fact]
    public async Task WebSocket_SendPastTheInboxQuota_GetsQuotaExceeded_AndTheConnectionStays()
    {
        var carol = Unique.Name("carol");
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal("ack", (string?)(await alice.RequestAsync("send", new { recipients = new[] { carol }, payload = i }))["type"]);
        }

        var refused = await alice.RequestAsync("send", new { recipients = new[] { carol }, payload = 2 });
        Assert.Equal("error", (string?)refused["type"]);
        Assert.Equal("quota_exceeded", (string?)refused["code"]);
        Assert.Equal("ack", (string?)(await alice.RequestAsync("ping"))["type"]);
    }

    [Fact]
    public async Task WebSocket_SendPastAnOnlineRecipientsQuota_IsRefused_AndTheRecipientNeverSeesIt()
    {
        var carol = Unique.Name("carol");
        await using var recipient = await WsTestClient.HelloAsync(_host, carol);
        await using var alice = await WsTestClient.HelloAsync(_host, "alice");
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal("ack", (string?)(await alice.RequestAsync("send", new { recipients = new[] { carol }, payload = i }))["type"]);
        }

        var refused = await alice.RequestAsync("send", new { recipients = new[] { carol }, payload = 2 });
        Assert.Equal("quota_exceeded", (string?)refused["code"]);

        // Room again after an ack; the next letter comes next on the wire. Had the refused one been offered live, it
        // would have come before it.
        var first = await recipient.NextAsync("letter");
        var second = await recipient.NextAsync("letter");
        Assert.Equal([0, 1], new[] { (int)first["payload"]!, (int)second["payload"]! });
        Assert.Equal("ack", (string?)(await recipient.RequestAsync("ack", new { message_ids = new[] { (string)first["message_id"]! } }))["type"]);
        Assert.Equal("ack", (string?)(await alice.RequestAsync("send", new { recipients = new[] { carol }, payload = 3 }))["type"]);
        Assert.Equal(3, (int)(await recipient.NextAsync("letter"))["payload"]!);
        Assert.DoesNotContain(recipient.AllFrames, f => (string?)f["type"] == "letter" && (int)f["payload"]! == 2);
    }

    [Fact]
    public async Task Texto_SendPastTheInboxQuota_GetsEdquot_AndTheConnectionStays()
    {
        await using var sender = await TextoTestClient.ConnectAsync(_host);
        var receiver = Guid.NewGuid().ToString();
        for (var i = 0; i < 2; i++)
        {
            var id = await sender.SendAsync(receiver, $"m{i}");
            Assert.Equal(id, (string?)(await sender.NextAsync("ack"))["id"]);
        }

        var refusedId = await sender.SendAsync(receiver, "m2");
        var error = await sender.NextAsync("error");
        Assert.Equal(refusedId, (string?)error["id"]);
        Assert.Equal("EDQUOT", (string?)error["data"]!["code"]);
        Assert.Equal(2, (int)JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{receiver}/inbox/count"))!["count"]!);
    }
}

/// <summary>A letter's headers count in its inbox's stored bytes: a letter whose payload fits but not with them is refused.</summary>
public sealed class HeaderQuotaTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c => c["Daakia:Core:MaxInboxBytes"] = "2048");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<HttpResponseMessage> PostAsync(string recipient, string payload, string? headers)
    {
        var withHeaders = headers is null ? "" : $$""","headers":{{headers}}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
        {
            Content = new StringContent($$"""{"recipients":["{{recipient}}"],"payload":{{payload}}{{withHeaders}}}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Daakia-Client", "alice");
        return await _host.Http.SendAsync(request);
    }

    [Fact]
    public async Task Rest_ALetterWhosePayloadFitsTheInboxButNotWithItsHeaders_Is507_AndNothingIsStored()
    {
        var bob = Unique.Name("bob");
        var payload = "\"" + new string('p', 1498) + "\""; // 1500 bytes: with the 128 bytes a letter counts, 1628 of 2048
        var headers = $$"""{"trace":"{{new string('h', 995)}}"}"""; // 5 + 995 bytes of header text: 2628 of 2048

        using var refused = await PostAsync(bob, payload, headers);
        Assert.Equal((HttpStatusCode)507, refused.StatusCode);
        var body = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
        Assert.Equal("quota_exceeded", (string?)body["code"]);
        Assert.Contains(bob, (string?)body["detail"], StringComparison.Ordinal);
        Assert.Equal(0, (int)JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{bob}/inbox/count"))!["count"]!);

        // The same payload without the headers fits; with small headers too, until the inbox's bytes are spent.
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(bob, payload, null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(bob, "1", """{"a":"b"}""")).StatusCode);
        using var full = await PostAsync(bob, "1", $$"""{"trace":"{{new string('h', 300)}}"}""");
        Assert.Equal((HttpStatusCode)507, full.StatusCode);
        Assert.Equal(2, (int)JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{bob}/inbox/count"))!["count"]!);
    }
}
