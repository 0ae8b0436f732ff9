using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;
using Xunit.Abstractions;

namespace Daakia.Host.Tests;

/// <summary>
/// Zaqar's REST API on the real executable, killed with SIGKILL while posts are in flight: every post answered 201
/// is there after the restart, each message once, in each poster's order; a claim made before the kill still holds
/// its messages.
/// </summary>
public sealed class ZaqarCrashTests(ITestOutputHelper output)
{
    private static HttpRequestMessage Request(HttpMethod method, Uri baseUri, string path, string client, string? json = null)
    {
        var r = new HttpRequestMessage(method, new Uri(baseUri, path));
        r.Headers.Add("Client-ID", client);
        r.Headers.Add("X-Project-ID", "crash-project");
        if (json is not null)
        {
            r.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        return r;
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("journal")]
    public async Task KillDashNine_WhilePostsAreInFlight_KeepsEveryAcceptedMessageOnce_InPostOrder(string storage)
    {
        var dataDir = Unique.TempDirectory();
        var server = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir, "--storage", storage]);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var baseUri = server.BaseUri;
        var reader = Guid.NewGuid().ToString();

        // A claim before the kill, on its own queue: it must still hold its message after the restart.
        using (var post = await http.SendAsync(Request(HttpMethod.Post, baseUri, "/v2/queues/claimed/messages", reader, """{"messages": [{"body": "held"}]}""")))
        {
            Assert.Equal(HttpStatusCode.Created, post.StatusCode);
        }

        string claimLocation;
        using (var claim = await http.SendAsync(Request(HttpMethod.Post, baseUri, "/v2/queues/claimed/claims", reader, """{"ttl": 3600, "grace": 60}""")))
        {
            Assert.Equal(HttpStatusCode.Created, claim.StatusCode);
            claimLocation = claim.Headers.Location!.OriginalString;
        }

        const int Posters = 4;
        var accepted = new ConcurrentDictionary<int, List<string>>();
        using var stop = new CancellationTokenSource();
        var posters = Enumerable.Range(0, Posters).Select(p => Task.Run(async () =>
        {
            var client = Guid.NewGuid().ToString();
            var mine = accepted.GetOrAdd(p, _ => []);
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                try
                {
                    using var r = await http.SendAsync(Request(HttpMethod.Post, baseUri, "/v2/queues/jobs/messages", client,
                        $$$"""{"messages": [{"body": {"p": {{{p}}}, "n": {{{n}}}}}, {"body": {"p": {{{p}}}, "n": {{{n}}}, "second": true}}]}"""));
                    if (r.StatusCode != HttpStatusCode.Created)
                    {
                        return;
                    }

                    var ids = JsonNode.Parse(await r.Content.ReadAsStringAsync())!["resources"]!.AsArray().Select(x => ((string)x!).Split('/')[^1]);
                    lock (mine)
                    {
                        mine.AddRange(ids);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                {
                    return; // the server died under this post: it was not acknowledged
                }
            }
        })).ToArray();

        int Accepted() => accepted.Values.Sum(l => { lock (l) { return l.Count; } });
        await Eventually.True(() => Accepted() >= 400, "posts are acknowledged", TimeSpan.FromSeconds(60));
        output.WriteLine($"killing with {Accepted()} messages acknowledged");
        await server.KillHardAsync();
        await stop.CancelAsync();
        await Task.WhenAll(posters);
        await server.DisposeAsync();

        await using var restarted = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir, "--storage", storage]);
        baseUri = restarted.BaseUri;
        var stored = new List<(string Id, int Poster, int N)>();
        var path = "/v2/queues/jobs/messages?echo=true&limit=20";
        while (true)
        {
            using var r = await http.SendAsync(Request(HttpMethod.Get, baseUri, path, reader));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var page = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
            var messages = page["messages"]!.AsArray();
            if (messages.Count == 0)
            {
                break;
            }

            stored.AddRange(messages.Select(m => ((string)m!["id"]!, (int)m["body"]!["p"]!, (int)m["body"]!["n"]!)));
            path = (string)page["links"]![0]!["href"]!;
        }

        Assert.Equal(stored.Count, stored.Select(s => s.Id).Distinct().Count());
        var ids = stored.Select(s => s.Id).ToHashSet();
        foreach (var (poster, mine) in accepted)
        {
            Assert.All(mine, id => Assert.Contains(id, ids));
            var order = stored.Where(s => s.Poster == poster).Select(s => s.N).ToList();
            Assert.Equal(order.Order(), order); // each poster's messages in the order it posted them
        }

        using var held = await http.SendAsync(Request(HttpMethod.Get, baseUri, claimLocation, reader));
        Assert.Equal(HttpStatusCode.OK, held.StatusCode);
        Assert.Equal("\"held\"", JsonNode.Parse(await held.Content.ReadAsStringAsync())!["messages"]![0]!["body"]!.ToJsonString());
    }
}
