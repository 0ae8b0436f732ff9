using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Daakia.LoadTest;

/// <summary>Receives letters, acknowledges each one, records send → receive latency and checks exactly-once by sequence.</summary>
internal sealed class WsReceiver : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly bool[] _seen;
    private readonly Latencies _latency;
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _loop;
    private int _ackId;

    private WsReceiver(ClientWebSocket socket, int messages, Latencies latency)
    {
        _socket = socket;
        _seen = new bool[messages];
        _latency = latency;
        _loop = Task.Run(LoopAsync);
    }

    public int Distinct { get; private set; }

    public int Duplicates { get; private set; }

    public Task Completed => _completed.Task;

    public static async Task<WsReceiver> ConnectAsync(Uri url, string author, int messages, Latencies latency) =>
        new(await WsDirectScenario.HelloAsync(url, author), messages, latency);

    private async Task LoopAsync()
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                if (!TryReadLetter(buffer.AsSpan(0, result.Count), out var messageId, out var sentAt, out var sequence))
                {
                    continue;
                }

                _latency.Add(Stopwatch.GetTimestamp() - sentAt);
                if (sequence >= 0 && sequence < _seen.Length)
                {
                    if (_seen[sequence])
                    {
                        Duplicates++;
                    }
                    else
                    {
                        _seen[sequence] = true;
                        if (++Distinct == _seen.Length)
                        {
                            _completed.TrySetResult();
                        }
                    }
                }

                var ack = $"{{\"id\":{++_ackId},\"type\":\"ack\",\"message_ids\":[\"{messageId}\"]}}";
                await _socket.SendAsync(Encoding.UTF8.GetBytes(ack), WebSocketMessageType.Text, true, CancellationToken.None);
            }
        }
        catch (WebSocketException)
        {
        }

        _completed.TrySetResult();
    }

    private static bool TryReadLetter(ReadOnlySpan<byte> frame, out string? messageId, out long sentAt, out int sequence)
    {
        messageId = null;
        sentAt = 0;
        sequence = -1;
        var reader = new Utf8JsonReader(frame);
        var isLetter = false;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.CurrentDepth == 1 && reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                isLetter = reader.ValueTextEquals("letter"u8);
                if (!isLetter)
                {
                    return false;
                }
            }
            else if (reader.CurrentDepth == 1 && reader.ValueTextEquals("message_id"u8))
            {
                reader.Read();
                messageId = reader.GetString();
            }
            else if (reader.CurrentDepth == 2 && reader.ValueTextEquals("t"u8))
            {
                reader.Read();
                sentAt = reader.GetInt64();
            }
            else if (reader.CurrentDepth == 2 && reader.ValueTextEquals("s"u8))
            {
                reader.Read();
                sequence = reader.GetInt32();
            }
        }

        return isLetter && messageId is not null;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
            await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is WebSocketException or TimeoutException)
        {
        }

        _socket.Dispose();
    }
}
