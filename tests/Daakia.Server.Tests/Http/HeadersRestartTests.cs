using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Core.Storage;
using Daakia.Testing;

namespace Daakia.Server.Tests.Http;

/// <summary>Headers are stored with the letter: they come back the same, in order, from the durable store after a restart.</summary>
public sealed class HeadersRestartTests
{
    [Fact]
    public async Task Headers_SurviveARestart_OnEveryWire()
    {
        var dir = Unique.TempDirectory();
        try
        {
            const string Headers = """{"z-last":"1","a-first":"é 😀","empty":"","quote":"\"q\""}""";
            string fromWs, fromRest, plain;
            await using (var host = await DaakiaTestHost.StartAsync(dataDirectory: dir))
            {
                Assert.IsNotType<InMemoryStore>(host.Get<IDaakiaStore>()); // a durable store: SQLite, or the journal
                await using var alice = await WsTestClient.HelloAsync(host, "alice");
                fromWs = (string)(await alice.RequestAsync("send", new JsonObject
                {
                    ["recipients"] = new JsonArray("bob"),
                    ["payload"] = 1,
                    ["headers"] = JsonNode.Parse(Headers),
                }))["message_id"]!;
                plain = (string)(await alice.RequestAsync("send", new JsonObject { ["recipients"] = new JsonArray("bob"), ["payload"] = 2 }))["message_id"]!;

                using var post = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
                {
                    Content = new StringContent("""{"recipients":["bob"],"payload":3,"headers":{"via":"rest"}}""", Encoding.UTF8, "application/json"),
                };
                post.Headers.Add("X-Daakia-Client", "carol");
                using var response = await host.Http.SendAsync(post);
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                fromRest = (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["message_id"]!;
            }

            await using (var host = await DaakiaTestHost.StartAsync(dataDirectory: dir))
            {
                var page = JsonNode.Parse(await host.Http.GetStringAsync("/v1/clients/bob/inbox"))!["messages"]!.AsArray();
                Assert.Equal([fromWs, plain, fromRest], page.Select(m => (string)m!["message_id"]!));
                Assert.Equal(JsonNode.Parse(Headers)!.ToJsonString(), page[0]!["headers"]!.ToJsonString());
                Assert.Null(page[1]!["headers"]);
                Assert.Equal("""{"via":"rest"}""", page[2]!["headers"]!.ToJsonString());

                await using var bob = await WsTestClient.HelloAsync(host, "bob");
                var first = await bob.NextAsync("letter");
                Assert.Equal(fromWs, (string?)first["message_id"]);
                Assert.Equal(["z-last", "a-first", "empty", "quote"], first["headers"]!.AsObject().Select(p => p.Key));
                Assert.Equal(JsonNode.Parse(Headers)!.ToJsonString(), first["headers"]!.ToJsonString());
                Assert.Null((await bob.NextAsync("letter"))["headers"]);
                Assert.Equal("""{"via":"rest"}""", (await bob.NextAsync("letter"))["headers"]!.ToJsonString());
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
