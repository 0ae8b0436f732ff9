using System.Net.WebSockets;
using Daakia.Testing;

namespace Daakia.Host.Tests;

public sealed class CrashSafetyTests
{
    [Fact]
    public async Task KillDashNine_AfterAcks_LosesNothingAndDeliversEachLetterOnce()
    {
        const int N = 300;
        var dataDir = Unique.TempDirectory();
        var server = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir]);
        var acked = new List<string>();
        await using (var sender = await WsTestClient.ConnectAsync(server.WebSocketUri("/v1/ws")))
        {
            await sender.RequestAsync("hello", new { author = "sender" });
            // Pipelined: many sends in flight share group commits; each ack means durable.
            var replies = await Task.WhenAll(Enumerable.Range(0, N).Select(i =>
                sender.RequestAsync("send", new { recipients = new[] { "receiver" }, payload = new { n = i } })));
            foreach (var r in replies)
            {
                Assert.Equal("ack", (string?)r["type"]);
                acked.Add((string)r["message_id"]!);
            }

            // No close handshake, no drain: the process dies with whatever it had in flight.
            await server.KillHardAsync();
        }

        await server.DisposeAsync();
        await using var restarted = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir]);
        await using var receiver = await WsTestClient.ConnectAsync(restarted.WebSocketUri("/v1/ws"));
        await receiver.RequestAsync("hello", new { author = "receiver" });
        var received = new List<string>();
        var numbers = new List<int>();
        while (received.Count < N)
        {
            var letter = await receiver.NextAsync("letter");
            received.Add((string)letter["message_id"]!);
            numbers.Add((int)letter["payload"]!["n"]!);
            await receiver.RequestAsync("ack", new { message_ids = new[] { (string)letter["message_id"]! } });
        }

        Assert.Equal(acked.Order(), received.Order());
        Assert.Equal(received.Count, received.Distinct().Count());
        var ping = await receiver.RequestAsync("ping");
        Assert.Equal("ack", (string?)ping["type"]);
        Assert.False(receiver.TryPeekEvent(out var extra), $"no letter beyond the {N} acknowledged: {extra?.ToJsonString()}");
        Directory.Delete(dataDir, recursive: true);
    }

    [Fact]
    public async Task Sigterm_ClosesConnectionsWith1001AndExitsZero()
    {
        var dataDir = Unique.TempDirectory();
        await using var server = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir]);
        await using var client = await WsTestClient.ConnectAsync(server.WebSocketUri("/v1/ws"));
        await client.RequestAsync("hello", new { author = "alice" });
        var sent = await client.RequestAsync("send", new { recipients = new[] { "bob" }, payload = "kept" });
        Assert.Equal("ack", (string?)sent["type"]);

        var exit = await server.TerminateAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, exit);
        await client.Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, client.CloseStatus);

        await using var again = await DaakiaProcess.StartAsync(["--http-port", "0", "--data-dir", dataDir]);
        await using var bob = await WsTestClient.ConnectAsync(again.WebSocketUri("/v1/ws"));
        await bob.RequestAsync("hello", new { author = "bob" });
        Assert.Equal("kept", (string?)(await bob.NextAsync("letter"))["payload"]);
    }
}
