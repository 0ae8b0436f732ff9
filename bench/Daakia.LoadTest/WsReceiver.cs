using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;

namespace Daakia.LoadTest;

/// <summary>Receives letters, acknowledges each one, records send → receive latency and checks exactly-once by sequence.</summary>
internal sealed class WsReceiver : IAsyncDisposable
{
    private readonly WsClient _client;
    private readonly System.Threading.Channels.Channel<string> _acks = System.Threading.Channels.Channel.CreateUnbounded<string>(new() { SingleReader = true, SingleWriter = true });
    private readonly Task _acker;
    private readonly bool[] _seen;
    private readonly Latencies _latency;
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _loop;
    private int _ackId;

    private WsReceiver(WsClient client, int messages, Latencies latency)
    {
        _client = client;
        _seen = new bool[messages];
        _latency = latency;
        _loop = Task.Run(LoopAsync);
        _acker = Task.Run(AckLoopAsync);
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
                var result = await _client.Socket.ReceiveAsync(buffer, CancellationToken.None);
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

                // One ack per letter; the ack loop sends all acks queued by then in one write.
                _acks.Writer.TryWrite(messageId!);
            }
        }
        catch (WebSocketException)
        {
        }

        _acks.Writer.TryComplete();
        _completed.TrySetResult();
    }

    private async Task AckLoopAsync()
    {
        var reader = _acks.Reader;
        try
        {
            while (await reader.WaitToReadAsync())
            {
                while (reader.TryRead(out var messageId))
                {
                    await _client.QueueAsync($"{{\"id\":{++_ackId},\"type\":\"ack\",\"message_ids\":[\"{messageId}\"]}}");
                }

                await _client.Stream.SendBufferedAsync();
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException)
        {
        }
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
        _acks.Writer.TryComplete();
        await _acker;
        await _client.CloseAsync();
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
        }

        _client.Dispose();
    }
}
