using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Daakia.Server.Zaqar;

/// <summary>
/// Zaqar's pre-signed URL signature (docs/zaqar-wire.md §7.2): the lowercase hex HMAC-SHA256, under the server's key, of
/// the sorted paths joined by <c>,</c>, the sorted methods joined by <c>,</c>, the project and the expiry, separated by
/// the two characters <c>\n</c> (a backslash and an n, not a newline: Zaqar formats a raw string). Used by
/// <c>POST /v2/queues/{q}/share</c>, by the check of a signed request (REST and WebSocket), and for any other URL the
/// server hands out signed (subscription confirmations).
/// </summary>
internal static class ZaqarSigner
{
    /// <summary>Shortest key accepted (<c>Daakia:Zaqar:SignedUrlKey</c>, checked at start-up).</summary>
    public const int MinKeyLength = 16;

    /// <summary>How an expiry is written, signed and sent (<c>%Y-%m-%dT%H:%M:%S</c>, UTC, no zone, no fraction).</summary>
    public const string ExpiresFormat = "yyyy-MM-dd'T'HH:mm:ss";

    // What Zaqar's ISO 8601 parser reads, as far as clients send it: a date and a time with 'T' or a space, seconds and
    // a fraction optional, a zone optional (K: Z, +hh:mm or +hhmm; zz: +hh; none: UTC), or a date alone.
    private static readonly string[] ExpiresFormats =
    [
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzz", "yyyy-MM-dd'T'HH:mmK",
        "yyyy-MM-dd HH:mm:ss.FFFFFFFK", "yyyy-MM-dd HH:mm:ss.FFFFFFFzz", "yyyy-MM-dd HH:mmK",
        "yyyy-MM-dd",
    ];

    /// <summary>The signature of a grant (paths and methods in any order: they are signed sorted).</summary>
    public static string Sign(string key, IEnumerable<string> paths, IEnumerable<string> methods, string? project, DateTime expiresUtc) =>
        Sign(key, paths, methods, project, FormatExpires(expiresUtc));

    /// <summary>The signature of a grant whose expiry is already written as <see cref="ExpiresFormat"/>.</summary>
    public static string Sign(string key, IEnumerable<string> paths, IEnumerable<string> methods, string? project, string expires)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var message = string.Join(',', Sorted(paths)) + @"\n" + string.Join(',', Sorted(methods)) + @"\n" + (project ?? "None") + @"\n" + expires;
        return Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(message)));
    }

    /// <summary>
    /// Whether <paramref name="signature"/> signs the grant (Zaqar's check, §7.3 step 3): a key is configured, the expiry
    /// reads as Zaqar reads it and lies after <paramref name="now"/>, and the signature recomputed from the normalised
    /// expiry is the one given (compared in constant time). Paths and methods are not matched to a request here.
    /// </summary>
    public static bool Verify(string? key, IReadOnlyCollection<string> paths, IReadOnlyCollection<string> methods, string? project, string? expires, string? signature, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(key) || string.IsNullOrEmpty(signature) || paths.Count == 0 || expires is null
            || ParseExpires(expires, out var at) is not null || at <= now.UtcDateTime)
        {
            return false;
        }

        // No methods are GET, as Zaqar signs them.
        var expected = Encoding.ASCII.GetBytes(Sign(key, paths, methods.Count == 0 ? ["GET"] : methods, project, FormatExpires(at)));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.UTF8.GetBytes(signature));
    }

    /// <summary>
    /// Reads an expiry as Zaqar does: not an integer, an ISO 8601 date and time (no zone: UTC), made UTC. Null when it
    /// reads, else Zaqar's reason (the text of its 400).
    /// </summary>
    public static string? ParseExpires(string text, out DateTime utc)
    {
        utc = default;
        if (long.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n != 0)
        {
            return $"`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: {n}";
        }

        if (!DateTimeOffset.TryParseExact(text, ExpiresFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            return $"Unable to parse date string '{text}'";
        }

        utc = parsed.UtcDateTime;
        return null;
    }

    /// <summary>An expiry as it is signed and sent: UTC, to the second (a fraction is dropped, as Zaqar's strftime drops it).</summary>
    public static string FormatExpires(DateTime utc) =>
        (utc.Kind == DateTimeKind.Local ? utc.ToUniversalTime() : utc).ToString(ExpiresFormat, CultureInfo.InvariantCulture);

    /// <summary>Sorted as Python's <c>sorted()</c> sorts strings: by code point, the order of their UTF-8 bytes (UTF-16's
    /// ordinal order differs past U+D7FF).</summary>
    public static List<string> Sorted(IEnumerable<string> values)
    {
        var list = values.ToList();
        list.Sort(static (a, b) => Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b)));
        return list;
    }
}
