using System.Diagnostics;
using Daakia.Testing;
using Xunit.Abstractions;

namespace Daakia.Host.Tests;

/// <summary>
/// The real python-zaqarclient (Debian's python3-zaqarclient 2.4, API v2, noauth; installed by test.sh) against the
/// real executable: tests/compat/zaqarclient_compat.py makes queues, sets metadata, posts, lists, gets by id, claims,
/// renews, deletes under the claim, reads stats, pops, deletes by ids and deletes queues; subscribes a webhook receiver
/// of its own (on loopback, which the loopback-only server lets webhooks reach), lists, gets, updates and deletes
/// subscriptions and checks each notification and its signature; asks for pre-signed URLs and uses them through the
/// client's signed-url auth backend, checking each answer.
/// </summary>
public sealed class ZaqarClientCompatTests(ITestOutputHelper output)
{
    [Fact]
    public async Task PythonZaqarClient_DrivesQueuesMessagesClaimsSubscriptionsAndSignedUrls_AsAgainstZaqar()
    {
        await using var server = await DaakiaProcess.StartAsync(
            ["--http-port", "0", "--data-dir", Unique.TempDirectory()],
            new Dictionary<string, string> { ["DAAKIA_Zaqar__SignedUrlKey"] = "compat-test-signed-url-key-" + Guid.NewGuid().ToString("N") });
        var root = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(DaakiaProcess.DllPath()))))))!;
        var script = Path.Combine(root, "tests", "compat", "zaqarclient_compat.py");
        Assert.True(File.Exists(script), script);
        var start = new ProcessStartInfo("/usr/bin/python3", [script, server.BaseUri.ToString().TrimEnd('/')])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var python = Process.Start(start)!;
        var stdout = python.StandardOutput.ReadToEndAsync();
        var stderr = python.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await python.WaitForExitAsync(timeout.Token);
        output.WriteLine(await stdout);
        output.WriteLine(await stderr);
        Assert.True(python.ExitCode == 0, $"python-zaqarclient: exit {python.ExitCode}\n{await stdout}\n{await stderr}");
        Assert.Contains("compat: all checks passed", await stdout, StringComparison.Ordinal);
    }
}
