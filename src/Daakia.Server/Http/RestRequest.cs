using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;
using Daakia.Core;
using Daakia.Server.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Daakia.Server.Http;

/// <summary>Reading a REST request: tenant and caller headers, path values, and a bounded JSON body checked once at the edge.</summary>
internal static class RestRequest
{
    public const string TenantHeader = "X-Daakia-Tenant";
    public const string ClientHeader = "X-Daakia-Client";

    /// <summary>
    /// The tenant the request names: the default when <c>X-Daakia-Tenant</c> is absent. An empty value or two of them
    /// is refused rather than guessed at.
    /// </summary>
    public static TenantId Tenant(HttpContext http, TenantResolver tenants)
    {
        var values = http.Request.Headers[TenantHeader];
        return values.Count switch
        {
            0 => tenants.Default,
            1 => tenants.Resolve(values[0] ?? ""),
            _ => throw RestException.Invalid($"Send one {TenantHeader} header, not {values.Count}."),
        };
    }

    public static ClientId Caller(HttpContext http)
    {
        var values = http.Request.Headers[ClientHeader];
        if (values.Count > 1)
        {
            throw RestException.Invalid($"Send one {ClientHeader} header, not {values.Count}.");
        }

        var value = values.Count == 1 ? values[0] : null;
        if (string.IsNullOrEmpty(value))
        {
            throw RestException.Invalid($"The {ClientHeader} header (the calling client's id) is required.");
        }

        return ClientId.TryCreate(value, out var c) ? c : throw RestException.Invalid($"{ClientHeader} '{Excerpt(value)}' is not a valid client id.");
    }

    public static ClientId PathClient(string value) =>
        ClientId.TryCreate(value, out var c) ? c : throw RestException.Invalid($"'{Excerpt(value)}' is not a valid client id.");

    /// <summary>At most 40 characters of client input for an error detail, never cutting a surrogate pair in two.</summary>
    public static string Excerpt(string value)
    {
        const int Max = 40;
        if (value.Length <= Max)
        {
            return value;
        }

        var end = char.IsHighSurrogate(value[Max - 1]) ? Max - 1 : Max;
        return string.Concat(value.AsSpan(0, end), "…");
    }

    /// <summary>
    /// Refuses (415) a body that does not say it is JSON in UTF-8. Requiring <c>application/json</c> also means a web
    /// page cannot send one cross-site without a CORS preflight, which this server does not grant (docs/security.md).
    /// </summary>
    public static void RequireJson(HttpContext http)
    {
        var contentType = http.Request.ContentType;
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) || !media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new RestException(415, ErrorCodes.UnsupportedMediaType,
                contentType is null ? "The body must be JSON: send Content-Type: application/json." : $"The body must be JSON: send Content-Type: application/json (was '{Excerpt(contentType)}').");
        }

        var charset = HeaderUtilities.RemoveQuotes(media.Charset);
        if (charset.HasValue && !charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            throw new RestException(415, ErrorCodes.UnsupportedMediaType, $"A JSON body is UTF-8 (RFC 8259 §8.1); charset '{Excerpt(charset.Value ?? "")}' is not accepted.");
        }
    }

    /// <summary>
    /// Reads the body as one JSON object and checks it once: a JSON Content-Type, at most the configured size (refused
    /// before reading when declared), valid UTF-8 and no escaped lone surrogate. Every later read of it is then safe.
    /// </summary>
    public static async Task<RestBody> BodyAsync(HttpContext http, DaakiaServerOptions options)
    {
        RequireJson(http);
        var max = options.MaxRequestBodyBytes;
        if (http.Request.ContentLength > max)
        {
            throw TooLarge(max);
        }

        var (buffer, length) = await ReadAllAsync(http, max);
        try
        {
            var bytes = buffer.AsMemory(0, length);
            if (!Utf8.IsValid(bytes.Span))
            {
                throw new RestException(400, ErrorCodes.InvalidJson, "The body is not valid UTF-8.");
            }

            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = options.MaxJsonDepth });
            }
            catch (JsonException)
            {
                throw new RestException(400, ErrorCodes.InvalidJson, "The body is not valid JSON.");
            }

            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                throw new RestException(400, ErrorCodes.InvalidJson, "The body must be a JSON object.");
            }

            if (JsonEscapes.HasLoneSurrogate(bytes.Span))
            {
                doc.Dispose();
                throw new RestException(400, ErrorCodes.InvalidJson, "The body holds an escaped lone surrogate (such as \\ud800), which is no Unicode character.");
            }

            return new RestBody(doc, buffer);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    // The whole body into one pooled buffer (sized from Content-Length when given), consuming as it arrives: holding
    // unconsumed bytes in Kestrel's input pipe would stall a body larger than its request buffer.
    private static async Task<(byte[] Buffer, int Length)> ReadAllAsync(HttpContext http, int max)
    {
        var declared = http.Request.ContentLength;
        var buffer = ArrayPool<byte>.Shared.Rent(declared is > 0 ? (int)declared.Value : 4096);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(buffer.Length * 2L, max + 1L));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                var n = await http.Request.Body.ReadAsync(buffer.AsMemory(length), http.RequestAborted);
                if (n == 0)
                {
                    return (buffer, length);
                }

                length += n;
                if (length > max)
                {
                    throw TooLarge(max);
                }
            }
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == 413)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw TooLarge(max);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private static RestException TooLarge(int max) => new(413, ErrorCodes.PayloadTooLarge, $"The body may be at most {max} bytes.");

    public static ReadOnlyMemory<byte> Payload(JsonElement root, int max)
    {
        if (!root.TryGetProperty("payload"u8, out var payload))
        {
            throw RestException.Invalid("'payload' is required (any JSON value).");
        }

        var raw = JsonMarshal.GetRawUtf8Value(payload);
        return raw.Length <= max
            ? raw.ToArray()
            : throw new RestException(413, ErrorCodes.PayloadTooLarge, $"The payload is {raw.Length} bytes; at most {max} are allowed.");
    }

    public static List<string> Strings(JsonElement root, string name, int max, string tooMany)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind != JsonValueKind.Array)
        {
            throw RestException.Invalid($"'{name}' is required and must be an array of strings.");
        }

        if (e.GetArrayLength() == 0)
        {
            throw RestException.Invalid($"'{name}' needs at least one item.");
        }

        if (e.GetArrayLength() > max)
        {
            throw new RestException(400, tooMany, $"'{name}' may have at most {max} items.");
        }

        var result = new List<string>();
        foreach (var item in e.EnumerateArray())
        {
            result.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw RestException.Invalid($"'{name}' must contain only strings."));
        }

        return result;
    }

    public static int Limit(int? limit, int fallback, int max) => limit switch
    {
        null => fallback,
        >= 1 when limit <= max => limit.Value,
        _ => throw RestException.Invalid($"'limit' must be 1-{max}."),
    };
}
