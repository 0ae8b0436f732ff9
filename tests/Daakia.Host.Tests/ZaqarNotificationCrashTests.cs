using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;
using Xunit.Abstractions;

namespace Daakia.Host.Tests;

/// <summary>
/// Queue notifications on the real executable, killed with SIGKILL while posts are in flight and their webhook is
/// failing: after the restart, every message whose post was answered 201 is notified to the webhook (at least once),
/// from the durable outbox the post wrote in its own commit.
/// </summary>
public sealed class ZaqarNotificationCrashTests(ITestOutputHelper output)
{
    private static HttpRequestMessage Request(HttpMethod method, Uri baseUri, string path, string client, string? json = null)
    {
        var r = new HttpRequestMessage(method, new Uri(baseUri, path));
        r.Headers.Add("Client-ID", client);
        r.Headers.Add("X-Project-ID", "notify-crash");
        if (json is not null)
        {
            r.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        return r;
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("journal")]
    public async Task KillDashNine_WhileTheWebhookFails_NotifiesEveryAcceptedMessageAfterTheRestart(string storage)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var up = false;
        var delivered = new ConcurrentDictionary<string, bool>();
        receiver.Answer = r =>
        {
            if (!Volatile.Read(ref up))
            {
                return HttpStatusCode.ServiceUnavailable;
            }

            if (r.Path == "/events" && r.Header("X-Daakia-Delivery") is { } id && r.Text.Contains("Notification", StringComparison.Ordinal))
            {
                delivered[id] = true;
            }

            return HttpStatusCode.OK;
        };
        var dataDir = Unique.TempDirectory();
        var server = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir, "--storage", storage]);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var client = Guid.NewGuid().ToString();
        using (var sub = await http.SendAsync(Request(HttpMethod.Post, server.BaseUri, "/v2/queues/events/subscriptions", client,
            $$"""{"subscriber": "{{receiver.Url("/events")}}", "ttl": 3600}""")))
        {
            Assert.Equal(HttpStatusCode.Created, sub.StatusCode);
        }

        var accepted = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        var baseUri = server.BaseUri;
        var posters = Enumerable.Range(0, 3).Select(p => Task.Run(async () =>
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                try
                {
                    using var r = await http.SendAsync(Request(HttpMethod.Post, baseUri, "/v2/queues/events/messages", client,
                        $$$"""{"messages": [{"body": {"p": {{{p}}}, "n": {{{n}}}}}]}"""));
                    if (r.StatusCode != HttpStatusCode.Created)
                    {
                        return;
                    }

                    foreach (var id in JsonNode.Parse(await r.Content.ReadAsStringAsync())!["resources"]!.AsArray().Select(x => ((string)x!).Split('/')[^1]))
                    {
                        accepted.Add(id);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                {
                    return; // the server died under this post: it was not acknowledged
                }
            }
        })).ToArray();

        await Eventually.True(() => accepted.Count >= 150 && receiver.Requests.Count >= 20, "posts are acknowledged while the webhook fails", TimeSpan.FromSeconds(60));
        output.WriteLine($"killing with {accepted.Count} messages acknowledged, {receiver.Requests.Count} failed webhook calls so far");
        await server.KillHardAsync();
        await stop.CancelAsync();
        await Task.WhenAll(posters);
        await server.DisposeAsync();

        Volatile.Write(ref up, true);
        await using var restarted = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir, "--storage", storage]);
        var want = accepted.ToHashSet();
        await Eventually.True(() => want.All(delivered.ContainsKey), $"every acknowledged message is notified after the restart ({want.Count} acknowledged)", TimeSpan.FromSeconds(90));
        output.WriteLine($"{delivered.Count} distinct deliveries, {receiver.Requests.Count} webhook calls in all");
    }
}
