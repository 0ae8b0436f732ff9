using System.Net;
using System.Text;
using System.Text.Json;
using Daakia.Core;
using Daakia.Server.Notifications;

namespace Daakia.Server.Zaqar;

/// <summary>
/// A subscription request's body as Zaqar reads it (docs/zaqar-wire.md §8.2), for REST and WebSocket alike:
/// <c>subscriber</c> (an <c>http(s)://</c> webhook or a <c>mailto:</c> address), <c>ttl</c>, <c>options</c> (an object,
/// kept as it is, with Zaqar's <c>_retry_policy</c>, <c>post_data</c> and <c>post_headers</c>, and Daakia's
/// <c>signing_secret</c> taken out of it), and a subscription as Zaqar shows it.
/// </summary>
internal static class ZaqarSubscriptions
{
    private const string Schemes = "The subscriber type of subscription must be supported in the list ['http', 'https', 'mailto', 'trust+http', 'trust+https'].";

    /// <summary>What a body asks for; each null when the body does not say (a change keeps it).</summary>
    public sealed record Request(string? Subscriber, SubscriberKind? Kind, TimeSpan? Ttl, byte[]? Options, NotificationRetryPolicy? Policy, string? Secret);

    public static Request Read(JsonElement body, DaakiaCoreOptions core, WebhookTargets targets)
    {
        string? subscriber = null;
        SubscriberKind? kind = null;
        if (body.TryGetProperty("subscriber", out var s))
        {
            subscriber = s.ValueKind == JsonValueKind.String ? s.GetString()! : throw Invalid(Schemes);
            kind = KindOf(subscriber, targets);
        }

        TimeSpan? ttl = null;
        if (body.TryGetProperty("ttl", out var t))
        {
            if (t.ValueKind != JsonValueKind.Number || !t.TryGetInt64(out var seconds))
            {
                throw Invalid("TTL must be an integer.");
            }

            if (seconds < 60)
            {
                throw Invalid("The TTL for a subscription must be at least 60 seconds long.");
            }

            ttl = TimeSpan.FromSeconds(Math.Min(seconds, (long)core.MaxSubscriptionTtl.TotalSeconds + 1));
        }

        byte[]? options = null;
        NotificationRetryPolicy? policy = null;
        string? secret = null;
        if (body.TryGetProperty("options", out var o))
        {
            if (o.ValueKind != JsonValueKind.Object)
            {
                throw Invalid("Options must be a dict.");
            }

            policy = o.TryGetProperty("_retry_policy", out var p) ? Policy(p) : null;
            if (o.TryGetProperty("post_data", out var data) && data.ValueKind != JsonValueKind.String)
            {
                throw Invalid("The post_data option must be a string.");
            }

            if (o.TryGetProperty("post_headers", out var headers) && (headers.ValueKind != JsonValueKind.Object
                || headers.EnumerateObject().Any(h => h.Value.ValueKind != JsonValueKind.String || !IsToken(h.Name) || h.Value.GetString()!.Any(c => c is '\r' or '\n'))))
            {
                throw Invalid("The post_headers option must be an object of header names and string values.");
            }

            if (o.TryGetProperty("signing_secret", out var sec))
            {
                secret = sec.ValueKind == JsonValueKind.String && sec.GetString()!.Length is >= 16 and <= 256
                    ? sec.GetString()
                    : throw Invalid("The signing_secret option must be a string of 16 to 256 characters.");
            }

            options = Without(o, "signing_secret");
        }

        return new Request(subscriber, kind, ttl, options, policy, secret);
    }

    private static ZaqarError Invalid(string description) => new(400, "Invalid API request", description);

