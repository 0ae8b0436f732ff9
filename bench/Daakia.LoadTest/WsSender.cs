using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Daakia.LoadTest;

/// <summary>Sends N letters with at most W unacknowledged, timing each send → ack.</summary>
internal sealed class WsSender : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly string _recipient;
    private readonly int _messages;
    private readonly string _pad;
    private readonly SemaphoreSlim _window;
    private readonly long[] _sentAt;
    private readonly Latencies _ackLatency;
    private readonly TaskCompletionSource _allAcked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _acked;

    private WsSender(ClientWebSocket socket, string recipient, int messages, int payload, int window, Latencies ackLatency)
    {
        _socket = socket;
        _recipient = recipient;
        _messages = messages;
        _pad = new string('x', Math.Max(0, payload - 40));
        _window = new SemaphoreSlim(window, window);
        _sentAt = new long[messages];
        _ackLatency = ackLatency;
    }

    public int Errors { get; private set; }

    public static async Task<WsSender> ConnectAsync(Uri url, string author, string recipient, int messages, int payload, int window, Latencies ackLatency) =>
        new(await WsDirectScenario.HelloAsync(url, author), recipient, messages, payload, window, ackLatency);

    public async Task RunAsync()
    {
        var reader = Task.Run(ReadRepliesAsync);
        for (var i = 0; i < _messages; i++)
        {
            await _window.WaitAsync();
            var now = Stopwatch.GetTimestamp();
            _sentAt[i] = now;
            var frame = string.Create(CultureInfo.InvariantCulture,
                $"{{\"id\":{i + 1},\"type\":\"send\",\"recipients\":[\"{_recipient}\"],\"payload\":{{\"t\":{now},\"s\":{i},\"pad\":\"{_pad}\"}}}}");
            await _socket.SendAsync(Encoding.UTF8.GetBytes(frame), WebSocketMessageType.Text, true, CancellationToken.None);
        }

        await _allAcked.Task;
        await reader.WaitAsync(TimeSpan.FromSeconds(1)).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private async Task ReadRepliesAsync()
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (_acked < _messages)
            {
                var result = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                var (type, id) = TypeAndId(buffer.AsSpan(0, result.Count));
                if (id is > 0 && id <= _messages)
                {
                    if (type != "ack")
                    {
                        Errors++;
                        Console.WriteLine("send failed: " + Encoding.UTF8.GetString(buffer, 0, result.Count));
                    }

                    _ackLatency.Add(Stopwatch.GetTimestamp() - _sentAt[id.Value - 1]);
                    _window.Release();
                    if (++_acked == _messages)
                    {
                        _allAcked.TrySetResult();
                    }
                }
            }
        }
        catch (WebSocketException)
        {
        }

        _allAcked.TrySetResult();
    }

    private static (string? Type, int? Id) TypeAndId(ReadOnlySpan<byte> frame)
    {
        var reader = new Utf8JsonReader(frame);
        string? type = null;
        int? id = null;
        while (reader.Read() && (type is null || id is null))
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    type = reader.GetString();
                }
                else if (reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    id = reader.TokenType == JsonTokenType.Number ? reader.GetInt32() : null;
                }
                else
                {
                    reader.Skip();
                }
            }
        }

        return (type, id);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        }
        catch (WebSocketException)
        {
        }

        _socket.Dispose();
        _window.Dispose();
    }
}
