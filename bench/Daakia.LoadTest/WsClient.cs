using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;

namespace Daakia.LoadTest;

/// <summary>A WebSocket client over a plain TCP connection (RFC 6455 client handshake) whose writes can be batched.</summary>
internal sealed class WsClient : IDisposable
{
    private const int MaxMessageBytes = 16 * 1024 * 1024;
    private readonly TcpClient _tcp;
    private byte[] _receive = new byte[16 * 1024];

    private WsClient(TcpClient tcp, BatchingStream stream, WebSocket socket)
    {
        _tcp = tcp;
        Stream = stream;
        Socket = socket;
    }

    public WebSocket Socket { get; }

    public BatchingStream Stream { get; }

    public static async Task<WsClient> ConnectAsync(Uri url)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(url.Host, url.Port);
        var network = tcp.GetStream();
        var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
        var request = $"GET {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
        await network.WriteAsync(Encoding.ASCII.GetBytes(request));
        // Read the response head byte by byte so no frame bytes after it are consumed here.
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await network.ReadAsync(one) == 0)
            {
                throw new IOException("The server closed the connection during the handshake.");
            }

            head.Append((char)one[0]);
        }

        if (!head.ToString().StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
        {
            throw new IOException("WebSocket upgrade refused: " + head.ToString().Split('\r')[0]);
        }

        var stream = new BatchingStream(network);
        var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
        return new WsClient(tcp, stream, socket);
    }

    /// <summary>
    /// Receives one whole message, however many frames and reads it arrives in (a large or coalesced burst can end
    /// mid-frame); null once the server closed. The memory is valid until the next call.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>?> ReceiveMessageAsync()
    {
        var count = 0;
        while (true)
        {
            if (count == _receive.Length)
            {
                if (_receive.Length >= MaxMessageBytes)
                {
                    throw new InvalidDataException($"A message from the server exceeds {MaxMessageBytes} bytes.");
                }

                Array.Resize(ref _receive, _receive.Length * 2);
            }

            var result = await Socket.ReceiveAsync(_receive.AsMemory(count), CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            count += result.Count;
            if (result.EndOfMessage)
            {
                return _receive.AsMemory(0, count);
            }
        }
    }

    /// <summary>Sends one text message now.</summary>
    public async ValueTask SendNowAsync(string text)
    {
        await Socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);
        await Stream.SendBufferedAsync();
    }

    /// <summary>Queues one text message; it leaves with the next <see cref="BatchingStream.SendBufferedAsync"/>.</summary>
    public ValueTask QueueAsync(string text) =>
        Socket.SendAsync(Encoding.UTF8.GetBytes(text).AsMemory(), WebSocketMessageType.Text, true, CancellationToken.None);

    public async Task CloseAsync()
    {
        try
        {
            await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
            await Stream.SendBufferedAsync();
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException)
        {
            // The server's close may already have closed the stream.
        }
    }

    public void Dispose()
    {
        Socket.Dispose();
        Stream.Dispose();
        _tcp.Dispose();
    }
}