    private static bool IsToken(string name) =>
        name.Length > 0 && name.All(c => c < 127 && (char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)));

    /// <summary>The kind of a subscriber URI, or Zaqar's 400; a webhook whose host is an address webhooks may not
    /// reach is refused here already (a name is checked when it is resolved, at each send).</summary>
    private static SubscriberKind KindOf(string subscriber, WebhookTargets targets)
    {
        if (subscriber.StartsWith("mailto:", StringComparison.OrdinalIgnoreCase))
        {
            return MailSender.Parse(subscriber) is null ? throw Invalid("The subscriber's mailto: URI names no valid e-mail address.") : SubscriberKind.Mail;
        }

        if (subscriber.StartsWith("trust+", StringComparison.OrdinalIgnoreCase))
        {
            throw Invalid("trust+http(s) subscribers need Keystone trusts, which this server does not use; subscribe the http(s) URI.");
        }

        if (!Uri.TryCreate(subscriber, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Host.Length == 0)
        {
            throw Invalid(Schemes);
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            throw Invalid("A webhook URI may not carry a user name or password.");
        }

        if (IPAddress.TryParse(uri.DnsSafeHost, out var ip) && !targets.IsAllowed(ip))
        {
            throw Invalid($"The subscriber's host {uri.Host} is a loopback, private or link-local address, which webhooks may not reach on this server.");
        }

        return SubscriberKind.Webhook;
    }

    /// <summary>Zaqar's <c>_retry_policy</c> (§8.4): integers, the maximum delay at least 10 s past the minimum.</summary>
    private static NotificationRetryPolicy Policy(JsonElement p)
    {
        if (p.ValueKind != JsonValueKind.Object)
        {
            throw Invalid("The _retry_policy option must be a dict.");
        }

        var d = NotificationRetryPolicy.Default;

        // Bounded beyond Zaqar (which takes any integer): at most 10 tries at once and 100 in each delayed phase, so
        // one subscription cannot turn a failing receiver into a stream of thousands of tries per message.
        int Get(string key, int fallback, int max)
        {
            if (!p.TryGetProperty(key, out var v))
            {
                return fallback;
            }

            return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) && n >= 0 && n <= max ? n : throw Invalid($"The value of {key} must be an integer between 0 and {max}.");
        }

        var min = Get("minimum_delay", (int)d.MinimumDelay.TotalSeconds, 86_400);
        var max = Get("maximum_delay", (int)d.MaximumDelay.TotalSeconds, 86_400);
        if (max < min || max - min < 10)
        {
            throw Invalid("The maximum_delay must be at least 10 seconds more than the minimum_delay.");
        }

        var backoff = RetryBackoff.Linear;
        if (p.TryGetProperty("retry_backoff_function", out var f))
        {
            backoff = f.ValueKind == JsonValueKind.String ? f.GetString() switch
            {
                "linear" => RetryBackoff.Linear,
                "arithmetic" => RetryBackoff.Arithmetic,
                "geometric" => RetryBackoff.Geometric,
                "exponential" => RetryBackoff.Exponential,
                _ => throw Invalid("The retry_backoff_function must be one of linear, arithmetic, geometric, exponential."),
            } : throw Invalid("The retry_backoff_function must be one of linear, arithmetic, geometric, exponential.");
        }

        return new NotificationRetryPolicy
        {
            RetriesWithNoDelay = Get("retries_with_no_delay", d.RetriesWithNoDelay, 10),
            MinimumDelayRetries = Get("minimum_delay_retries", d.MinimumDelayRetries, 100),
            MaximumDelayRetries = Get("maximum_delay_retries", d.MaximumDelayRetries, 100),
            MinimumDelay = TimeSpan.FromSeconds(min),
            MaximumDelay = TimeSpan.FromSeconds(max),
            Backoff = backoff,
        };
    }

    /// <summary>An object's JSON without one key.</summary>
    private static byte[] Without(JsonElement o, string key)
    {
        if (!o.TryGetProperty(key, out _))
        {
            return Encoding.UTF8.GetBytes(o.GetRawText());
        }

        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var j = new Utf8JsonWriter(buffer))
        {
            j.WriteStartObject();
            foreach (var p in o.EnumerateObject().Where(p => p.Name != key))
            {
                p.WriteTo(j);
            }

            j.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A subscription as Zaqar shows it (§8.1), with Daakia's delivery counts beside.</summary>
    public static void Write(Utf8JsonWriter j, QueueSubscriptionView view, DateTimeOffset now)
    {
        var s = view.Subscription;
        j.WriteStartObject();
        j.WriteString("id", s.Id.ToString());
        j.WriteString("source", s.Queue);
        j.WriteString("subscriber", s.Subscriber);
        j.WriteNumber("ttl", (long)s.Ttl.TotalSeconds);
        j.WriteNumber("age", Math.Max(0, (long)(now - s.UpdatedAt).TotalSeconds));
        j.WritePropertyName("options");
        j.WriteRawValue(s.Options.IsEmpty ? "{}"u8 : s.Options.Span, skipInputValidation: true);
        j.WriteBoolean("confirmed", s.Confirmed);
        var d = view.Stats;
        j.WriteStartObject("delivery");
        j.WriteNumber("pending", d.Pending);
        j.WriteNumber("delivered", d.Delivered);
        j.WriteNumber("retried", d.Retried);
        j.WriteNumber("failed", d.Failed);
        j.WriteNumber("dropped", d.Dropped);
        if (d.LastError is { } e)
        {
            j.WriteString("last_error", e);
        }

        if (d.LastAttemptAt is { } at)
        {
            j.WriteString("last_attempt", at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));
        }

        j.WriteEndObject();
        j.WriteEndObject();
    }
}
