using System.Net;
using System.Text.Json;
using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Testing;

namespace Daakia.Server.Tests;

public sealed class StoreHealthTests
{
    [Fact]
    public async Task Healthz_AfterTheStoreWriterDies_Is503WithTheReasonInJson()
    {
        var dir = Unique.TempDirectory();
        var host = await DaakiaTestHost.StartAsync(dataDirectory: dir);
        try
        {
            Assert.Equal("ok\n", await host.Http.GetStringAsync("/healthz"));

            host.ExpectErrors = true; // the store logs its fault at Critical, on purpose here
            var store = host.Get<IDaakiaStore>();
            StoreHooks.BeforeBatch(store, _ => throw new IOException("simulated disk failure"));
            await Assert.ThrowsAsync<DaakiaException>(() => store.RecordSeenAsync(TenantId.Default, ClientId.Parse("probe"), DateTimeOffset.UtcNow).AsTask().WaitAsync(TimeSpan.FromSeconds(15)));

            using var response = await host.Http.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("faulted", body.RootElement.GetProperty("status").GetString());
            Assert.Contains("simulated disk failure", body.RootElement.GetProperty("reason").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            // Shutting down a server whose store is faulted completes (the failed flush is logged, not thrown).
            await host.DisposeAsync();

            Directory.Delete(dir, recursive: true);
        }
    }
}
