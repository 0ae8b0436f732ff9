using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;

namespace Daakia.Server.Zaqar;

/// <summary>
/// The check of a pre-signed request (docs/zaqar-wire.md §7.3 over REST, §9.2 over the WebSocket): the signature of its
/// <c>URL-*</c> headers and <c>X-Project-ID</c> is right and unexpired, its method is one the grant names, and its path
/// one of the grant's paths admits. The project is in the signature, so a grant of one project never reaches another.
/// </summary>
/// <remarks>
/// Noauth (today) lets every request in anyway: a signed request is checked and refused when wrong, nothing more. When
/// credentials arrive, a request that carries <c>URL-Signature</c> must be let in by the signature alone, for exactly what
/// it grants (<see cref="ZaqarCaller.Signed"/>), and one without needs credentials: a failed signature never falls back
/// to another way in.
/// </remarks>
internal static class ZaqarSignedAccess
{
    /// <summary>Longest one grant path may take to match a request path (a pattern that takes longer fails the check).</summary>
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// A REST request's check: <c>URL-Methods</c> and <c>URL-Paths</c> are comma lists, split as they are (no trimming,
    /// as Zaqar splits them).
    /// </summary>
    public static bool Verify(string? key, HttpRequest request, DateTimeOffset now)
    {
        var h = request.Headers;
        var methods = h["URL-Methods"].ToString().Split(',');
        var paths = h["URL-Paths"].ToString().Split(',');
        var project = h["X-Project-ID"] is { Count: > 0 } p ? p[0] : null;
        var expires = h["URL-Expires"] is { Count: > 0 } e ? e[0] : null;

        // The signature first: until it holds, nothing the request sent (a path pattern) is run.
        return ZaqarSigner.Verify(key, paths, methods, project, expires, h["URL-Signature"].ToString(), now)
            && methods.Contains(request.Method, StringComparer.Ordinal)
            && Admits(paths, request.Path.Value ?? "");
    }

    /// <summary>
    /// A WebSocket frame's check: <c>URL-Methods</c> and <c>URL-Paths</c> are JSON arrays of strings; the action is one of
    /// the messages' (its method must be granted); and, beyond Zaqar 15 (which compares no path over the WebSocket), the
    /// path the action stands for must be one the grant admits, so a grant of one queue opens no other.
    /// </summary>
    public static bool Verify(string? key, string action, JsonElement headers, JsonElement body, DateTimeOffset now)
    {
        var method = action switch
        {
            "message_list" or "message_get" or "message_get_many" => "GET",
            "message_post" => "POST",
            "message_delete" or "message_delete_many" => "DELETE",
            _ => null,
        };
        if (method is null || Strings(headers, "URL-Methods") is not { } methods || Strings(headers, "URL-Paths") is not { } paths
            || !methods.Contains(method, StringComparer.Ordinal))
        {
            return false;
        }

        var project = headers.TryGetProperty("X-Project-ID", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
        var expires = headers.TryGetProperty("URL-Expires", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        var signature = headers.TryGetProperty("URL-Signature", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        if (!ZaqarSigner.Verify(key, paths, methods, project, expires, signature, now))
        {
            return false;
        }

        var queue = Field(body, "queue_name") ?? "";
        var path = action is "message_get" or "message_delete"
            ? $"/v2/queues/{queue}/messages/{Field(body, "message_id")}"
            : $"/v2/queues/{queue}/messages";
        return Admits(paths, path);

        static string? Field(JsonElement o, string name) =>
            o.ValueKind == JsonValueKind.Object && o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }

    /// <summary>
    /// Whether one of the grant's paths admits <paramref name="path"/>: as Zaqar, each is a regular expression searched
    /// for in the path (so <c>/v2/queues/q/messages</c> also admits <c>…/messages/ID</c>). Only a signed grant's paths get
    /// here; a pattern that is not one, or that runs past the timeout, admits nothing.
    /// </summary>
    public static bool Admits(IEnumerable<string> grant, string path)
    {
        foreach (var pattern in grant)
        {
            try
            {
                if (Regex.IsMatch(path, pattern, RegexOptions.None, MatchTimeout))
                {
                    return true;
                }
            }
            catch (RegexMatchTimeoutException)
            {
                // Too slow to tell: not admitted.
            }
            catch (ArgumentException)
            {
                // Not a pattern .NET reads (Python's own syntax, such as (?P<name>…)): not admitted.
            }
        }

        return false;
    }

    private static string[]? Strings(JsonElement headers, string name)
    {
        if (!headers.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
        {
            return null;
        }

        return [.. v.EnumerateArray().Select(x => x.GetString()!)];
    }
}
