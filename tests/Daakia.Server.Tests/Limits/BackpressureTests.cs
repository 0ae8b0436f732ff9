using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Testing;

namespace Daakia.Server.Tests.Limits;

/// <summary>
/// The server-wide bound on uncommitted writes, with the store's writer stalled: REST is refused with 503 and
/// Retry-After, WebSocket connections stop reading until the store catches up, and nothing accepted is lost.
/// </summary>
public sealed class BackpressureTests : IAsyncLifetime
{
    private const int Budget = 4;
    private readonly ManualResetEventSlim _writer = new(initialState: true);
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = await DaakiaTestHost.StartAsync(c => c["Daakia:Core:MaxPendingWrites"] = Budget.ToString(System.Globalization.CultureInfo.InvariantCulture));
        StoreHooks.BeforeBatch(_host.Get<IDaakiaStore>(), _ => _writer.Wait(TimeSpan.FromSeconds(30)));
    }

    public async Task DisposeAsync()
    {
        _writer.Set();
        await _host.DisposeAsync();
        _writer.Dispose();
    }

    private DaakiaEngine Engine => _host.Get<DaakiaEngine>();

    private Task<HttpResponseMessage> PostAsync(string recipient, int n)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
        {
            Content = new StringContent($$"""{"recipients":["{{recipient}}"],"payload":{{n}}}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Daakia-Client", "alice");
        return _host.Http.SendAsync(request);
    }

    /// <summary>Stalls the writer and fills the budget with REST sends that wait for their commit.</summary>
    private async Task<List<Task<HttpResponseMessage>>> FillBudgetAsync(string recipient)
    {
        // Earlier writes (a connection's activity and roster records) count against the budget until committed.
        await Eventually.True(() => Engine.PendingWrites == 0, "earlier writes are committed");
        _writer.Reset();
        var held = Enumerable.Range(0, Budget).Select(i => PostAsync(recipient, i)).ToList();
        await Eventually.True(() => Engine.IsWriteBudgetSpent, "the stalled sends hold the whole write budget");
        return held;
    }

    [Fact]
    public async Task Rest_WhenUncommittedWritesAreAtTheBound_Is503WithRetryAfter_ThenAcceptsAgain()
    {
        var bob = Unique.Name("bob");
        var held = await FillBudgetAsync(bob);

        using var refused = await PostAsync(bob, 99);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("1", refused.Headers.GetValues("Retry-After").Single());
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Equal("overloaded", (string?)JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["code"]);

        _writer.Set();
        foreach (var r in await Task.WhenAll(held))
        {
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
            r.Dispose();
        }

        using var again = await PostAsync(bob, 100);
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        var inbox = JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{bob}/inbox"))!["messages"]!.AsArray();
        Assert.Equal([0, 1, 2, 3, 100], inbox.Select(m => (int)m!["payload"]!).Order());
    }

    [Fact]
    public async Task WebSocket_WhenUncommittedWritesAreAtTheBound_StopsReading_AndResumesWithNothingLost()
    {
        var carol = Unique.Name("carol");
        await using var client = await WsTestClient.HelloAsync(_host, "alice");
        var held = await FillBudgetAsync(carol);
        var pausedBefore = Engine.PausedReads;

        // The first request is read and answered; then the read loop waits for room instead of reading on.
        var first = await client.RequestAsync("ping");
        Assert.Equal("ack", (string?)first["type"]);
        await Eventually.True(() => Engine.PausedReads > pausedBefore, "the read loop paused for write room");
        var second = client.RequestAsync("send", new { recipients = new[] { carol }, payload = 7 });
        Assert.False(second.IsCompleted);
        Assert.True(Engine.IsWriteBudgetSpent);

        _writer.Set();
        Assert.Equal("ack", (string?)(await second)["type"]);
        foreach (var r in await Task.WhenAll(held))
        {
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
            r.Dispose();
        }

        Assert.Equal(5, (int)JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{carol}/inbox/count"))!["count"]!);
    }
}
