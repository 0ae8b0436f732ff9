using Daakia.Testing;

namespace Daakia.Host.Tests;

/// <summary>The real executable refuses a bad value from each configuration source, and starts on a good one.</summary>
public sealed class InvalidConfigurationTests
{
    // The problems go to standard error, one per line, each naming the key, the value and where it came from; nothing
    // starts (no store, no listener) and no stack trace is printed.
    private static void AssertRefused(DaakiaProcess server, string dataDir, params string[] problems)
    {
        var output = string.Join("\n", server.Output);
        Assert.True(server.ExitCode == ExitCodes.Configuration, $"exit code {server.ExitCode}, expected {ExitCodes.Configuration}:\n{output}");
        Assert.Contains(server.ErrorOutput, l => l.StartsWith("Invalid configuration, not starting", StringComparison.Ordinal));
        foreach (var problem in problems)
        {
            Assert.Contains(problem, server.ErrorOutput.Select(l => l.Trim()));
        }

        Assert.Equal(problems.Length + 1, server.ErrorOutput.Count);
        Assert.DoesNotContain(server.Output, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal) || l.Contains("Exception", StringComparison.Ordinal));
        Assert.DoesNotContain(server.Output, l => l.Contains("listening", StringComparison.Ordinal));
        Assert.False(Directory.Exists(dataDir), "nothing started, so the store did not create its directory");
    }

    private static string FreshDataDir() => Path.Combine(Unique.TempDirectory(), "data");

    [Fact]
    public async Task BadFlagValue_StopsTheServer_NamingTheSettingAndTheFlag()
    {
        var dataDir = FreshDataDir();
        await using var server = await DaakiaProcess.RunToExitAsync(["--http-port", "0", "--data-dir", dataDir, "--durability", "fsycn"]);
        AssertRefused(server, dataDir, "Daakia:Durability must be one of fsync, os (was 'fsycn') [--durability]");
    }

    [Fact]
    public async Task BadAppSettingsValue_StopsTheServer_NamingTheSettingAndTheFile()
    {
        var dir = Unique.TempDirectory();
        var dataDir = Path.Combine(dir, "data");
        var file = Path.Combine(dir, "appsettings.json");
        await File.WriteAllTextAsync(file, """{"Daakia": {"HttpPort": 0, "Core": {"InboxPageSize": 0}}}""");
        await using var server = await DaakiaProcess.RunToExitAsync(["--data-dir", dataDir], workingDirectory: dir);
        AssertRefused(server, dataDir, $"Daakia:Core:InboxPageSize must be between 1 and 10000 (was 0) [{file}]");
    }

    [Fact]
    public async Task BadEnvironmentVariable_StopsTheServer_NamingTheSettingAndTheVariable()
    {
        var dataDir = FreshDataDir();
        await using var server = await DaakiaProcess.RunToExitAsync([], new Dictionary<string, string>
        {
            ["DAAKIA_HttpPort"] = "0",
            ["DAAKIA_DataDir"] = dataDir,
            ["DAAKIA_Store__MaxBatchSize"] = "0",
        });
        AssertRefused(server, dataDir, "Daakia:Store:MaxBatchSize must be between 1 and 100000 (was 0) [environment variable DAAKIA_Store__MaxBatchSize]");
    }

    [Fact]
    public async Task BadValuesFromEverySource_AreAllReportedAtOnce()
    {
        var dir = Unique.TempDirectory();
        var dataDir = Path.Combine(dir, "data");
        var file = Path.Combine(dir, "appsettings.json");
        await File.WriteAllTextAsync(file, """{"Daakia": {"Core": {"DefaultHeartbeat": "30"}}}""");
        await using var server = await DaakiaProcess.RunToExitAsync(
            ["--http-port", "70000", "--data-dir", dataDir],
            new Dictionary<string, string> { ["DAAKIA_InlineIo"] = "sometimes", ["DAAKIA_Core__InboxPageSize"] = "many" },
            dir);
        AssertRefused(server, dataDir,
            "Daakia:HttpPort must be between 0 and 65535 (was 70000) [--http-port]",
            "Daakia:InlineIo must be true or false (was 'sometimes') [environment variable DAAKIA_InlineIo]",
            "Daakia:Core:InboxPageSize must be a whole number (was 'many') [environment variable DAAKIA_Core__InboxPageSize]",
            $"Daakia:Core:DefaultHeartbeat must be at most Daakia:Core:MaxHeartbeat (01:00:00) (was 30.00:00:00) [{file}]");
    }

    [Fact]
    public async Task ValidValuesAtTheEdges_FromEverySource_Start()
    {
        var dir = Unique.TempDirectory();
        var dataDir = Path.Combine(dir, "data");
        await File.WriteAllTextAsync(Path.Combine(dir, "appsettings.json"), """
            {"Daakia": {"Core": {"InboxPageSize": 1, "MaxInflightPerConnection": 2, "MinHeartbeat": "00:00:00.1", "HeartbeatCheckInterval": "00:00:00.1"}}}
            """);
        await using var server = await DaakiaProcess.StartAsync(
            ["--http-port", "0", "--data-dir", dataDir, "--durability", "os"],
            new Dictionary<string, string> { ["DAAKIA_Store__MaxBatchSize"] = "1", ["DAAKIA_Store__ReaderPoolSize"] = "1", ["DAAKIA_OutboxCapacity"] = "8" },
            dir);
        Assert.Contains(server.Output, l => l.Contains("durability=os", StringComparison.Ordinal));

        await using var alice = await WsTestClient.ConnectAsync(server.WebSocketUri("/v1/ws"));
        await alice.RequestAsync("hello", new { author = "alice" });
        await using var bob = await WsTestClient.ConnectAsync(server.WebSocketUri("/v1/ws"));
        var hello = await bob.RequestAsync("hello", new { author = "bob" });
        Assert.Equal(2, (int)hello["limits"]!["max_inflight"]!);
        // One letter per batch and per page, two in flight: three letters still arrive, in order.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("ack", (string?)(await alice.RequestAsync("send", new { recipients = new[] { "bob" }, payload = i }))["type"]);
        }

        for (var i = 0; i < 3; i++)
        {
            var letter = await bob.NextAsync("letter");
            Assert.Equal(i, (int)letter["payload"]!);
            await bob.RequestAsync("ack", new { message_ids = new[] { (string)letter["message_id"]! } });
        }
    }
}
