using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;

namespace Daakia.LoadTest;

/// <summary>
/// Receives messages, acknowledges each one, records send → receive latency and checks exactly-once, in-order
/// delivery by the sender's sequence numbers.
/// </summary>
internal sealed class WsReceiver : IAsyncDisposable
{
    private readonly WsClient _client;
    private readonly IDirectWire _wire;
    private readonly System.Threading.Channels.Channel<string> _acks = System.Threading.Channels.Channel.CreateUnbounded<string>(new() { SingleReader = true, SingleWriter = true });
    private readonly Task _acker;
    private readonly bool[] _seen;
    private readonly Latencies _latency;
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _acksConfirmed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _loop;
    private int _ackId;
    private int _highest = -1;

    private WsReceiver(WsClient client, IDirectWire wire, string id, int messages, Latencies latency)
    {
        _client = client;
        _wire = wire;
        Id = id;
        _seen = new bool[messages];
        _latency = latency;
        _loop = Task.Run(LoopAsync);
        _acker = Task.Run(AckLoopAsync);
    }

    /// <summary>The receiver's client id (the name it asked for, or the one the protocol gave it).</summary>
    public string Id { get; }

    public int Distinct { get; private set; }

    public int Duplicates { get; private set; }

    /// <summary>New messages that arrived after one with a higher sequence.</summary>
    public int OutOfOrder { get; private set; }

    /// <summary>Error frames, and deliveries that could not be read.</summary>
    public int Errors { get; private set; }

    public Task Completed => _completed.Task;

    /// <summary>Letters the server confirmed removed in its replies to this receiver's acks (the JSON API replies; texto does not).</summary>
    public int AcksConfirmed { get; private set; }

    /// <summary>Completes once the server has confirmed an ack for every expected message (or the connection ended).</summary>
    public Task AllAcksConfirmed => _acksConfirmed.Task;

    public static async Task<WsReceiver> ConnectAsync(IDirectWire wire, Uri url, string name, int messages, Latencies latency, string? tenant = null)
    {
        var (client, id) = await wire.ConnectAsync(url, name, tenant);
        return new(client, wire, id, messages, latency);
    }

    private async Task LoopAsync()
    {
        try
        {
            while (await _client.ReceiveMessageAsync() is { } message)
            {
                var kind = _wire.ParseDelivery(message.Span, out var messageId, out var sentAt, out var sequence);
                if (kind == ReplyKind.Other)
                {
                    if (_wire.ParseAckReply(message.Span) is > 0 and var confirmed && (AcksConfirmed += confirmed) >= _seen.Length)
                    {
                        _acksConfirmed.TrySetResult();
                    }

                    continue;
                }

                if (kind == ReplyKind.Error || sequence < 0 || sequence >= _seen.Length)
                {
                    Errors++;
                    Console.WriteLine("receiver got: " + Encoding.UTF8.GetString(message.Span));
                    continue;
                }

                _latency.Add(Stopwatch.GetTimestamp() - sentAt);
                if (_seen[sequence])
                {
                    Duplicates++;
                }
                else
                {
                    _seen[sequence] = true;
                    if (sequence < _highest)
                    {
                        OutOfOrder++;
                    }

                    _highest = Math.Max(_highest, sequence);
                    if (++Distinct == _seen.Length)
                    {
                        _completed.TrySetResult();
                    }
                }

                // One ack per message; the ack loop sends all acks queued by then in one write.
                _acks.Writer.TryWrite(messageId!);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException)
        {
            Console.WriteLine("receiver connection failed: " + ex.Message);
        }

        _acks.Writer.TryComplete();
        _completed.TrySetResult();
        _acksConfirmed.TrySetResult();
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
                    await _client.QueueAsync(_wire.AckFrame(Id, ++_ackId, messageId));
                }

                await _client.Stream.SendBufferedAsync();
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException)
        {
        }
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
