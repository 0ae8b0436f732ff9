namespace Daakia.Server.Notifications;

/// <summary>How queue notifications leave the server (<c>Daakia:Notifications</c>): webhooks and e-mail.</summary>
public sealed class NotificationOptions
{
    /// <summary>Seconds one webhook request may take (connect, send, the answer's headers) before it counts as failed.</summary>
    public int TimeoutSeconds { get; set; } = 10;

    /// <summary>Tries of one webhook request within one delivery attempt, on a connection error or a 5xx, before the
    /// durable outbox schedules the next attempt (its retry policy). 0: none.</summary>
    public int QuickRetries { get; set; } = 1;

    /// <summary>
    /// Networks (CIDR, e.g. <c>10.1.0.0/16</c>, or single addresses) webhooks may reach although they are loopback,
    /// private or link-local. Those are refused otherwise (a subscriber URI must not turn the server against its own
    /// network) — except loopback while the server listens on loopback only (local development).
    /// </summary>
    public List<string> AllowedNetworks { get; set; } = [];

    /// <summary>
    /// Whether webhooks may reach loopback addresses. Unset: only while the server listens on loopback only (local
    /// development and tests). Set it to false where the server sits on loopback behind a reverse proxy and other
    /// services listen on loopback too.
    /// </summary>
    public bool? AllowLoopback { get; set; }

    /// <summary>The SMTP server <c>mailto:</c> subscribers are notified through; without a host, e-mail subscriptions are refused.</summary>
    public SmtpOptions Smtp { get; set; } = new();
}

/// <summary>The SMTP server of e-mail notifications (<c>Daakia:Notifications:Smtp</c>).</summary>
public sealed class SmtpOptions
{
    public string? Host { get; set; }

    public int Port { get; set; } = 25;

    /// <summary><c>Auto</c> (TLS when the server offers it), <c>None</c>, <c>StartTls</c> (required), or <c>SslOnConnect</c>.</summary>
    public string Security { get; set; } = "Auto";

    public string? UserName { get; set; }

    public string? Password { get; set; }

    /// <summary>The sender of notifications, unless a subscription's <c>from</c> option names one.</summary>
    public string From { get; set; } = "Daakia Notifications <daakia@localhost>";

    /// <summary>Seconds one mail may take to send.</summary>
    public int TimeoutSeconds { get; set; } = 30;
}
