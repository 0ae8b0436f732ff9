using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Daakia.Server.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace Daakia.Server.Hosting;

/// <summary>
/// What a web page may make this server do (docs/security.md). Every request must name an allowed <c>Host</c> — by
/// default the addresses the server is bound to and <c>localhost</c> — so a page whose name was rebound to 127.0.0.1
/// (DNS rebinding) is refused with 421. A WebSocket upgrade's <c>Origin</c> must be absent (not a browser), the
/// server's own origin, a loopback origin while the server listens on loopback only, or a configured origin.
/// </summary>
/// <remarks>The defaults are worked out from the bound addresses at the first request (they are known only then).</remarks>
public sealed class EdgePolicy
{
    private readonly IServer _server;
    private readonly DaakiaServerOptions _options;
    private readonly ILogger _logger;
    private readonly HashSet<string> _origins = new(StringComparer.OrdinalIgnoreCase);
    private readonly bool _anyOrigin;
    private Bound? _bound;

    public EdgePolicy(IServer server, DaakiaServerOptions options, ILoggerFactory loggers)
    {
        _server = server;
        _options = options;
        _logger = loggers.CreateLogger(RestLog.Category);
        foreach (var origin in options.AllowedOrigins)
        {
            _anyOrigin |= origin == "*";
            _origins.Add(NormalizeOrigin(origin));
        }
    }

    /// <summary>True when every bound address is a loopback address (the newcomer's default).</summary>
    public bool LoopbackOnly => Resolve().LoopbackOnly;

    /// <summary>The host patterns requests must match (ports ignored); <c>*</c> allows any.</summary>
    public IReadOnlyList<string> AllowedHosts => Resolve().HostNames;

    /// <summary>Middleware: refuses a request whose <c>Host</c> is not allowed (421 problem+json, <c>invalid_host</c>).</summary>
    public Task FilterHostAsync(HttpContext http, RequestDelegate next)
    {
        var host = http.Request.Host;
        var bound = Resolve();
        // HTTP/1.0 may omit Host (Kestrel refuses an HTTP/1.1 request without one); browsers always send it.
        if (bound.AnyHost || !host.HasValue || HostString.MatchesAny(new StringSegment(host.Value), bound.Patterns))
        {
            return next(http);
        }

        RestLog.HostRefused(_logger, host.Value);
        return RestProblem.WriteAsync(http, StatusCodes.Status421MisdirectedRequest, ErrorCodes.InvalidHost,
            $"'{RestRequest.Excerpt(host.Value)}' is not a host name of this server; allowed: {string.Join(", ", bound.HostNames)} (setting Daakia:AllowedHosts).");
    }

    /// <summary>Whether a WebSocket upgrade carrying <paramref name="origin"/> (null: no <c>Origin</c> header) may proceed.</summary>
    public bool IsAllowedOrigin(HttpRequest request, string? origin)
    {
        if (OriginAllowed(request.Scheme, request.Host, origin))
        {
            return true;
        }

        RestLog.OriginRefused(_logger, RestRequest.Excerpt(origin!));
        return false;
    }

    /// <summary>
    /// Whether a plain-HTTP WebSocket upgrade naming <paramref name="host"/> and <paramref name="origin"/> passes both
    /// <see cref="FilterHostAsync"/> and <see cref="IsAllowedOrigin"/> (nothing is logged: a refusal is made, and
    /// logged, by those).
    /// </summary>
    internal bool AllowsUpgrade(string host, string? origin)
    {
        var bound = Resolve();
        return (bound.AnyHost || HostString.MatchesAny(new StringSegment(host), bound.Patterns))
            && OriginAllowed(Uri.UriSchemeHttp, new HostString(host), origin);
    }

    private bool OriginAllowed(string scheme, HostString host, string? origin)
    {
        if (origin is null || _anyOrigin || _origins.Contains(NormalizeOrigin(origin)))
        {
            return true;
        }

        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            // Includes "null": a file:// page, a sandboxed frame or a redirect; only allowed when listed.
            return false;
        }

