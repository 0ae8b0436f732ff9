using Daakia.Core;
using Daakia.Server.WebSockets;

namespace Daakia.Server;

/// <summary>
/// The rules for <see cref="DaakiaServerOptions"/> (section <c>Daakia</c>), one line each, and the rules that tie the
/// adapters to the core's limits. A new option gets its line here and its range in docs/configuration.md.
/// </summary>
public static class DaakiaServerOptionsValidator
{
    private const int MiB = 1024 * 1024;

    /// <param name="o">The adapters' settings.</param>
    /// <param name="core">The core's settings, for the rules that relate the two.</param>
    /// <param name="v">The validation of the <c>Daakia</c> section.</param>
    public static void Validate(DaakiaServerOptions o, DaakiaCoreOptions core, OptionsValidation v)
    {
        for (var i = 0; i < o.OpenTenants.Count; i++)
        {
            v.Require(TenantId.TryCreate(o.OpenTenants[i], out _), $"{nameof(o.OpenTenants)}:{i}",
                $"be a tenant id: 1-{TenantId.MaxLength} of [A-Za-z0-9._-]", o.OpenTenants[i]);
        }

        v.Between(o.MaxFrameBytes, 256, 128 * MiB);
        v.Between(o.OutboxCapacity, 8, 1_048_576);
        v.Between(o.OutboxBytes, 64L * 1024, 4096L * MiB);
        v.Between(o.MaxRequestsPerSecond, 1, 10_000_000);
        v.Between(o.RequestBurst, 1, 10_000_000);
        v.Between(o.HelloTimeoutSeconds, 1, 3600);
        // System.Text.Json reads a depth of 0 as its default (64), so 0 would not mean what it says.
        v.Between(o.MaxJsonDepth, 1, 1000);
        v.Between(o.MaxRequestIdLength, 1, 1024);
        v.Between(o.MaxRequestBodyBytes, 256, 128 * MiB);
        v.Between(o.DrainTimeoutSeconds, 0, 3600);
        var m = o.Mqtt;
        v.Require(m.MaxPacketSize is >= 64 and <= 268_435_460, "Mqtt:MaxPacketSize", "be between 64 and 268435460", m.MaxPacketSize);
        v.Require(m.ConnectTimeoutSeconds is >= 1 and <= 3600, "Mqtt:ConnectTimeoutSeconds", "be between 1 and 3600", m.ConnectTimeoutSeconds);
        v.Require(m.MaxKeepAliveSeconds is >= 1 and <= 65_535, "Mqtt:MaxKeepAliveSeconds", "be between 1 and 65535", m.MaxKeepAliveSeconds);
        v.Require(m.MaxInflight is >= 1 and <= 65_535, "Mqtt:MaxInflight", "be between 1 and 65535", m.MaxInflight);
        v.Require(m.ReceiveMaximum is >= 1 and <= 65_535, "Mqtt:ReceiveMaximum", "be between 1 and 65535", m.ReceiveMaximum);
        v.Require(m.TopicAliasMaximum is >= 0 and <= 65_535, "Mqtt:TopicAliasMaximum", "be between 0 and 65535", m.TopicAliasMaximum);
        v.Require(m.MaxOutboundTopicAliases is >= 0 and <= 65_535, "Mqtt:MaxOutboundTopicAliases", "be between 0 and 65535", m.MaxOutboundTopicAliases);
        v.Require(m.OutboxCapacity is >= 8 and <= 1_048_576, "Mqtt:OutboxCapacity", "be between 8 and 1048576", m.OutboxCapacity);
        v.Require(m.OutboxBytes is >= 64L * 1024 and <= 4096L * MiB, "Mqtt:OutboxBytes", "be between 65536 and 4294967296", m.OutboxBytes);
        v.Require(m.PaceBytes >= 0 && m.PaceBytes <= m.OutboxBytes, "Mqtt:PaceBytes", "be between 0 and Mqtt:OutboxBytes", m.PaceBytes);
        v.Require(m.PaceMilliseconds is >= 0 and <= 60_000, "Mqtt:PaceMilliseconds", "be between 0 and 60000", m.PaceMilliseconds);
        v.Require(m.PaceMinimumBytes >= 4096, "Mqtt:PaceMinimumBytes", "be at least 4096", m.PaceMinimumBytes);
        v.Require(m.PaceWaitMilliseconds is >= 1 and <= 60_000, "Mqtt:PaceWaitMilliseconds", "be between 1 and 60000", m.PaceWaitMilliseconds);
        var n = o.Notifications;
        v.Require(n.TimeoutSeconds is >= 1 and <= 600, "Notifications:TimeoutSeconds", "be between 1 and 600", n.TimeoutSeconds);
        v.Require(n.QuickRetries is >= 0 and <= 5, "Notifications:QuickRetries", "be between 0 and 5", n.QuickRetries);
        for (var i = 0; i < n.AllowedNetworks.Count; i++)
        {
            v.Require(Notifications.WebhookTargets.IsValidNetwork(n.AllowedNetworks[i]), $"Notifications:AllowedNetworks:{i}",
                "be a network (CIDR, like 10.1.0.0/16) or an address", n.AllowedNetworks[i]);
        }

        v.Require(n.Smtp.Port is >= 1 and <= 65_535, "Notifications:Smtp:Port", "be between 1 and 65535", n.Smtp.Port);
        v.Require(n.Smtp.TimeoutSeconds is >= 1 and <= 600, "Notifications:Smtp:TimeoutSeconds", "be between 1 and 600", n.Smtp.TimeoutSeconds);
        v.Require(Notifications.MailSender.TryParseSecurity(n.Smtp.Security) is not null, "Notifications:Smtp:Security", "be Auto, None, StartTls or SslOnConnect", n.Smtp.Security);
        v.Require(MimeKit.MailboxAddress.TryParse(n.Smtp.From, out _), "Notifications:Smtp:From", "be an e-mail address (Name <user@host> or user@host)", n.Smtp.From);

        // The key itself is a secret: the failure names the rule, never the value.
        v.Require(o.TextoResumeKey is null || TextoResumeSecrets.TryDecodeKey(o.TextoResumeKey, out _), nameof(o.TextoResumeKey),
            $"be base64 of at least {TextoResumeSecrets.MinKeyBytes} bytes", "(not shown)");

        v.Require(o.Zaqar.SignedUrlKey is null || o.Zaqar.SignedUrlKey.Length >= Zaqar.ZaqarSigner.MinKeyLength, "Zaqar:SignedUrlKey",
            $"be at least {Zaqar.ZaqarSigner.MinKeyLength} characters", "(not shown)");
        // A confirmation request carries a pre-signed URL: confirmation needs the key that signs it.
        v.Require(!core.RequireSubscriptionConfirmation || !string.IsNullOrEmpty(o.Zaqar.SignedUrlKey), "Zaqar:SignedUrlKey",
            "be set when Core:RequireSubscriptionConfirmation is true (confirmation requests carry a pre-signed URL)", "(not set)");

        // The HTTP edge (docs/security.md).
        for (var i = 0; i < o.AllowedHosts.Count; i++)
        {
            v.Require(Hosting.EdgePolicy.IsValidHostEntry(o.AllowedHosts[i]), $"{nameof(o.AllowedHosts)}:{i}",
                "be a host name or address without a port, *.domain, or *", o.AllowedHosts[i]);
        }

        for (var i = 0; i < o.AllowedOrigins.Count; i++)
        {
            v.Require(Hosting.EdgePolicy.IsValidOriginEntry(o.AllowedOrigins[i]), $"{nameof(o.AllowedOrigins)}:{i}",
                "be an origin: http(s)://host[:port] with no path, null, or *", o.AllowedOrigins[i]);
        }

        v.Between(o.MaxConcurrentReadBytes, 64L * 1024, 64L * 1024 * MiB);
        var page = Math.Max(core.MaxReadPageBytes, core.MaxPayloadBytes);
        v.Require(o.MaxConcurrentReadBytes >= page, nameof(o.MaxConcurrentReadBytes), $"be at least one inbox page, the larger of Core:MaxReadPageBytes and Core:MaxPayloadBytes = {page}",
            o.MaxConcurrentReadBytes, "otherwise no REST inbox read could ever run", v.Child("Core").Key(nameof(core.MaxReadPageBytes)));

        // A connection's outbox carries its letters in flight and, up to half its capacity, the replies to pipelined
        // requests (past that the read loop waits). A window larger than the other half overflows the outbox of a
        // client that comes online to a backlog, and closes it as a slow consumer every time.
        var coreSection = v.Child("Core");
        coreSection.Require(core.MaxInflightPerConnection <= o.OutboxCapacity / 2, nameof(core.MaxInflightPerConnection), $"be at most half of {v.Key(nameof(o.OutboxCapacity))} = {o.OutboxCapacity / 2}",
            core.MaxInflightPerConnection, "letters in flight and replies to pipelined requests share a connection's outbox", v.Key(nameof(o.OutboxCapacity)));
        coreSection.Require(core.MaxInflightBytesPerConnection <= o.OutboxBytes / 2, nameof(core.MaxInflightBytesPerConnection), $"be at most half of {v.Key(nameof(o.OutboxBytes))} = {o.OutboxBytes / 2}",
            core.MaxInflightBytesPerConnection, "letters in flight and replies to pipelined requests share a connection's outbox", v.Key(nameof(o.OutboxBytes)));
    }
}
