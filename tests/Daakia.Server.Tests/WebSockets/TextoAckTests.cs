using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>texto acks: handed to the core without holding up the connection, bounded, and failures reported.</summary>
public sealed class TextoAckTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;
    private TextoAckStore _store = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(
        c =>
        {
            c["Daakia:OutboxCapacity"] = "64";
            c["Daakia:Core:MaxInflightPerConnection"] = "32";
        },
        customize: b => TextoAckStore.Install(b, s => _store = s));

    public async Task DisposeAsync()
    {
        _store.Release();
        await _host.DisposeAsync();
    }

    private async Task<(TextoTestClient A, TextoTestClient B, List<string> Received)> DeliverAsync(int count)
    {
        var a = await TextoTestClient.ConnectAsync(_host);
        var b = await TextoTestClient.ConnectAsync(_host);
        for (var i = 0; i < count; i++)
        {
            await a.SendAsync(b.Id, $"m{i}");
        }

        var received = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var receive = await b.NextAsync("receive");
            Assert.Equal($"m{i}", (string?)receive["data"]!["text"]);
            received.Add((string)receive["id"]!);
        }

        return (a, b, received);
    }

    private async Task<long> InboxCountAsync(string client)
    {
        var body = System.Text.Json.Nodes.JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{client}/inbox/count"))!;
        return (long)body["count"]!;
    }

    [Fact]
    public async Task Texto_AckWaitingForTheStore_DoesNotHoldUpTheConnectionsNextRequests()
    {
        var (a, b, received) = await DeliverAsync(1);
        await using var _ = a;
        await using var __ = b;

        _store.Hold();
        await b.AckAsync(received[0]);
        await b.SendFrameAsync("registration", null, "after-ack");
        var reply = await b.NextAsync("connection", TimeSpan.FromSeconds(10));
        Assert.Equal("after-ack", (string?)reply["id"]);
        Assert.Equal(1, _store.DeletedIds);

        _store.Release();
        await Eventually.True(async () => await InboxCountAsync(b.Id) == 0, "the ack's write completes once the store lets it");
    }

    [Fact]
    public async Task Texto_AckTheStoreFailsToWrite_GetsEioWithTheMessageIdAndTheConnectionStaysUsable()
    {
        _host.ExpectErrors = true;
        var (a, b, received) = await DeliverAsync(1);
        await using var _ = a;
        await using var __ = b;

        _store.Fail(new IOException("disk gone"));
        await b.AckAsync(received[0]);
        var error = await b.NextAsync("error");
        Assert.Equal(received[0], (string?)error["id"]);
        Assert.Equal("EIO", (string?)error["data"]!["code"]);
        Assert.Contains(_host.LoggedErrors, e => e.Contains("disk gone", StringComparison.Ordinal));

        await b.SendFrameAsync("registration", null, "still-here");
        Assert.Equal("still-here", (string?)(await b.NextAsync("connection"))["id"]);
    }

    [Fact]
    public async Task Texto_AcksPipelinedWhileTheStoreIsStalled_StopTheReadLoopAtTheOutstandingLimit()
    {
        // OutboxCapacity 64: at most 32 requests of one connection wait for the store before its read loop waits too.
        // At most 32 letters are in flight too (half the outbox), so the acks past the limit name ids not in the inbox:
        // they still go to the store, which is what the limit counts.
        const int Limit = 32;
        var (a, b, received) = await DeliverAsync(Limit);
        await using var _ = a;
        await using var __ = b;

        _store.Hold();
        foreach (var id in received.Concat(Enumerable.Range(0, 8).Select(_ => Guid.NewGuid().ToString())))
        {
            await b.AckAsync(id);
        }

        await b.SendFrameAsync("registration", null, "after-acks");
        await Eventually.True(() => _store.Deletes >= Limit + 1, "acks up to the limit are handed to the store");
        Assert.Equal(Limit + 1, _store.Deletes);
        Assert.False(b.Socket.TryPeekEvent(out var early), $"the read loop waits, so nothing is answered yet: {early?.ToJsonString()}");

        _store.Release();
        Assert.Equal("after-acks", (string?)(await b.NextAsync("connection"))["id"]);
        await Eventually.True(async () => await InboxCountAsync(b.Id) == 0, "every ack is written once the store lets it");
        Assert.Equal(received.Count + 8, _store.DeletedIds); // every ack reached the store once
    }
}
