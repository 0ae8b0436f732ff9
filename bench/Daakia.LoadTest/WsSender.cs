using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text.Json;

namespace Daakia.LoadTest;

/// <summary>Sends N letters with at most W unacknowledged, timing each send → ack.</summary>
internal sealed class WsSender : IAsyncDisposable
{
    private readonly WsClient _client;
    private readonly string _recipient;
    private readonly int _messages;
    private readonly string _pad;
    private readonly SemaphoreSlim _window;
    private readonly long[] _sentAt;
    private readonly Latencies _ackLatency;
    private readonly TaskCompletionSource _allAcked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _acked;

    private WsSender(WsClient client, string recipient, int messages, int payload, int window, Latencies ackLatency)
    {
        _client = client;
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
        var i = 0;
        while (i < _messages)
        {
            // Pipelining: every send the window allows right now goes out in one write.
            await _window.WaitAsync();
            do
            {
                var now = Stopwatch.GetTimestamp();
                _sentAt[i] = now;
                var frame = string.Create(CultureInfo.InvariantCulture,
                    $"{{\"id\":{i + 1},\"type\":\"send\",\"recipients\":[\"{_recipient}\"],\"payload\":{{\"t\":{now},\"s\":{i},\"pad\":\"{_pad}\"}}}}");
                await _client.QueueAsync(frame);
                i++;
            }
            while (i < _messages && _window.Wait(0));

            await _client.Stream.SendBufferedAsync();
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
                var result = await _client.Socket.ReceiveAsync(buffer, CancellationToken.None);
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
                        Console.WriteLine("send failed: " + System.Text.Encoding.UTF8.GetString(buffer, 0, result.Count));
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
        await _client.CloseAsync();
        _client.Dispose();
        _window.Dispose();
    }
}
