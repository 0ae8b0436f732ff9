using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;

namespace Daakia.LoadTest;

/// <summary>Sends N messages with at most W unacknowledged, timing each send → ack.</summary>
internal sealed class WsSender : IAsyncDisposable
{
    private readonly WsClient _client;
    private readonly IDirectWire _wire;
    private readonly string _self;
    private readonly string _recipient;
    private readonly int _messages;
    private readonly string _pad;
    private readonly SemaphoreSlim _window;
    private readonly long[] _sentAt;
    private readonly bool[] _replied;
    private readonly Latencies _ackLatency;
    private readonly TaskCompletionSource _allAcked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _acked;

    private WsSender(WsClient client, IDirectWire wire, string self, string recipient, int messages, int payload, int window, Latencies ackLatency)
    {
        _client = client;
        _wire = wire;
        _self = self;
        _recipient = recipient;
        _messages = messages;
        _pad = new string('x', Math.Max(0, payload - 40));
        _window = new SemaphoreSlim(window, window);
        _sentAt = new long[messages];
        _replied = new bool[messages];
        _ackLatency = ackLatency;
    }

    /// <summary>Sends answered with an error, and replies that answer no outstanding send.</summary>
    public int Errors { get; private set; }

    public static async Task<WsSender> ConnectAsync(IDirectWire wire, Uri url, string name, string recipient, int messages, int payload, int window, Latencies ackLatency, string? tenant = null)
    {
        var (client, self) = await wire.ConnectAsync(url, name, tenant);
        return new(client, wire, self, recipient, messages, payload, window, ackLatency);
    }

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
                await _client.QueueAsync(_wire.SendFrame(_self, i + 1, _recipient, now, i, _pad));
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
        try
        {
            while (_acked < _messages && await _client.ReceiveMessageAsync() is { } message)
            {
                var kind = _wire.ParseReply(message.Span, out var id);
                if (kind == ReplyKind.Other)
                {
                    continue;
                }

                if (id < 1 || id > _messages || _replied[id - 1])
                {
                    Errors++;
                    Console.WriteLine("reply to no outstanding send: " + Encoding.UTF8.GetString(message.Span));
                    continue;
                }

                if (kind == ReplyKind.Error)
                {
                    Errors++;
                    Console.WriteLine("send failed: " + Encoding.UTF8.GetString(message.Span));
                }

                _replied[id - 1] = true;
                _ackLatency.Add(Stopwatch.GetTimestamp() - _sentAt[id - 1]);
                _window.Release();
                if (++_acked == _messages)
                {
                    _allAcked.TrySetResult();
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException)
        {
            Console.WriteLine("sender connection failed: " + ex.Message);
        }

        _allAcked.TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        await _client.CloseAsync();
        _client.Dispose();
        _window.Dispose();
    }
}
