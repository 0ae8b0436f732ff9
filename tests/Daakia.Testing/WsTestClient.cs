using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Daakia.Testing;

/// <summary>
/// A real <see cref="ClientWebSocket"/> speaking JSON frames: requests are matched to their reply by id; every other
/// frame (letters, publications, errors without id) is queued for the test to read in order.
/// </summary>
public sealed class WsTestClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<JsonObject>> _waiting = new();
    private readonly Channel<JsonObject> _events = Channel.CreateUnbounded<JsonObject>();
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private Task _receiver = Task.CompletedTask;
    private int _nextId;

    public WebSocketCloseStatus? CloseStatus { get; private set; }

    public string? CloseDescription { get; private set; }

    /// <summary>Completes when the server closed the connection (or it broke).</summary>
    public TaskCompletionSource Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Every frame received, in order (for protocol-level assertions).</summary>
    public ConcurrentQueue<JsonObject> AllFrames { get; } = new();

    /// <summary>The text of every frame received, in order, as sent (escapes and all).</summary>
    public ConcurrentQueue<string> RawFrames { get; } = new();

    public WebSocketState State => _socket.State;

    public static async Task<WsTestClient> ConnectAsync(Uri uri)
    {
        var client = new WsTestClient();
        await client._socket.ConnectAsync(uri, CancellationToken.None);
        client._receiver = Task.Run(client.ReceiveLoopAsync);
        return client;
    }

    /// <summary>Connects to <c>/v1/ws</c> and says hello as <paramref name="author"/>.</summary>
    public static async Task<WsTestClient> HelloAsync(DaakiaTestHost host, string author, object? extra = null)
    {
        var client = await ConnectAsync(host.WebSocketUri("/v1/ws"));
        var fields = new JsonObject { ["author"] = author };
        if (extra is not null)
        {
            foreach (var (k, v) in JsonSerializer.SerializeToNode(extra)!.AsObject())
            {
                fields[k] = v?.DeepClone();
            }
        }

        var reply = await client.RequestAsync("hello", fields);
        if ((string?)reply["type"] != "ack")
        {
            throw new InvalidOperationException("hello failed: " + reply.ToJsonString());
        }

        return client;
    }

    /// <summary>Sends a request and waits for its reply (ack or error).</summary>
    public async Task<JsonObject> RequestAsync(string type, JsonObject? fields = null, TimeSpan? timeout = null)
    {
        var id = "r" + Interlocked.Increment(ref _nextId);
        var frame = fields?.DeepClone().AsObject() ?? [];
        frame["id"] = id;
        frame["type"] = type;
        var tcs = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[id] = tcs;
        await SendTextAsync(frame.ToJsonString());
        return await tcs.Task.WaitAsync(timeout ?? Eventually.DefaultTimeout);
    }

    public Task<JsonObject> RequestAsync(string type, object fields, TimeSpan? timeout = null) =>
        RequestAsync(type, JsonSerializer.SerializeToNode(fields)!.AsObject(), timeout);

    /// <summary>Sends a raw text frame (for malformed-input tests).</summary>
    public async Task SendTextAsync(string text)
    {
        await _sendLock.WaitAsync();
        try
        {
            await _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Sends bytes as one text frame, as they are (for bytes that are not UTF-8, or an empty frame).</summary>
    public async Task SendTextBytesAsync(byte[] bytes)
    {
        await _sendLock.WaitAsync();
        try
        {
            await _socket.SendAsync(bytes, WebSocketMessageType.Text, true, CancellationToken.None);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Sends one text message split into several WebSocket frames.</summary>
    public async Task SendFragmentedAsync(params string[] parts)
    {
        await _sendLock.WaitAsync();
        try
        {
            for (var i = 0; i < parts.Length; i++)
            {
                await _socket.SendAsync(Encoding.UTF8.GetBytes(parts[i]), WebSocketMessageType.Text, i == parts.Length - 1, CancellationToken.None);
            }
        }
        finally
        {
            _sendLock.Release();
        }
    }

    public async Task SendBinaryAsync(byte[] bytes)
    {
        await _sendLock.WaitAsync();
        try
        {
            await _socket.SendAsync(bytes, WebSocketMessageType.Binary, true, CancellationToken.None);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>The next frame that is not a reply to a pending request, within the timeout.</summary>
    public async Task<JsonObject> NextEventAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Eventually.DefaultTimeout);
        try
        {
            return await _events.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("No event arrived in time.");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"The connection closed ({CloseStatus} {CloseDescription}) before an event arrived.");
        }
    }

    /// <summary>
    /// The next event of the given type, skipping other events. An <c>error</c> frame met on the way is not skipped:
    /// it throws (with the frame), since a test waiting for something else did not expect it.
    /// </summary>
    public async Task<JsonObject> NextAsync(string type, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Eventually.DefaultTimeout);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            var e = await NextEventAsync(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1));
            var actual = (string?)e["type"];
            if (actual == type)
            {
                return e;
            }

            if (actual == "error")
            {
                throw new UnexpectedErrorFrameException(type, e);
            }
        }
    }

    /// <summary>True if an event is already waiting (no wait).</summary>
    public bool TryPeekEvent(out JsonObject? frame) => _events.Reader.TryPeek(out frame);

    public async Task CloseAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
        }

        await Closed.Task.WaitAsync(Eventually.DefaultTimeout);
    }

    /// <summary>Drops the TCP connection without a close handshake (a crashed client).</summary>
    public void Abort() => _socket.Abort();

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseStatus = result.CloseStatus;
                    CloseDescription = result.CloseStatusDescription;
                    break;
                }

                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }

                var bytes = message.ToArray();
                var node = JsonNode.Parse(bytes)!.AsObject();
                RawFrames.Enqueue(Encoding.UTF8.GetString(bytes));
                message.SetLength(0);
                AllFrames.Enqueue(node);
                var id = node["id"]?.ToJsonString().Trim('"');
                var type = (string?)node["type"];
                if (id is not null && (type is "ack" or "error") && _waiting.TryRemove(id, out var tcs))
                {
                    tcs.TrySetResult(node);
                }
                else
                {
                    _events.Writer.TryWrite(node);
                }
            }
        }
        catch (Exception)
        {
        }
        finally
        {
            _events.Writer.TryComplete();
            Closed.TrySetResult();
        }
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
                await Closed.Task.WaitAsync(TimeSpan.FromSeconds(5));
            }
        }
        catch (Exception)
        {
        }

        await _stop.CancelAsync();
        _socket.Abort();
        await _receiver;
        _socket.Dispose();
        _stop.Dispose();
        _sendLock.Dispose();
    }
}
