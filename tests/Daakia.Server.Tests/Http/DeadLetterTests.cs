using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Server.Tests.Http;

/// <summary>The delivery engine end to end: a letter no WebSocket client acks is dead-lettered, release redelivers.</summary>
public sealed class DeadLetterTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c => c["Daakia:Core:MaxDeliveries"] = "2");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<JsonObject> PostAsync(string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Daakia-Client", "alice");
        using var response = await _host.Http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    private async Task<JsonObject> GetAsync(string path) => JsonNode.Parse(await _host.Http.GetStringAsync(path))!.AsObject();

    [Fact]
    public async Task LetterNeverAcked_IsDeadLetteredAfterMaxDeliveries_AndTheNextOneStillArrives()
    {
        var id = (string)(await PostAsync("/v1/messages", """{"recipients":["bob"],"payload":"poison"}"""))["message_id"]!;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            await using var bob = await WsTestClient.HelloAsync(_host, "bob");
            Assert.Equal(id, (string?)(await bob.NextAsync("letter"))["message_id"]);
            bob.Abort(); // dies before it acks
            await Eventually.True(async () => (int)(await GetAsync("/v1/clients/bob/inbox"))["messages"]![0]!["deliveries"]! == attempt + 1, "the delivery is recorded");
        }

        await PostAsync("/v1/messages", """{"recipients":["bob"],"payload":"fine"}""");
        await using var last = await WsTestClient.HelloAsync(_host, "bob");
        Assert.Equal("fine", (string?)(await last.NextAsync("letter"))["payload"]);
        await Eventually.True(async () => (long)(await GetAsync("/v1/clients/bob/dead-letters/count"))["count"]! == 1, "the poison letter is a dead letter");
        var dead = (await GetAsync("/v1/clients/bob/dead-letters"))["messages"]!.AsArray();
        Assert.Equal(id, (string?)dead[0]!["message_id"]);
        Assert.Equal(2, (int)dead[0]!["deliveries"]!);
        Assert.Equal(1, (int)(await PostAsync("/v1/clients/bob/dead-letters/ack", $$"""{"message_ids":["{{id}}"]}"""))["acknowledged"]!);
        Assert.Equal(0, (long)(await GetAsync("/v1/clients/bob/dead-letters/count"))["count"]!);
        var activity = await _host.Http.GetStringAsync("/v1/activity");
        Assert.Contains("dead_lettered", activity, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Release_OverRest_RedeliversToTheOnlineClient()
    {
        await using var carol = await WsTestClient.HelloAsync(_host, "carol");
        var id = (string)(await PostAsync("/v1/messages", """{"recipients":["carol"],"payload":1}"""))["message_id"]!;
        Assert.Equal(id, (string?)(await carol.NextAsync("letter"))["message_id"]);
        Assert.Equal(1, (int)(await PostAsync("/v1/clients/carol/inbox/release", $$"""{"message_ids":["{{id}}"]}"""))["released"]!);
        Assert.Equal(id, (string?)(await carol.NextAsync("letter"))["message_id"]);
        using var bad = new HttpRequestMessage(HttpMethod.Post, "/v1/clients/carol/inbox/release") { Content = new StringContent($$"""{"message_ids":["{{id}}"],"delay":-1}""", Encoding.UTF8, "application/json") };
        using var response = await _host.Http.SendAsync(bad);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