        // Same origin (RFC 6454 §5): scheme, host and port of the page are those the request was made to.
        var port = host.Port ?? (scheme == Uri.UriSchemeHttps ? 443 : 80);
        if (string.Equals(uri.Scheme, scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(uri.Host, host.Host, StringComparison.OrdinalIgnoreCase)
            && uri.Port == port)
        {
            return true;
        }

        // On loopback only, a page served from this machine (any port: a local page, or a local reverse proxy as texto
        // deploys behind nginx) is trusted as the machine's own user is.
        return LoopbackOnly && IsLoopbackHost(uri.Host);
    }

    /// <summary><c>scheme://host[:port]</c> lower-cased without a trailing slash, as browsers send it.</summary>
    public static string NormalizeOrigin(string origin) => origin.Trim().TrimEnd('/').ToLowerInvariant();

    /// <summary>The rule for an entry of <c>AllowedOrigins</c>: <c>*</c>, <c>null</c>, or <c>http(s)://host[:port]</c>.</summary>
    public static bool IsValidOriginEntry(string origin) =>
        origin is "*" or "null"
        || (Uri.TryCreate(origin, UriKind.Absolute, out var uri)
            && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            && uri.AbsolutePath == "/" && uri.Query.Length == 0 && uri.Fragment.Length == 0 && uri.UserInfo.Length == 0);

    /// <summary>The rule for an entry of <c>AllowedHosts</c>: <c>*</c>, a host name or address, or <c>*.domain</c>, without a port.</summary>
    public static bool IsValidHostEntry(string host)
    {
        if (host == "*")
        {
            return true;
        }

        var name = host.StartsWith("*.", StringComparison.Ordinal) ? host[2..] : host;
        return name.Length > 0 && (Uri.CheckHostName(name) != UriHostNameType.Unknown || (name.StartsWith('[') && name.EndsWith(']') && IPAddress.TryParse(name[1..^1], out _)));
    }

    private static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private Bound Resolve()
    {
        if (Volatile.Read(ref _bound) is { } bound)
        {
            return bound;
        }

        var addresses = _server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var loopbackOnly = addresses.Count > 0;
        var names = new List<string> { "localhost" };
        foreach (var address in addresses)
        {
            if (!Uri.TryCreate(address, UriKind.Absolute, out var uri))
            {
                loopbackOnly = false;
                continue;
            }

            var host = uri.Host;
            if (IPAddress.TryParse(host.Trim('[', ']'), out var ip))
            {
                loopbackOnly &= IPAddress.IsLoopback(ip);
                if (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any))
                {
                    // Bound to every interface: the addresses it has now, and the machine's name.
                    AddInterfaceAddresses(names);
                    names.Add(Dns.GetHostName());
                    continue;
                }
            }
            else
            {
                loopbackOnly &= IsLoopbackHost(host);
            }

            names.Add(host);
        }

        if (_options.AllowedHosts.Count > 0)
        {
            names = [.. _options.AllowedHosts];
        }

        var patterns = new List<StringSegment>(names.Count);
        foreach (var name in names.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            patterns.Add(new StringSegment(name));
        }

        bound = new Bound(loopbackOnly, names.Contains("*"), [.. names.Distinct(StringComparer.OrdinalIgnoreCase)], patterns);
        // Only cache once the server has bound (a request cannot arrive earlier, but a caller might ask).
        if (addresses.Count > 0)
        {
            Volatile.Write(ref _bound, bound);
        }

        return bound;
    }

    private static void AddInterfaceAddresses(List<string> names)
    {
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
                {
                    var ip = unicast.Address;
                    if (ip.AddressFamily == AddressFamily.InterNetworkV6)
                    {
                        ip.ScopeId = 0;
                        names.Add($"[{ip}]");
                    }
                    else
                    {
                        names.Add(ip.ToString());
                    }
                }
            }
        }
        catch (NetworkInformationException)
        {
            // No interface list (a restricted container): the configured and loopback names still apply.
        }
    }

    private sealed record Bound(bool LoopbackOnly, bool AnyHost, IReadOnlyList<string> HostNames, IList<StringSegment> Patterns);
}
