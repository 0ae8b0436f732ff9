using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Daakia.Core;

namespace Daakia.Server.Notifications;

/// <summary>
/// Sends webhook notifications: one POST per notification through the named client <see cref="ClientName"/>
/// (IHttpClientFactory, with a resilience pipeline: a timeout per try and a quick retry; the durable outbox does the
/// long retries). Each request carries the delivery id, the try, a timestamp and
/// an HMAC-SHA256 signature of <c>timestamp + "." + body</c> with the subscription's secret, and the Standard Webhooks
/// headers (<c>webhook-id</c>, <c>webhook-timestamp</c>, <c>webhook-signature</c>, which also covers the id); the subscription's
/// <c>post_headers</c> and <c>post_data</c> options apply as in Zaqar. 2xx is delivered; 408, 425, 429 and 5xx, a
/// connection error or a timeout are tried again; any other answer (a redirect is not followed) and a refused target
/// are given up.
/// </summary>
public sealed class WebhookSender(IHttpClientFactory clients, DaakiaServerOptions options, TimeProvider time) : INotificationSender
{
    public const string ClientName = "daakia-webhooks";

    /// <summary>The headers Daakia sets on every webhook request (beyond Zaqar's).</summary>
    public const string DeliveryHeader = "X-Daakia-Delivery";
    public const string SubscriptionHeader = "X-Daakia-Subscription";
    public const string AttemptHeader = "X-Daakia-Attempt";
    public const string TimestampHeader = "X-Daakia-Timestamp";
    public const string SignatureHeader = "X-Daakia-Signature";

    /// <summary>The Standard Webhooks headers (standardwebhooks.com), for receivers that verify with one of its libraries:
    /// the delivery id, the timestamp, and <c>v1,</c> + base64 HMAC-SHA256 of <c>id.timestamp.body</c>.</summary>
    public const string StandardIdHeader = "webhook-id";
    public const string StandardTimestampHeader = "webhook-timestamp";
    public const string StandardSignatureHeader = "webhook-signature";

    public SubscriberKind Kind => SubscriberKind.Webhook;

    public async ValueTask<NotificationResult> SendAsync(QueueNotification notification, CancellationToken cancellationToken)
    {
        var s = notification.Subscription;
        var now = time.GetUtcNow();
        var body = NotificationBody.Apply(s.Options, NotificationBody.Json(notification, options.Zaqar.SignedUrlKey, now));
        using var request = new HttpRequestMessage(HttpMethod.Post, s.Subscriber) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (NotificationBody.Option(s.Options, "post_headers") is { ValueKind: JsonValueKind.Object } extra)
        {
            foreach (var h in extra.EnumerateObject())
            {
                if (h.Value.ValueKind == JsonValueKind.String && !h.Name.StartsWith("X-Daakia-", StringComparison.OrdinalIgnoreCase) && !h.Name.StartsWith("webhook-", StringComparison.OrdinalIgnoreCase))
                {
                    if (!request.Headers.TryAddWithoutValidation(h.Name, h.Value.GetString()))
                    {
                        request.Content.Headers.Remove(h.Name);
                        request.Content.Headers.TryAddWithoutValidation(h.Name, h.Value.GetString());
                    }
                }
            }
        }

        var timestamp = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        request.Headers.TryAddWithoutValidation(DeliveryHeader, notification.Message.Id.ToString());
        request.Headers.TryAddWithoutValidation(SubscriptionHeader, s.Id.ToString());
        request.Headers.TryAddWithoutValidation(AttemptHeader, notification.Attempt.ToString(CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation(TimestampHeader, timestamp);
        request.Headers.TryAddWithoutValidation(SignatureHeader, "sha256=" + Sign(s.Secret, timestamp, body));
        var delivery = notification.Message.Id.ToString();
        request.Headers.TryAddWithoutValidation(StandardIdHeader, delivery);
        request.Headers.TryAddWithoutValidation(StandardTimestampHeader, timestamp);
        request.Headers.TryAddWithoutValidation(StandardSignatureHeader, "v1," + SignStandard(s.Secret, delivery, timestamp, body));
        request.Headers.UserAgent.ParseAdd("Daakia-Notifications/1");
        try
        {
            using var response = await clients.CreateClient(ClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            var code = (int)response.StatusCode;
            var status = $"{code} {response.ReasonPhrase}".TrimEnd();
            return code switch
            {
                >= 200 and < 300 => NotificationResult.Delivered,
                408 or 425 or 429 or >= 500 => new NotificationResult(NotificationOutcome.Retry, status),
                >= 300 and < 400 => new NotificationResult(NotificationOutcome.Rejected, status + " (redirects are not followed)"),
                _ => new NotificationResult(NotificationOutcome.Rejected, status),
            };
        }
        catch (Exception ex) when (Refused(ex) is { } refused)
        {
            return new NotificationResult(NotificationOutcome.Rejected, refused.Message);
        }
        catch (HttpRequestException ex)
        {
            return new NotificationResult(NotificationOutcome.Retry, ex.InnerException?.Message ?? ex.Message);
        }
        catch (Exception ex) when (ex is TaskCanceledException or TimeoutException or Polly.Timeout.TimeoutRejectedException && !cancellationToken.IsCancellationRequested)
        {
            return new NotificationResult(NotificationOutcome.Retry, "timed out");
        }
    }

    /// <summary>The signature a receiver recomputes: lowercase hex of HMAC-SHA256(secret, timestamp + "." + body).</summary>
    public static string Sign(string secret, string timestamp, ReadOnlySpan<byte> body) =>
        Convert.ToHexStringLower(Mac(secret, timestamp + ".", body));

    /// <summary>
    /// The Standard Webhooks signature (without its <c>v1,</c>): base64 of HMAC-SHA256 over <c>id + "." + timestamp + "."
    /// + body</c> under the secret's UTF-8 bytes, the key a Standard Webhooks library takes as <see cref="StandardSecret"/>.
    /// Unlike <see cref="Sign"/> it covers the delivery id, so a captured request replayed with another id fails.
    /// </summary>
    public static string SignStandard(string secret, string id, string timestamp, ReadOnlySpan<byte> body) =>
        Convert.ToBase64String(Mac(secret, id + "." + timestamp + ".", body));

    /// <summary>HMAC-SHA256 under the secret's UTF-8 bytes of an ASCII <paramref name="prefix"/> followed by the body.</summary>
    private static byte[] Mac(string secret, string prefix, ReadOnlySpan<byte> body)
    {
        var message = new byte[Encoding.ASCII.GetByteCount(prefix) + body.Length];
        var n = Encoding.ASCII.GetBytes(prefix, message);
        body.CopyTo(message.AsSpan(n));
        return HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message);
    }

    /// <summary>The subscription's secret as a Standard Webhooks library takes it: <c>whsec_</c> + base64 of its UTF-8 bytes.</summary>
    public static string StandardSecret(string secret) => "whsec_" + Convert.ToBase64String(Encoding.UTF8.GetBytes(secret));

    private static WebhookTargetRefusedException? Refused(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is WebhookTargetRefusedException refused)
            {
                return refused;
            }
        }

        return null;
    }

    /// <summary>The primary handler of <see cref="ClientName"/>: connections only to allowed addresses, no redirects,
    /// no cookies, pooled connections renewed every few minutes (DNS changes are seen).</summary>
    public static SocketsHttpHandler CreateHandler(WebhookTargets targets, NotificationOptions options) => new()
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(options.TimeoutSeconds),
        MaxResponseHeadersLength = 64,
        ConnectCallback = (context, ct) => targets.ConnectAsync(context.DnsEndPoint, ct),
    };
}
