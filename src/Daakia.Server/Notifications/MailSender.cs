using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Daakia.Core;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Daakia.Server.Notifications;

/// <summary>
/// Sends e-mail notifications over SMTP (MailKit; <see cref="SmtpOptions"/>): to the address of the <c>mailto:</c> URI,
/// with its <c>subject</c> parameter (else the <c>subject</c> option, else one naming the queue), from the <c>from</c>
/// option (else the configured sender); the body is the notification's JSON, as Zaqar sends it. A 5xx from the SMTP
/// server gives up; anything else (a 4xx, a connection error, a timeout) is tried again.
/// </summary>
public sealed class MailSender(DaakiaServerOptions options, TimeProvider time) : INotificationSender
{
    public SubscriberKind Kind => SubscriberKind.Mail;

    /// <summary>The address and subject of a <c>mailto:</c> URI, or null when it names no valid address.</summary>
    public static (MailboxAddress To, string? Subject)? Parse(string uri)
    {
        if (!uri.StartsWith("mailto:", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var rest = uri["mailto:".Length..];
        var q = rest.IndexOf('?', StringComparison.Ordinal);
        var address = Uri.UnescapeDataString(q < 0 ? rest : rest[..q]).TrimStart('/');
        string? subject = null;
        if (q >= 0)
        {
            foreach (var pair in rest[(q + 1)..].Split('&'))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq > 0 && pair[..eq].Equals("subject", StringComparison.OrdinalIgnoreCase))
                {
                    subject = Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' '));
                }
            }
        }

        return MailboxAddress.TryParse(address, out var to) && to.Address.Contains('@', StringComparison.Ordinal) ? (to, subject) : null;
    }

    public async ValueTask<NotificationResult> SendAsync(QueueNotification notification, CancellationToken cancellationToken)
    {
        var s = notification.Subscription;
        var smtp = options.Notifications.Smtp;
        if (Parse(s.Subscriber) is not { } target)
        {
            return new NotificationResult(NotificationOutcome.Rejected, "not an e-mail address");
        }

        var from = NotificationBody.Option(s.Options, "from") is { ValueKind: JsonValueKind.String } f && MailboxAddress.TryParse(f.GetString(), out var sender)
            ? sender
            : MailboxAddress.Parse(smtp.From);
        var subject = target.Subject
            ?? (NotificationBody.Option(s.Options, "subject") is { ValueKind: JsonValueKind.String } sj ? sj.GetString() : null)
            ?? (notification.Kind == NotificationKind.ConfirmationRequest ? $"Daakia - confirm your subscription to the queue {s.Queue}" : $"Daakia notification: queue {s.Queue}");
        var body = NotificationBody.Json(notification, options.Zaqar.SignedUrlKey, time.GetUtcNow());
        using var message = new MimeMessage();
        message.From.Add(from);
        message.To.Add(target.To);
        message.Subject = subject;
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId();
        message.Headers.Add("X-Daakia-Delivery", notification.Message.Id.ToString());
        message.Headers.Add("X-Daakia-Subscription", s.Id.ToString());
        message.Body = new TextPart("plain") { Text = Encoding.UTF8.GetString(body) };

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(smtp.TimeoutSeconds));
        using var client = new SmtpClient { Timeout = smtp.TimeoutSeconds * 1000 };
        try
        {
            await client.ConnectAsync(smtp.Host!, smtp.Port, Security(smtp.Security), timeout.Token);
            if (!string.IsNullOrEmpty(smtp.UserName))
            {
                await client.AuthenticateAsync(smtp.UserName, smtp.Password ?? "", timeout.Token);
            }

            await client.SendAsync(message, timeout.Token);
            await client.DisconnectAsync(quit: true, timeout.Token);
            return NotificationResult.Delivered;
        }
        catch (SmtpCommandException ex) when ((int)ex.StatusCode >= 500)
        {
            return new NotificationResult(NotificationOutcome.Rejected, $"{(int)ex.StatusCode} {ex.Message}");
        }
        catch (Exception ex) when (ex is SmtpCommandException or SmtpProtocolException or SocketException or IOException or AuthenticationException or ServiceNotConnectedException or SslHandshakeException)
        {
            return new NotificationResult(NotificationOutcome.Retry, ex.Message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new NotificationResult(NotificationOutcome.Retry, "timed out");
        }
    }

    /// <summary>The setting's TLS mode, or null when it names none.</summary>
    public static SecureSocketOptions? TryParseSecurity(string value) => value.ToUpperInvariant() switch
    {
        "AUTO" => SecureSocketOptions.Auto,
        "NONE" => SecureSocketOptions.None,
        "STARTTLS" => SecureSocketOptions.StartTls,
        "SSLONCONNECT" => SecureSocketOptions.SslOnConnect,
        _ => null,
    };

    private static SecureSocketOptions Security(string value) => TryParseSecurity(value) ?? SecureSocketOptions.Auto;
}
