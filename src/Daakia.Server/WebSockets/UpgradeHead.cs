using System.Text;

namespace Daakia.Server.WebSockets;

/// <summary>
/// The head of a plain WebSocket upgrade request (RFC 6455 §4.1) to <c>/v1/ws</c> or <c>/v1/texto</c>, read straight
/// from a connection's first bytes. Only the common, unambiguous shape is taken: HTTP/1.1, the exact path, ASCII
/// headers without folding, each of the headers that matter once, no body. Anything else is left to ASP.NET Core,
/// which answers it as it always has: a head that Kestrel would refuse (a malformed <c>Host</c>, more headers or header
/// bytes than its limits allow) is never taken.
/// </summary>
internal readonly record struct UpgradeHead(bool Texto, string Host, string? Origin, string Key, int Length)
{
    /// <summary>Longer heads (large cookies, say) are left to ASP.NET Core.</summary>
    public const int MaxLength = 4096;

    private static ReadOnlySpan<byte> JsonApiLine => "GET /v1/ws HTTP/1.1\r\n"u8;

    private static ReadOnlySpan<byte> TextoLine => "GET /v1/texto HTTP/1.1\r\n"u8;

    /// <summary>
    /// Whether <paramref name="data"/> may start such a request: false as soon as it cannot (the request line differs),
    /// true while it still could.
    /// </summary>
    public static bool MayBe(ReadOnlySpan<byte> data) => Prefixes(data, JsonApiLine) || Prefixes(data, TextoLine);

    /// <summary>
    /// Reads a complete head from <paramref name="data"/>; false when it is incomplete, not of the shape taken, or past
    /// <paramref name="limits"/> (Kestrel's <c>MaxRequestHeaderCount</c> and <c>MaxRequestHeadersTotalSize</c>, which
    /// Kestrel answers with 431).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> data, HeadLimits limits, out UpgradeHead head)
    {
        head = default;
        var end = data.IndexOf("\r\n\r\n"u8);
        if (end < 0 || end + 4 > MaxLength)
        {
            return false;
        }

        bool texto;
        int at;
        if (data.StartsWith(JsonApiLine))
        {
            texto = false;
            at = JsonApiLine.Length;
        }
        else if (data.StartsWith(TextoLine))
        {
            texto = true;
            at = TextoLine.Length;
        }
        else
        {
            return false;
        }

        if (at > limits.MaxRequestLineBytes)
        {
            return false;
        }

        string? host = null, origin = null, key = null, version = null;
        bool upgrade = false, connection = false, seenUpgrade = false, seenConnection = false;
        var headers = data[at..(end + 2)];
        // Kestrel counts the header lines with their line ends (and the empty line); staying a few bytes under its
        // limit only sends a borderline head the general way.
        if (headers.Length + 2 > limits.MaxHeaderBytes)
        {
            return false;
        }

        var count = 0;
        while (!headers.IsEmpty)
        {
            if (++count > limits.MaxHeaderCount)
            {
                return false;
            }

            var eol = headers.IndexOf("\r\n"u8);
            var line = headers[..eol];
            headers = headers[(eol + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(line[..colon]) || !IsFieldValue(line[(colon + 1)..]))
            {
                return false;
            }

            var name = line[..colon];
            var value = line[(colon + 1)..].Trim(" \t"u8);
            if (Is(name, "host"u8))
            {
                if (!Once(ref host, value))
                {
                    return false;
                }
            }
            else if (Is(name, "origin"u8))
            {
                if (!Once(ref origin, value))
                {
                    return false;
                }
            }
            else if (Is(name, "sec-websocket-key"u8))
            {
                if (!Once(ref key, value))
                {
                    return false;
                }
            }
            else if (Is(name, "sec-websocket-version"u8))
            {
                if (!Once(ref version, value))
                {
                    return false;
                }
            }
            else if (Is(name, "upgrade"u8))
            {
                if (seenUpgrade)
                {
                    return false;
                }

                seenUpgrade = true;
                upgrade = HasToken(value, "websocket"u8);
            }
            else if (Is(name, "connection"u8))
            {
                if (seenConnection)
                {
                    return false;
                }

                seenConnection = true;
                connection = HasToken(value, "upgrade"u8);
            }
            else if (Is(name, "content-length"u8) || Is(name, "transfer-encoding"u8))
            {
                return false;
            }
        }

        if (!upgrade || !connection || version != "13" || host is null || !IsPlainHost(host) || key is null || !IsValidKey(key))
        {
            return false;
        }

        head = new UpgradeHead(texto, host, origin, key, end + 4);
        return true;
    }

    private static bool Prefixes(ReadOnlySpan<byte> data, ReadOnlySpan<byte> line) =>
        data.Length >= line.Length ? data.StartsWith(line) : line.StartsWith(data);

    private static bool Is(ReadOnlySpan<byte> name, ReadOnlySpan<byte> lower) => Ascii.EqualsIgnoreCase(name, lower);

    private static bool Once(ref string? field, ReadOnlySpan<byte> value)
    {
        if (field is not null)
        {
            return false;
        }

        field = Encoding.ASCII.GetString(value);
        return true;
    }

    private static bool HasToken(ReadOnlySpan<byte> list, ReadOnlySpan<byte> token)
    {
        foreach (var range in list.Split((byte)','))
        {
            if (Ascii.EqualsIgnoreCase(list[range].Trim(" \t"u8), token))
            {
                return true;
            }
        }

        return false;
    }

    // RFC 9110 §5.6.2 token characters.
    private static bool IsToken(ReadOnlySpan<byte> name)
    {
        foreach (var b in name)
        {
            if (b is <= 0x20 or >= 0x7F || "\"(),/:;<=>?@[\\]{}"u8.Contains(b))
            {
                return false;
            }
        }

        return true;
    }

    // Printable ASCII and tabs only: anything else (obs-text, controls) goes the general way.
    private static bool IsFieldValue(ReadOnlySpan<byte> value)
    {
        foreach (var b in value)
        {
            if (b is (< 0x20 and not (byte)'\t') or >= 0x7F)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A strict subset of what Kestrel accepts as <c>Host</c> (RFC 9110 §7.2, RFC 3986 §3.2.2), in plain ASCII: a name
    /// of letters, digits, <c>-</c> and <c>.</c> (an IDN in its <c>xn--</c> form included), an IPv4 address, or a
    /// bracketed IPv6 address of hex digits, <c>:</c> and <c>.</c> (no zone), then optionally <c>:</c> and a port of
    /// 1–5 digits up to 65535. Anything else — a space, an underscore, an empty or non-numeric port, user info — goes
    /// the general way.
    /// </summary>
    internal static bool IsPlainHost(string host)
    {
        var name = host.AsSpan();
        var colon = name.StartsWith('[') ? name.IndexOf("]:") + 1 : name.LastIndexOf(':');
        if (name.StartsWith('[') && colon == 0 && !name.EndsWith(']'))
        {
            return false;
        }

        if (colon > 0)
        {
            var port = name[(colon + 1)..];
            if (port.IsEmpty || port.Length > 5 || port.ContainsAnyExceptInRange('0', '9') || int.Parse(port, System.Globalization.CultureInfo.InvariantCulture) > 65535)
            {
                return false;
            }

            name = name[..colon];
        }

        if (name.IsEmpty)
        {
            return false;
        }

        if (name[0] == '[')
        {
            return name.Length > 2 && name[^1] == ']' && !name[1..^1].ContainsAnyExcept(Ipv6Chars)
                && System.Net.IPAddress.TryParse(name[1..^1], out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        }

        return !name.ContainsAnyExcept(NameChars);
    }

    private static readonly System.Buffers.SearchValues<char> NameChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.");

    private static readonly System.Buffers.SearchValues<char> Ipv6Chars =
        System.Buffers.SearchValues.Create("abcdefABCDEF0123456789:.");

    private static bool IsValidKey(string key)
    {
        Span<byte> decoded = stackalloc byte[16];
        return key.Length == 24 && Convert.TryFromBase64String(key, decoded, out var n) && n == 16;
    }
}

/// <summary>Kestrel's limits on a request head (<c>KestrelServerLimits</c>) that a head taken directly must respect.</summary>
internal readonly record struct HeadLimits(int MaxHeaderCount, int MaxHeaderBytes, int MaxRequestLineBytes)
{
    public static HeadLimits Of(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerLimits limits) =>
        new(limits.MaxRequestHeaderCount, limits.MaxRequestHeadersTotalSize, limits.MaxRequestLineSize);
}
