using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Core;
using Daakia.Server.WebSockets;
using Daakia.Testing;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>
/// A client that stops reading its socket, over a small outbox: publications that do not fit are dropped and counted
/// while the connection stays; a letter that does not fit closes it as a slow consumer with a close frame that says so
/// (counted once; the letter stays in the inbox). Letters alone cannot fill an outbox: a connection's letters in flight
/// are bounded to half of it.
/// </summary>
public sealed class SlowConsumerTests
{
    private const int PayloadChars = 100_000;

    /// <summary>A letter's payload: three fit the letters' in-flight bound (half the outbox), a fourth does not.</summary>
    private const int LetterChars = 40_000;

    private static Task<DaakiaTestHost> StartAsync(CloseLog log) => DaakiaTestHost.StartAsync(
        c =>
        {
            c["Daakia:OutboxBytes"] = "262144";
            c["Daakia:Core:MaxInflightBytesPerConnection"] = "131072";
            c["Logging:LogLevel:Daakia.WebSockets"] = "Information";
        },
        customize: b => b.Logging.AddProvider(log));

    [Fact]
    public async Task ALetterThatDoesNotFitTheOutbox_ClosesWith1008SlowConsumer_AndStaysInTheInbox()
    {
        var log = new CloseLog();
        await using var host = await StartAsync(log);
        var metrics = host.Get<WebSocketSessionFactory>().Metrics;
        var before = metrics.ClosedCount(texto: false, SessionEnd.SlowConsumer);
        using var sink = await RawClient.HelloAsync(host, "sink");
        await sink.RequestAsync("""{"id":"s","type":"subscribe","topics":["news/#"]}""");
        await using var publisher = await WsTestClient.HelloAsync(host, "publisher");

        // The sink reads nothing from here on: publications fill the kernel's buffers, then its outbox. Several drops in
        // a row: the first can come while the writer is still moving frames into the kernel, which would leave room.
        // A letter may still fit while the writer moves frames into the kernel; it then waits in flight, and the
        // outbox is filled again before the next (letters are small enough for three in flight).
        var sent = new List<string>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!log.SawSlowConsumer)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no slow-consumer close after {sent.Count} letters");
            Assert.True(sent.Count < 3, "three letters in flight and no close");
            await PublishUntilDroppedAsync(host, publisher, inARow: 3);
            sent.Add(await SendLetterAsync(host, "sink", sent.Count));
            await Eventually.True(() => log.SawSlowConsumer || sent.Count < 3, "the close for the third letter");
        }

        // Reading again, the sink gets what was already on its way, then a close frame that names the reason.
        var frames = await sink.ReadUntilCloseAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, sink.CloseStatus);
        Assert.Equal("slow consumer", sink.CloseDescription);
        // Only letters that fit came before the close, in order; the one that did not fit never did.
        var delivered = frames.Where(f => (string?)f["type"] == "letter").Select(f => (string)f["message_id"]!).ToList();
        Assert.True(delivered.Count < sent.Count, $"{delivered.Count} of {sent.Count} letters delivered before the close");
        Assert.Equal(sent.Take(delivered.Count), delivered);
        Assert.Contains(frames, f => (string?)f["type"] == "publication");
        await Eventually.True(() => metrics.ClosedCount(texto: false, SessionEnd.SlowConsumer) == before + 1, "the close is counted once");

        // Nothing was acked, so every letter is still in the inbox and comes, in order, to a client that reads.
        var count = JsonNode.Parse(await host.Http.GetStringAsync("/v1/clients/sink/inbox/count"))!["count"]!.GetValue<long>();
        Assert.Equal(sent.Count, count);
        await using var reader = await WsTestClient.HelloAsync(host, "sink");
        var again = new List<string>();
        while (again.Count < sent.Count)
        {
            var letter = await reader.NextAsync("letter", TimeSpan.FromSeconds(30));
            again.Add((string)letter["message_id"]!);
            await reader.RequestAsync("ack", new { message_ids = new[] { (string)letter["message_id"]! } });
        }

        Assert.Equal(sent, again);
        Assert.Empty(host.LoggedErrors);
    }

    [Fact]
    public async Task PublicationsToASubscriberThatStopsReading_AreDroppedAndCounted_AndTheConnectionStays()
    {
        var log = new CloseLog();
        await using var host = await StartAsync(log);
        using var sub = await RawClient.HelloAsync(host, "listener");
        await sub.RequestAsync("""{"id":"s","type":"subscribe","topics":["news/#"]}""");
        await using var publisher = await WsTestClient.HelloAsync(host, "publisher");
        var before = await DroppedAsync(host);
        var published = await PublishUntilDroppedAsync(host, publisher);

        Assert.False(log.SawSlowConsumer, "a subscriber that falls behind loses publications, not its connection");

        // Reading again, the subscriber drains what was kept, and the connection still answers requests.
        var reply2 = await sub.RequestAsync("""{"id":"after","type":"ping"}""", TimeSpan.FromSeconds(60));
        Assert.Equal("ack", (string?)reply2["type"]);
        Assert.Equal(WebSocketState.Open, sub.State);
        var received = sub.Frames.Count(f => (string?)f["type"] == "publication");
        Assert.True(received > 0 && received < published, $"received {received} of {published} publications");
        Assert.Equal(published - received, await DroppedAsync(host) - before);
        Assert.Empty(host.LoggedErrors);
    }

    /// <summary>
    /// Publishes 100 kB publications to <c>news/a</c> until the server reports <paramref name="inARow"/> of them dropped
    /// one after another; returns how many were published.
    /// </summary>
    private static async Task<int> PublishUntilDroppedAsync(DaakiaTestHost host, WsTestClient publisher, int inARow = 1)
    {
        var payload = new string('p', PayloadChars);
        var last = await DroppedAsync(host);
        var published = 0;
        var dropsInARow = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (dropsInARow < inARow)
        {
            Assert.True(DateTime.UtcNow < deadline, $"not {inARow} publications dropped in a row after {published}");
            Assert.True(published < 5_000, "the outbox never filled");
            var reply = await publisher.RequestAsync("publish", new JsonObject { ["topic"] = "news/a", ["payload"] = payload });
            Assert.Equal("ack", (string?)reply["type"]);
            published++;
            var dropped = await DroppedAsync(host);
            dropsInARow = dropped > last ? dropsInARow + 1 : 0;
            last = dropped;
        }

        return published;
    }

    private static async Task<string> SendLetterAsync(DaakiaTestHost host, string recipient, int n)
    {
        var body = new JsonObject { ["recipients"] = new JsonArray(recipient), ["payload"] = new JsonObject { ["n"] = n, ["pad"] = new string('x', LetterChars) } };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Daakia-Client", "sender");
        using var response = await host.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["message_id"]!;
    }

    /// <summary>This server's own count (the exported metric sums every engine of the test process).</summary>
    private static Task<long> DroppedAsync(DaakiaTestHost host) => Task.FromResult(host.Get<DaakiaEngine>().PublicationsDropped);

    /// <summary>Notes the server's "closing" log line for a slow consumer (the moment it decided to close).</summary>
    private sealed class CloseLog : ILoggerProvider, ILogger
    {
        private int _slow;

        public bool SawSlowConsumer => Volatile.Read(ref _slow) != 0;

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Name == "ClosingSession" && formatter(state, exception).Contains("slow consumer", StringComparison.Ordinal))
            {
                Volatile.Write(ref _slow, 1);
            }
        }

        public void Dispose()
        {
        }
    }

    /// <summary>
    /// A WebSocket client with a small receive buffer that reads only when told to, so the server's writes back up.
    /// </summary>
    private sealed class RawClient : IDisposable
    {
        private readonly ClientWebSocket _socket = new();
        private readonly SocketsHttpHandler _handler;
        private readonly HttpMessageInvoker _invoker;
        private byte[] _buffer = new byte[1 << 16];

        private RawClient()
        {
            _handler = new SocketsHttpHandler
            {
                ConnectCallback = async (ctx, token) =>
                {
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, NoDelay = true };
                    await socket.ConnectAsync(ctx.DnsEndPoint, token);
                    return new NetworkStream(socket, ownsSocket: true);
                },
            };
            _invoker = new HttpMessageInvoker(_handler);
        }

        public ConcurrentQueue<JsonObject> Frames { get; } = new();

        public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

        public string? CloseDescription => _socket.CloseStatusDescription;

        public WebSocketState State => _socket.State;

        public static async Task<RawClient> HelloAsync(DaakiaTestHost host, string author)
        {
            var client = new RawClient();
            await client._socket.ConnectAsync(host.WebSocketUri("/v1/ws"), client._invoker, CancellationToken.None);
            var reply = await client.RequestAsync($$"""{"id":"h","type":"hello","author":"{{author}}"}""");
            Assert.Equal("ack", (string?)reply["type"]);
            return client;
        }

        /// <summary>Sends a request and reads frames until its reply; other frames are kept in <see cref="Frames"/>.</summary>
        public async Task<JsonObject> RequestAsync(string json, TimeSpan? timeout = null)
        {
            var id = (string)JsonNode.Parse(json)!["id"]!;
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
            await _socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, cts.Token);
            while (true)
            {
                var frame = await ReadAsync(cts.Token) ?? throw new InvalidOperationException("closed before the reply to " + id);
                if ((string?)frame["id"] == id && (string?)frame["type"] is "ack" or "error")
                {
                    return frame;
                }

                Frames.Enqueue(frame);
            }
        }

        /// <summary>Reads every frame until the server's close frame.</summary>
        public async Task<List<JsonObject>> ReadUntilCloseAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            var frames = new List<JsonObject>();
            while (await ReadAsync(cts.Token) is { } frame)
            {
                frames.Add(frame);
            }

            return frames;
        }

        private async Task<JsonObject?> ReadAsync(CancellationToken token)
        {
            var count = 0;
            while (true)
            {
                if (count == _buffer.Length)
                {
                    Array.Resize(ref _buffer, _buffer.Length * 2);
                }

                var result = await _socket.ReceiveAsync(_buffer.AsMemory(count), token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return null;
                }

                count += result.Count;
                if (result.EndOfMessage)
                {
                    return JsonNode.Parse(_buffer.AsSpan(0, count))!.AsObject();
                }
            }
        }

        public void Dispose()
        {
            _socket.Dispose();
            _invoker.Dispose();
            _handler.Dispose();
        }
    }
}
