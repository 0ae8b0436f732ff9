using System.Text.Unicode;

namespace Daakia.Server.WebSockets;

/// <summary>
/// The edge check of a request frame, before it is parsed: it must be UTF-8 (RFC 6455 §8.1; RFC 8259 §8.1) and its
/// strings must be Unicode scalar values, so no <c>\uD800</c>-style escape of a lone surrogate anywhere — in a key,
/// a field or the payload. Both are single vectorised scans; frames without a backslash cost one
/// <see cref="MemoryExtensions.IndexOf{T}(ReadOnlySpan{T}, T)"/>. What passes here can be decoded to .NET strings
/// without an exception and re-encoded as UTF-8 without loss, on every protocol.
/// </summary>
internal static class FrameText
{
    public static FrameTextFault Check(ReadOnlySpan<byte> frame)
    {
        if (!Utf8.IsValid(frame))
        {
            return FrameTextFault.InvalidUtf8;
        }

        return HasLoneSurrogateEscape(frame) ? FrameTextFault.LoneSurrogate : FrameTextFault.None;
    }

    /// <summary>
    /// True if a <c>\u</c> escape names a surrogate that is not half of a high-low pair. Outside strings a backslash
    /// is not JSON at all (the parser refuses the frame), so stepping from escape to escape stays aligned for every
    /// frame the parser would accept.
    /// </summary>
    public static bool HasLoneSurrogateEscape(ReadOnlySpan<byte> json)
    {
        var i = json.IndexOf((byte)'\\');
        while (i >= 0)
        {
            int next;
            if (i + 1 < json.Length && json[i + 1] == (byte)'u' && TryHex4(json, i + 2, out var unit))
            {
                if (unit is >= 0xDC00 and <= 0xDFFF)
                {
                    return true;
                }

                if (unit is >= 0xD800 and <= 0xDBFF)
                {
                    if (!(i + 7 < json.Length && json[i + 6] == (byte)'\\' && json[i + 7] == (byte)'u'
                        && TryHex4(json, i + 8, out var low) && low is >= 0xDC00 and <= 0xDFFF))
                    {
                        return true;
                    }

                    next = i + 12;
                }
                else
                {
                    next = i + 6;
                }
            }
            else
            {
                next = i + 2;
            }

            if (next >= json.Length)
            {
                return false;
            }

            var rest = json[next..].IndexOf((byte)'\\');
            i = rest < 0 ? -1 : next + rest;
        }

        return false;
    }

    private static bool TryHex4(ReadOnlySpan<byte> s, int at, out int value)
    {
        value = 0;
        if (at + 4 > s.Length)
        {
            return false;
        }

        for (var k = 0; k < 4; k++)
        {
            var c = s[at + k];
            int d = c switch
            {
                >= (byte)'0' and <= (byte)'9' => c - '0',
                >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
                _ => -1,
            };
            if (d < 0)
            {
                return false;
            }

            value = (value << 4) | d;
        }

        return true;
    }
}
