using System.Net;
using System.Net.Sockets;
using Daakia.Server.Hosting;

namespace Daakia.Server.Notifications;

/// <summary>
/// Which addresses a webhook may reach (server-side request forgery): never loopback, private, link-local, shared
/// (CGNAT), unspecified, multicast or broadcast ones, unless <see cref="NotificationOptions.AllowedNetworks"/> names
/// them — except loopback while the server listens on loopback only (local development and tests). Decided at connect
/// time on the addresses the name resolved to, so a name that resolves to an internal address later is caught too.
/// </summary>
public sealed class WebhookTargets
{
    private static readonly IPNetwork[] Internal =
    [
        IPNetwork.Parse("0.0.0.0/8"), IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("100.64.0.0/10"), IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("169.254.0.0/16"), IPNetwork.Parse("172.16.0.0/12"), IPNetwork.Parse("192.0.0.0/24"), IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("198.18.0.0/15"), IPNetwork.Parse("224.0.0.0/3"),
        IPNetwork.Parse("::/96"), IPNetwork.Parse("::1/128"), IPNetwork.Parse("fc00::/7"), IPNetwork.Parse("fe80::/10"), IPNetwork.Parse("fec0::/10"),
        IPNetwork.Parse("ff00::/8"),

        // IPv6 forms that carry an IPv4 address to a translator (NAT64, 6to4, Teredo): refused rather than unpacked.
        IPNetwork.Parse("64:ff9b::/96"), IPNetwork.Parse("64:ff9b:1::/48"), IPNetwork.Parse("2002::/16"), IPNetwork.Parse("2001::/32"),
    ];

    private readonly IReadOnlyList<IPNetwork> _allowed;
    private readonly Func<bool> _loopbackOnly;

    public WebhookTargets(DaakiaServerOptions options, EdgePolicy edge)
        : this(options.Notifications.AllowedNetworks, options.Notifications.AllowLoopback is { } allow ? () => allow : () => edge.LoopbackOnly)
    {
    }

    internal WebhookTargets(IEnumerable<string> allowed, Func<bool> loopbackOnly)
    {
        _allowed = [.. allowed.Select(ParseNetwork)];
        _loopbackOnly = loopbackOnly;
    }

    /// <summary>Whether <paramref name="entry"/> is a network (CIDR) or a single address.</summary>
    public static bool IsValidNetwork(string entry) => TryParseNetwork(entry, out _);

    private static IPNetwork ParseNetwork(string entry) =>
        TryParseNetwork(entry, out var n) ? n : throw new ArgumentException($"'{entry}' is not a network.", nameof(entry));

    private static bool TryParseNetwork(string entry, out IPNetwork network)
    {
        if (IPNetwork.TryParse(entry, out network))
        {
            return true;
        }

        if (IPAddress.TryParse(entry, out var ip))
        {
            network = new IPNetwork(ip, ip.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        return false;
    }

    /// <summary>Whether a webhook may connect to <paramref name="address"/>.</summary>
    public bool IsAllowed(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (_allowed.Any(n => n.Contains(address)))
        {
            return true;
        }

        if (IPAddress.IsLoopback(address))
        {
            return _loopbackOnly();
        }

        return !Internal.Any(n => n.Contains(address)) && !address.Equals(IPAddress.Broadcast);
    }

    /// <summary>Opens a webhook's connection to the first allowed address <paramref name="endpoint"/> resolves to.</summary>
    public async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(endpoint.Host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endpoint.Host, cancellationToken);
        var allowed = addresses.Where(IsAllowed).ToArray();
        if (allowed.Length == 0)
        {
            throw new WebhookTargetRefusedException($"The webhook's host {endpoint.Host} is a loopback, private or link-local address (Daakia:Notifications:AllowedNetworks allows some).");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, endpoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>A webhook's target is an address webhooks may not reach: not tried again.</summary>
public sealed class WebhookTargetRefusedException(string message) : Exception(message);
