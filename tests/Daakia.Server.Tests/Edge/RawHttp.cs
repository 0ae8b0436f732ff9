using System.Net.Sockets;
using System.Text;

namespace Daakia.Server.Tests.Edge;

/// <summary>
/// HTTP/1.1 over a bare loopback socket, for requests HttpClient will not send (a forged Host, invalid UTF-8 in a
/// header, an unfinished chunked body). Sends <c>Connection: close</c> and reads the response to EOF.
/// </summary>
internal static class RawHttp
{
    public sealed record Response(int Status, Dictionary<string, string> Headers, byte[] Body)
    {
        public string Text => Encoding.UTF8.GetString(Body);

        public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;
    }

    /// <summary>Builds a request: <paramref name="headers"/> are raw lines (bytes as given); Host is added unless present.</summary>
    public static byte[] Request(Uri server, string method, string target, IEnumerable<string>? headers = null, byte[]? body = null, string? host = null)
    {
        var head = new StringBuilder();
        head.Append(method).Append(' ').Append(target).Append(" HTTP/1.1\r\n");
        head.Append("Host: ").Append(host ?? server.Authority).Append("\r\n");
        head.Append("Connection: close\r\n");
        foreach (var h in headers ?? [])
        {
            head.Append(h).Append("\r\n");
        }

        if (body is not null)
        {
            head.Append("Content-Length: ").Append(body.Length).Append("\r\n");
        }

        head.Append("\r\n");
        // Latin-1 so that a test can put any byte (0x80-0xFF) into a header line.
        var bytes = Encoding.Latin1.GetBytes(head.ToString());
        return body is null ? bytes : [.. bytes, .. body];
    }

    public static async Task<Response> SendAsync(Uri server, byte[] request, CancellationToken cancellationToken = default)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port, cancellationToken);
        var stream = tcp.GetStream();
        await stream.WriteAsync(request, cancellationToken);
        using var received = new MemoryStream();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        await stream.CopyToAsync(received, timeout.Token);
        return Parse(received.ToArray());
    }

    /// <summary>Sends and reads only the response head (for a 101, after which the connection stays open).</summary>
    public static async Task<Response> SendForHeadAsync(Uri server, byte[] request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(request);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new List<byte>();
        var buffer = new byte[1024];
        while (received.Count < 4 || !received.TakeLast(4).SequenceEqual("\r\n\r\n"u8.ToArray()))
        {
            var n = await stream.ReadAsync(buffer.AsMemory(0, 1), timeout.Token);
            if (n == 0)
            {
                break;
            }

            received.Add(buffer[0]);
        }

        return Parse([.. received]);
    }

    public static Response Parse(byte[] raw)
    {
        var end = raw.AsSpan().IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            throw new InvalidDataException($"No complete response head in {raw.Length} bytes: {Encoding.Latin1.GetString(raw)}");
        }

        var lines = Encoding.Latin1.GetString(raw, 0, end).Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        var body = raw.AsSpan(end + 4).ToArray();
        if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = Dechunk(body);
        }

        return new Response(status, headers, body);
    }

    private static byte[] Dechunk(byte[] chunked)
    {
        using var body = new MemoryStream();
        var at = 0;
        while (at < chunked.Length)
        {
            var lineEnd = chunked.AsSpan(at).IndexOf("\r\n"u8);
            var size = Convert.ToInt32(Encoding.ASCII.GetString(chunked, at, lineEnd).Split(';')[0], 16);
            at += lineEnd + 2;
            if (size == 0)
            {
                break;
            }

            body.Write(chunked, at, size);
            at += size + 2;
        }

        return body.ToArray();
    }
}
