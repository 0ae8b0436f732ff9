namespace Daakia.Server.Json;

/// <summary>
/// Finds <c>\uXXXX</c> escapes that decode to a lone UTF-16 surrogate. RFC 8259 §8.2 lets JSON text carry them, but they
/// name no Unicode character: nothing can decode them to a string (System.Text.Json throws), and a WebSocket text frame
/// must be valid UTF-8 (RFC 6455 §8.1), so such text is refused at the edge as invalid JSON (REST bodies, WebSocket and
/// texto frames alike).
/// </summary>
internal static class JsonEscapes
{
    /// <summary>
    /// True when a <c>\u</c> escape in <paramref name="json"/> names a surrogate that is not half of a high-low pair.
    /// Only <c>\u</c> is searched for (one vectorised scan; text without it costs nothing more); a match is an escape
    /// when an odd number of backslashes ends at it (<c>\\u</c> is an escaped backslash and a letter u). Outside strings
    /// a backslash is not JSON at all, so the parser refuses such text whatever this says.
    /// </summary>
    public static bool HasLoneSurrogate(ReadOnlySpan<byte> json)
    {
        var from = 0;
        while (true)
        {
            var at = json[from..].IndexOf("\\u"u8);
            if (at < 0)
            {
                return false;
            }

            var i = from + at;
            from = i + 2;
            if (!EndsOddRun(json, i) || !TryHex4(json, i + 2, out var unit))
            {
                continue;
            }

            if (unit is >= 0xDC00 and <= 0xDFFF)
            {
                return true;
            }

            if (unit is >= 0xD800 and <= 0xDBFF)
            {
                // A pair is two escapes in a row: \uD83D\uDE00.
                if (!(i + 7 < json.Length && json[i + 6] == (byte)'\\' && json[i + 7] == (byte)'u'
                    && TryHex4(json, i + 8, out var low) && low is >= 0xDC00 and <= 0xDFFF))
                {
                    return true;
                }

                from = i + 12;
            }
            else
            {
                from = i + 6;
            }

            if (from >= json.Length)
            {
                return false;
            }
        }
    }

    /// <summary>True when the backslash at <paramref name="i"/> ends a run of an odd number of backslashes.</summary>
    private static bool EndsOddRun(ReadOnlySpan<byte> json, int i)
    {
        var run = 1;
        while (i - run >= 0 && json[i - run] == (byte)'\\')
        {
            run++;
        }

        return (run & 1) == 1;
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
