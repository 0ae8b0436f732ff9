using System.Runtime.InteropServices;
using System.Text.Json;
using Daakia.Core;
using Microsoft.AspNetCore.Http;

namespace Daakia.Server.Http;

/// <summary>Reading a REST request: tenant and caller headers, path values, and a bounded JSON body.</summary>
internal static class RestRequest
{
    public const string TenantHeader = "X-Daakia-Tenant";
    public const string ClientHeader = "X-Daakia-Client";

    public static TenantId Tenant(HttpContext http, TenantResolver tenants) =>
        tenants.Resolve(http.Request.Headers[TenantHeader].FirstOrDefault());

    public static ClientId Caller(HttpContext http)
    {
        var value = http.Request.Headers[ClientHeader].FirstOrDefault();
        if (string.IsNullOrEmpty(value))
        {
            throw RestException.Invalid($"The {ClientHeader} header (the calling client's id) is required.");
        }

        return ClientId.TryCreate(value, out var c) ? c : throw RestException.Invalid($"{ClientHeader} is not a valid client id.");
    }

    public static ClientId PathClient(string value) =>
        ClientId.TryCreate(value, out var c) ? c : throw RestException.Invalid($"'{(value.Length > 40 ? value[..40] : value)}' is not a valid client id.");

    /// <summary>Parses the body as one JSON object, refusing bodies above the configured size before reading them.</summary>
    public static async Task<JsonDocument> BodyAsync(HttpContext http, DaakiaServerOptions options)
    {
        if (http.Request.ContentLength > options.MaxRequestBodyBytes)
        {
            throw new RestException(413, ErrorCodes.PayloadTooLarge, $"The body may be at most {options.MaxRequestBodyBytes} bytes.");
        }

        try
        {
            var doc = await JsonDocument.ParseAsync(http.Request.Body, new JsonDocumentOptions { MaxDepth = options.MaxJsonDepth }, http.RequestAborted);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                throw new RestException(400, ErrorCodes.InvalidJson, "The body must be a JSON object.");
            }

            return doc;
        }
        catch (JsonException)
        {
            throw new RestException(400, ErrorCodes.InvalidJson, "The body is not valid JSON.");
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == 413)
        {
            throw new RestException(413, ErrorCodes.PayloadTooLarge, $"The body may be at most {options.MaxRequestBodyBytes} bytes.");
        }
    }

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
