using Daakia.Core;

namespace Daakia.Server;

/// <summary>
/// Decides which tenant a request belongs to. Until credentials exist, only the configured open tenants are
/// reachable, and a request that names none gets the first of them.
/// </summary>
public sealed class TenantResolver
{
    private readonly HashSet<TenantId> _open = [];
    private readonly TenantId _default;

    public TenantResolver(DaakiaServerOptions options)
    {
        var names = options.OpenTenants.Count > 0 ? options.OpenTenants : [TenantId.Default.Value];
        foreach (var n in names)
        {
            _open.Add(TenantId.Parse(n));
        }

        _default = TenantId.Parse(names[0]);
    }

    /// <summary>The tenant a request without a tenant name gets.</summary>
    public TenantId Default => _default;

    /// <summary>
    /// Resolves an optional tenant name: <see langword="null"/> (not given) is the default tenant; an empty name is
    /// refused (InvalidArgument) rather than read as the default; a tenant that is not open is Forbidden.
    /// </summary>
    public TenantId Resolve(string? name)
    {
        if (name is null)
        {
            return _default;
        }

        if (!TenantId.TryCreate(name, out var tenant))
        {
            throw DaakiaException.Invalid(name.Length == 0
                ? "The tenant is empty; name a tenant, or leave it out for the default."
                : $"'{Http.RestRequest.Excerpt(name)}' is not a valid tenant id.");
        }

        if (!_open.Contains(tenant))
        {
            throw new DaakiaException(DaakiaErrorCode.Forbidden, $"Tenant '{tenant}' is not open to unauthenticated clients.");
        }

        return tenant;
    }
}
