using System.Globalization;

namespace Daakia.Server.Http;

/// <summary>
/// Finds <c>\uXXXX</c> escapes that decode to a lone UTF-16 surrogate. RFC 8259 §8.2 lets JSON text carry them, but they
/// name no Unicode character: nothing can decode them to a string (System.Text.Json throws), and a WebSocket text frame
/// must be valid UTF-8 (RFC 6455 §8.1), so such text is refused at the edge as invalid JSON.
/// </summary>
internal static class JsonEscapes
{
    /// <summary>
    /// True when <paramref name="json"/> — text already known to be valid JSON, so every backslash starts a well-formed
    /// escape inside a string — holds a high surrogate escape not followed by a low one, or a low one on its own.
    /// </summary>
    public static bool HasLoneSurrogate(ReadOnlySpan<byte> json)
    {
        var i = json.IndexOf((byte)'\\');
        while (i >= 0 && i + 1 < json.Length)
        {
            if (json[i + 1] != (byte)'u')
            {
                i = Next(json, i + 2);
                continue;
            }

            var unit = Hex4(json, i + 2);
            if (char.IsLowSurrogate((char)unit))
            {
                return true;
            }

            if (char.IsHighSurrogate((char)unit))
            {
                // A pair is two escapes in a row: \uD83D\uDE00.
                if (i + 11 >= json.Length || json[i + 6] != (byte)'\\' || json[i + 7] != (byte)'u' || !char.IsLowSurrogate((char)Hex4(json, i + 8)))
                {
                    return true;
                }

                i = Next(json, i + 12);
                continue;
            }

            i = Next(json, i + 6);
        }

        return false;
    }

    private static int Next(ReadOnlySpan<byte> json, int from)
    {
        if (from >= json.Length)
        {
            return -1;
        }

        var j = json[from..].IndexOf((byte)'\\');
        return j < 0 ? -1 : from + j;
    }

    private static int Hex4(ReadOnlySpan<byte> json, int at) =>
        at + 4 <= json.Length && int.TryParse(json.Slice(at, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v) ? v : -1;
}
