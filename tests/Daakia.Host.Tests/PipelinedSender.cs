using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Daakia.Testing;

namespace Daakia.Host.Tests;

/// <summary>
/// A client that pipelines sends on <c>/v1/ws</c> without waiting for their acks. Send <c>n</c> carries request id
/// <c>{author}-{n}</c> and payload <c>{"n": n}</c>; frames are written one after another on one socket, so the order
/// of <c>n</c> is the order the server reads them. Acks are collected as they come, matched by id. At most
/// <see cref="Window"/> sends are unacknowledged at a time, as a real pipelining client keeps a window.
/// </summary>
internal sealed class PipelinedSender : IAsyncDisposable
{
    private readonly WsTestClient _client;
    private readonly ConcurrentDictionary<int, string> _acked = new();
    private readonly ConcurrentQueue<JsonObject> _unexpected = new();
    private readonly SemaphoreSlim _window = new(Window, Window);
    private readonly Task _replies;
    private int _written;

    private PipelinedSender(WsTestClient client, string author)
    {
        _client = client;
        Author = author;
        _replies = Task.Run(CollectRepliesAsync);
    }

    /// <summary>Most sends written and not yet answered.</summary>
    public const int Window = 1000;

    public string Author { get; }

    /// <summary>Sends written to the socket so far: <c>n</c> = 0 … Written − 1.</summary>
    public int Written => Volatile.Read(ref _written);

    /// <summary>Acknowledged sends so far: <c>n</c> → message id.</summary>
    public IReadOnlyDictionary<int, string> Acked => _acked;

    /// <summary>Frames that were neither an ack of one of our sends nor expected (errors, above all).</summary>
    public IReadOnlyCollection<JsonObject> Unexpected => _unexpected;

    public static async Task<PipelinedSender> ConnectAsync(Uri webSocket, string author)
    {
        var client = await WsTestClient.ConnectAsync(webSocket);
        var hello = await client.RequestAsync("hello", new { author });
        Assert.Equal("ack", (string?)hello["type"]);
        return new PipelinedSender(client, author);
    }

    /// <summary>
    /// Writes send <see cref="Written"/> (the next <c>n</c>) to <paramref name="recipients"/>; does not wait for its
    /// ack, only for room in the window.
    /// </summary>
    public async Task SendNextAsync(string[] recipients, CancellationToken cancellationToken = default)
    {
        await _window.WaitAsync(cancellationToken);
        var n = Written;
        var frame = new JsonObject
        {
            ["id"] = $"{Author}-{n}",
            ["type"] = "send",
            ["recipients"] = new JsonArray([.. recipients.Select(r => JsonValue.Create(r))]),
            ["payload"] = new JsonObject { ["n"] = n },
        };
        await _client.SendTextAsync(frame.ToJsonString());
        Interlocked.Increment(ref _written);
    }

    /// <summary>Completes once the connection is gone and every reply it brought is collected.</summary>
    public Task Done => _replies;

    private async Task CollectRepliesAsync()
    {
        var prefix = Author + "-";
        while (true)
        {
            JsonObject frame;
            try
            {
                frame = await _client.NextEventAsync(TimeSpan.FromMinutes(5));
            }
            catch (InvalidOperationException)
            {
                return; // the connection closed (the server was killed)
            }

            var id = (string?)frame["id"];
            if ((string?)frame["type"] == "ack" && id is not null && id.StartsWith(prefix, StringComparison.Ordinal)
                && int.TryParse(id.AsSpan(prefix.Length), out var n) && (string?)frame["message_id"] is { } messageId)
            {
                Assert.True(_acked.TryAdd(n, messageId), $"{id} was acknowledged twice");
                _window.Release();
            }
            else
            {
                _unexpected.Enqueue(frame);
                _window.Release();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _client.DisposeAsync();
        await _replies;
        _window.Dispose();
    }
}
