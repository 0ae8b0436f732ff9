using System.Net;
using Daakia.Testing;

namespace Daakia.Host.Tests;

public sealed class CommandLineTests
{
    [Fact]
    public async Task Serve_PortZero_LogsBoundAddressOpenTenantWarningAndIsHealthy()
    {
        var dataDir = Unique.TempDirectory();
        await using var server = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir]);
        Assert.NotEqual(0, server.BaseUri.Port);
        // The warning is logged at start-up; its line may reach us after the bound address did.
        await Eventually.True(() => server.Output.Any(l => l.Contains("OPEN DEVELOPMENT TENANT", StringComparison.Ordinal)), "the open-tenant warning is logged");
        using var http = new HttpClient { BaseAddress = server.BaseUri };
        await Eventually.True(async () => (await http.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK, "healthz answers 200");
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("# TYPE", metrics, StringComparison.Ordinal);
        var openApi = await http.GetStringAsync("/openapi/v1.json");
        Assert.Contains("\"openapi\"", openApi, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dataDir, "daakia.db")), "the store lives in --data-dir");
    }

    [Fact]
    public async Task Metrics_ExportTheCoreCountersAsPrometheusText()
    {
        // A process of its own: the meter and the exporter are process-wide.
        await using var server = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", Unique.TempDirectory()]);
        await using var alice = await WsTestClient.ConnectAsync(server.WebSocketUri("/v1/ws"));
        await alice.RequestAsync("hello", new { author = "alice" });
        await alice.RequestAsync("send", new { recipients = new[] { "bob" }, payload = 1 });
        using var http = new HttpClient { BaseAddress = server.BaseUri };
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("daakia_letters_sent 1", metrics, StringComparison.Ordinal);
        Assert.Contains("daakia_connections 1", metrics, StringComparison.Ordinal);
        Assert.Contains("daakia_connections_closed{reason=\"HeartbeatTimeout\"} 0", metrics, StringComparison.Ordinal);
        // The store's meter: the send above was committed, so at least one commit of at least one write.
        Assert.True(MetricValue(metrics, "daakia_store_commits") >= 1, "daakia_store_commits counts the send's commit");
        Assert.True(MetricValue(metrics, "daakia_store_writes") >= MetricValue(metrics, "daakia_store_commits"), "a commit holds at least one write");
        // Only the documented meters are listened to (Daakia's and the runtime's), and the runtime's are still there.
        Assert.Contains(metrics.Split('\n'), l => l.StartsWith("system_runtime_", StringComparison.Ordinal));
        Assert.DoesNotContain("memory_pool", metrics, StringComparison.Ordinal);
        // HTTP requests are counted; the open WebSocket connection is not an HTTP request in progress.
        await http.GetStringAsync("/healthz");
        metrics = await http.GetStringAsync("/metrics");
        Assert.Contains(metrics.Split('\n'), l => l.StartsWith("http_requests_received_total{", StringComparison.Ordinal) && l.Contains("endpoint=\"/healthz\"", StringComparison.Ordinal));
        Assert.DoesNotContain("/v1/ws", metrics, StringComparison.Ordinal);

        // The commit duration (listened to from the first scrape on), with the sub-millisecond buckets its instrument
        // advises: an fsync'd commit takes ~0.1–1 ms.
        await alice.RequestAsync("send", new { recipients = new[] { "bob" }, payload = 2 });
        metrics = await http.GetStringAsync("/metrics");
        Assert.True(MetricValue(metrics, "daakia_store_commit_duration_count") >= 1, "the second send's commit is timed");
        Assert.Contains(metrics.Split('\n'), l => l.StartsWith("daakia_store_commit_duration_bucket{le=\"0.00025\"} ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EnvironmentVariables_ConfigureTheServer()
    {
        var dataDir = Unique.TempDirectory();
        await using var server = await DaakiaProcess.StartAsync([], new Dictionary<string, string>
        {
            ["DAAKIA_HttpPort"] = "0",
            ["DAAKIA_DataDir"] = dataDir,
            ["DAAKIA_Core__MaxRecipients"] = "2",
        });
        await using var client = await WsTestClient.ConnectAsync(server.WebSocketUri("/v1/ws"));
        var hello = await client.RequestAsync("hello", new { author = "alice" });
        Assert.Equal(2, (int)hello["limits"]!["max_recipients"]!);
        Assert.True(File.Exists(Path.Combine(dataDir, "daakia.db")));
    }

    [Fact]
    public async Task Bind_NonLoopbackWithOpenTenant_RefusesToStart()
    {
        await using var server = await DaakiaProcess.RunToExitAsync(["--http-port", "0", "--bind", "0.0.0.0", "--data-dir", Unique.TempDirectory()]);
        Assert.Equal(ExitCodes.Configuration, server.ExitCode);
        Assert.Contains(server.ErrorOutput, l => l.Contains(
            "Daakia:Bind is 0.0.0.0, not loopback: refusing to serve the open development tenant there, it has no credentials. " +
            "Bind to loopback, or set Daakia:AllowOpenTenantOnNetwork=true knowingly. [--bind]", StringComparison.Ordinal));
    }
    private static double MetricValue(string metrics, string name)
    {
        var line = metrics.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        return double.Parse(line.AsSpan(name.Length + 1), System.Globalization.CultureInfo.InvariantCulture);
    }
}

public sealed class ConfigurationFileTests
{
    [Fact]
    public async Task AppSettingsInTheWorkingDirectory_ConfigureTheServer_AndFlagsWinOverThem()
    {
        var dir = Unique.TempDirectory();
        var dataDir = Path.Combine(dir, "from-flag");
        await File.WriteAllTextAsync(Path.Combine(dir, "appsettings.json"), """
            {"Daakia": {"HttpPort": 0, "DataDir": "from-file", "Core": {"MaxRecipients": 7}}}
            """);
        await using var server = await DaakiaProcess.StartAsync(["--data-dir", dataDir], workingDirectory: dir);
        await using var client = await WsTestClient.ConnectAsync(server.WebSocketUri("/v1/ws"));
        var hello = await client.RequestAsync("hello", new { author = "alice" });
        Assert.Equal(7, (int)hello["limits"]!["max_recipients"]!);
        Assert.True(File.Exists(Path.Combine(dataDir, "daakia.db")), "the flag wins over the file");
        Assert.False(Directory.Exists(Path.Combine(dir, "from-file")));
    }
}
