using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Server.Tests.Zaqar;

/// <summary>
/// The tenant's quota of messages in its queues together (<c>Daakia:Core:MaxTenantQueueMessages</c>) over Zaqar's REST
/// API on the real host and its store: a post past it answers 403 <c>Quota exceeded</c> and stores nothing, another
/// project is not affected, a delete makes room, and the count holds across a restart.
/// </summary>
public sealed class ZaqarQuotaTests : IAsyncLifetime
{
    private readonly string _dir = Unique.TempDirectory();
    private DaakiaTestHost _host = null!;
    private static readonly string Me = Guid.NewGuid().ToString();

    private Task<DaakiaTestHost> StartAsync() =>
        DaakiaTestHost.StartAsync(c => c["Daakia:Core:MaxTenantQueueMessages"] = "3", dataDirectory: _dir);

    public async Task InitializeAsync() => _host = await StartAsync();

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task<(HttpStatusCode Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, string? json = null, string project = "p1")
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        request.Headers.Add("Client-ID", Me);
        request.Headers.Add("X-Project-ID", project);
        using var response = await _host.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private static string Messages(int count) =>
        "{\"messages\": [" + string.Join(", ", Enumerable.Range(1, count).Select(n => $"{{\"body\": {{\"n\": {n}}}}}")) + "]}";

    private async Task<List<string>> PostAsync(string queue, int count, string project = "p1")
    {
        var (status, body) = await SendAsync(HttpMethod.Post, $"/v2/queues/{queue}/messages", Messages(count), project);
        Assert.True(status == HttpStatusCode.Created, $"{(int)status} {body}");
        return [.. body!["resources"]!.AsArray().Select(r => ((string)r!).Split('/')[^1])];
    }

    private async Task<long> TotalAsync(string queue) =>
        (long)(await SendAsync(HttpMethod.Get, $"/v2/queues/{queue}/stats")).Body!["messages"]!["total"]!;

    [Fact]
    public async Task APostPastTheProjectsQueueMessageQuota_Answers403QuotaExceeded_StoresNothing_AndADeleteMakesRoom()
    {
        var ids = await PostAsync("orders", 2);
        var (status, body) = await SendAsync(HttpMethod.Post, "/v2/queues/invoices/messages", Messages(2));
        Assert.Equal((HttpStatusCode.Forbidden, "Quota exceeded"), (status, (string?)body!["title"]));
        Assert.Contains("queue message quota", (string?)body["description"], StringComparison.Ordinal);
        Assert.Equal(0, await TotalAsync("invoices"));

        await PostAsync("invoices", 1);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, "/v2/queues/orders/messages", Messages(1))).Status);
        await PostAsync("orders", 3, project: "p2"); // another project has its own

        // The count is the store's: kept across a restart, and a delete frees its message's room.
        await _host.DisposeAsync();
        _host = await StartAsync();
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, "/v2/queues/orders/messages", Messages(1))).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/v2/queues/orders/messages/{ids[0]}")).Status);
        await PostAsync("invoices", 1);
        Assert.Equal((1L, 2L), (await TotalAsync("orders"), await TotalAsync("invoices")));
    }
}
