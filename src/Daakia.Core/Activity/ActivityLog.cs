using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>
/// The activity log (<see cref="DaakiaEngine.Activity"/>): connects, disconnects, sends, acks, expiries and dead letters
/// of a tenant, in the store's order, kept for <see cref="DaakiaCoreOptions.ActivityRetention"/>.
/// </summary>
public sealed class ActivityLog
{
    private readonly IDaakiaStore _store;
    private readonly DaakiaCoreOptions _options;

    internal ActivityLog(IDaakiaStore store, DaakiaCoreOptions options)
    {
        _store = store;
        _options = options;
    }

    /// <summary>The activity log of a tenant after a given entry id.</summary>
    public ValueTask<IReadOnlyList<ActivityEntry>> ReadAsync(TenantId tenant, long afterId, int limit, CancellationToken cancellationToken = default) =>
        _store.ReadActivityAsync(tenant, afterId, Math.Clamp(limit, 1, _options.MaxPageSize), cancellationToken);
}
