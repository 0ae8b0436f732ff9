using System.Text.Json;
using Daakia.Core;
using Microsoft.AspNetCore.Http;

namespace Daakia.Server.Zaqar;

/// <summary>Pre-signed URLs (wire reference §7): <c>POST /v2/queues/{q}/share</c> hands out a grant signed by <see cref="ZaqarSigner"/>.</summary>
public static partial class ZaqarApi
{
    private static readonly string[] ShareKeys = ["expires", "methods", "paths"];
    private static readonly string[] SharePaths = ["claims", "messages", "subscriptions"];

    /// <summary>
    /// A grant on the queue's <c>paths</c> (default <c>messages</c>) for <c>methods</c> (default <c>GET</c>) until
    /// <c>expires</c> (default a day from now), for the caller's project, with Zaqar's answers (§7.1): 200 with the paths
    /// and methods sorted and the expiry normalised, as they are signed. The queue need not exist, and is not made.
    /// </summary>
    private static async Task<IResult> ShareAsync(HttpContext http, DaakiaEngine engine, DaakiaServerOptions options, string queue)
    {
        var caller = Caller(http);
        var body = await ZaqarBody.ReadAsync(http, 64 * 1024);
        if (body.Length == 0)
        {
            throw new ZaqarError(400, "Invalid request body", "Request body can not be empty");
        }

        using var doc = ZaqarBody.Parse(body);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new ZaqarError(400, "Invalid request body", "Document type not supported.");
        }

        var unknown = root.EnumerateObject().Select(p => p.Name).Where(n => !ShareKeys.Contains(n, StringComparer.Ordinal)).ToList();
        if (unknown.Count > 0)
        {
            throw Refused($"Unknown keys: {PythonSet(unknown)}");
        }

        var prefix = $"/v2/queues/{queue}/";
        List<string> paths = [prefix + "messages"];
        if (root.TryGetProperty("paths", out var p) && !Falsy(p))
        {
            if (p.ValueKind != JsonValueKind.Array || p.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
            {
                throw Refused($"Invalid paths: {p.GetRawText()}");
            }

            var names = p.EnumerateArray().Select(x => x.GetString()!).ToList();
            var bad = names.Where(n => !SharePaths.Contains(n, StringComparer.Ordinal)).ToList();
            if (bad.Count > 0)
            {
                throw Refused($"Invalid paths: {PythonSet(bad)}");
            }

            paths = [.. names.Select(n => prefix + n)];
        }

        var key = options.Zaqar.SignedUrlKey;
        if (string.IsNullOrEmpty(key))
        {
            throw Refused("The `key` can't be None");
        }

        List<string> methods = ["GET"];
        if (root.TryGetProperty("methods", out var m) && !Falsy(m))
        {
            if (m.ValueKind != JsonValueKind.Array || m.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
            {
                throw Refused("`methods` should be a list");
            }

            methods = [.. m.EnumerateArray().Select(x => x.GetString()!)];
        }

        var now = engine.Time.GetUtcNow().UtcDateTime;
        var expires = now.AddDays(1);
        if (root.TryGetProperty("expires", out var e) && e.ValueKind != JsonValueKind.Null)
        {
            var text = e.ValueKind switch
            {
                JsonValueKind.String => e.GetString()!,
                JsonValueKind.Number => ((long)Math.Truncate(e.GetDouble())).ToString(System.Globalization.CultureInfo.InvariantCulture), // Python's int()
                JsonValueKind.True => "1",
                _ => e.GetRawText(),
            };
            if (ZaqarSigner.ParseExpires(text, out expires) is { } reason)
            {
                throw Refused(reason);
            }
        }

        if (expires <= now)
        {
            throw Refused("`expires` is lower than the current time");
        }

        paths = ZaqarSigner.Sorted(paths);
        methods = ZaqarSigner.Sorted(methods);
        var at = ZaqarSigner.FormatExpires(expires);
        var signature = ZaqarSigner.Sign(key, paths, methods, caller.Project, at);
        var w = new ZaqarWriter();
        w.Object(j =>
        {
            j.WriteStartArray("paths");
            paths.ForEach(j.WriteStringValue);
            j.WriteEndArray();
            j.WriteStartArray("methods");
            methods.ForEach(j.WriteStringValue);
            j.WriteEndArray();
            j.WriteString("project", caller.Project);
            j.WriteString("expires", at);
            j.WriteString("signature", signature);
        });
        return w.Result(200);

        static ZaqarError Refused(string description) => new(400, "Invalid API request", description);
    }

    /// <summary>Python's truth of a JSON value: null, false, 0, "", [] and {} are false.</summary>
    private static bool Falsy(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.False or JsonValueKind.Undefined => true,
        JsonValueKind.Number => v.GetDouble() == 0,
        JsonValueKind.String => v.GetString()!.Length == 0,
        JsonValueKind.Array => v.GetArrayLength() == 0,
        JsonValueKind.Object => !v.EnumerateObject().Any(),
        _ => false,
    };

    /// <summary>A set of strings as Python prints it (<c>{'a', 'b'}</c>; sorted here, where Python's order is its hashes').</summary>
    private static string PythonSet(IEnumerable<string> items) =>
        "{" + string.Join(", ", items.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(Repr)) + "}";

    private static string Repr(string s) => s.Contains('\'', StringComparison.Ordinal) && !s.Contains('"', StringComparison.Ordinal)
        ? "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal) + "\""
        : "'" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
}
