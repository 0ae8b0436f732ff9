using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Core.Storage;
using Daakia.Server.Http;
using Daakia.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Daakia.Server.Tests.Edge;

/// <summary>
/// The server-wide bound on REST inbox page bytes (<c>MaxConcurrentReadBytes</c>): concurrent readers of large letters
/// cannot multiply one page's bound into gigabytes; past it a read gets 503 with Retry-After, and the budget comes back.
/// </summary>
public sealed class ReadBudgetTests
{
    private const int Page = 64 * 1024;

    [Fact]
    public async Task ConcurrentPageReads_PastTheBudget_Get503RetryAfter_AndTheBudgetComesBack()
    {
        var store = new ChaosStore(maxDelayMs: 0);
        await using var host = await DaakiaTestHost.StartAsync(
            c =>
            {
                c["Daakia:Core:MaxReadPageBytes"] = Page.ToString(System.Globalization.CultureInfo.InvariantCulture);
                c["Daakia:Core:MaxPayloadBytes"] = "20000";
                c["Daakia:MaxConcurrentReadBytes"] = (Page * 2).ToString(System.Globalization.CultureInfo.InvariantCulture);
            },
            customize: b => b.Services.AddSingleton<IDaakiaStore>(store));
        var budget = host.Get<RestReadBudget>();
        var letter = $$"""{"recipients":["reader"],"payload":"{{new string('x', 15000)}}"}""";
        for (var i = 0; i < 10; i++)
        {
            using var sent = await host.Http.SendAsync(Post(letter));
            Assert.Equal(HttpStatusCode.Created, sent.StatusCode);
        }

        // Two reads of a full page each fill the budget while the store holds them.
        store.HoldReads = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = new[] { host.Http.GetAsync("/v1/clients/reader/inbox?limit=100"), host.Http.GetAsync("/v1/clients/reader/inbox?limit=100") };
        await Eventually.True(() => budget.Reserved == Page * 2, "both reads have reserved a page");

        using (var refused = await host.Http.GetAsync("/v1/clients/reader/inbox?limit=1"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.Equal("overloaded", (string?)JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["code"]);
        }

        Assert.Equal(1, budget.Refused);
        store.HoldReads.SetResult();
        store.HoldReads = null;
        foreach (var read in held)
        {
            using var response = await read;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var page = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            // 64 KiB of page bytes hold four 15 KB letters (the store stops before the fifth).
            Assert.InRange(page["messages"]!.AsArray().Count, 1, 5);
        }

        await Eventually.True(() => budget.Reserved == 0, "every reservation is given back once written");
        using var again = await host.Http.GetAsync("/v1/clients/reader/inbox?limit=1");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(0, budget.Reserved);
    }

    [Fact]
    public async Task AbandonedPageRead_GivesItsBytesBack()
    {
        await using var host = await DaakiaTestHost.StartAsync(c => c["Daakia:Core:MaxPayloadBytes"] = "200000");
        var budget = host.Get<RestReadBudget>();
        for (var i = 0; i < 20; i++)
        {
            using var sent = await host.Http.SendAsync(Post($$"""{"recipients":["slow"],"payload":"{{new string('y', 190_000)}}"}"""));
            Assert.Equal(HttpStatusCode.Created, sent.StatusCode);
        }

        // A client that reads the head of a 4 MB page and goes away.
        for (var i = 0; i < 5; i++)
        {
            using var response = await host.Http.GetAsync("/v1/clients/slow/inbox?limit=512", HttpCompletionOption.ResponseHeadersRead);
            await using var body = await response.Content.ReadAsStreamAsync();
            _ = await body.ReadAsync(new byte[100]);
        }

        await Eventually.True(() => budget.Reserved == 0, "an abandoned response gives its bytes back");
    }

    [Fact]
    public void Budget_ReservesAtomically_AndCountsRefusals()
    {
        using var budget = new RestReadBudget(100);
        Assert.True(budget.TryReserve(60));
        Assert.False(budget.TryReserve(41));
        Assert.True(budget.TryReserve(40));
        budget.Release(60);
        Assert.Equal(40, budget.Reserved);
        Assert.Equal(1, budget.Refused);
        Parallel.For(0, 1000, _ =>
        {
            if (budget.TryReserve(7))
            {
                budget.Release(7);
            }
        });
        Assert.Equal(40, budget.Reserved);
    }

    private static HttpRequestMessage Post(string json)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Daakia-Client", "writer");
        return request;
    }
}
