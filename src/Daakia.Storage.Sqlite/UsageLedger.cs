using Daakia.Core.Storage;

namespace Daakia.Storage.Sqlite;

/// <summary>
/// What each inbox and each tenant holds (letters, bytes), kept by the writer thread for the quota checks. The
/// <c>usage</c> table is the durable copy, updated in the same transaction as the letters (one upsert per inbox touched
/// per batch, not per letter); this ledger caches committed rows and overlays the current batch's changes, which are
/// dropped if the batch does not commit.
/// </summary>
/// <remarks>Row key: (tenant, recipient), with recipient <c>''</c> for the tenant's total.</remarks>
internal sealed class UsageLedger(RawStatement select, RawStatement upsert, int maxCached)
{
    private readonly Dictionary<(string Tenant, string Recipient), InboxUsage> _committed = [];
    private readonly Dictionary<(string Tenant, string Recipient), InboxUsage> _batch = [];

    /// <summary>Current usage, including this batch's changes so far.</summary>
    public InboxUsage Get(string tenant, string recipient)
    {
        var key = (tenant, recipient);
        if (_batch.TryGetValue(key, out var u) || _committed.TryGetValue(key, out u))
        {
            return u;
        }

        select.Bind(1, tenant);
        select.Bind(2, recipient);
        try
        {
            u = select.Step() ? new InboxUsage(select.Int64(0), select.Int64(1)) : default;
        }
        finally
        {
            select.Reset();
        }

        _committed[key] = u;
        return u;
    }

    /// <summary>Records a change of this batch (applied to the inbox and to its tenant's total).</summary>
    public void Add(string tenant, string recipient, long letters, long bytes)
    {
        Change(tenant, recipient, letters, bytes);
        Change(tenant, "", letters, bytes);
    }

    private void Change(string tenant, string recipient, long letters, long bytes)
    {
        var u = Get(tenant, recipient);
        _batch[(tenant, recipient)] = new InboxUsage(u.Letters + letters, u.Bytes + bytes);
    }

    /// <summary>Writes this batch's rows (inside its transaction, before the commit).</summary>
    public void Flush()
    {
        foreach (var ((tenant, recipient), u) in _batch)
        {
            upsert.Bind(1, tenant);
            upsert.Bind(2, recipient);
            upsert.Bind(3, u.Letters);
            upsert.Bind(4, u.Bytes);
            upsert.Execute();
        }
    }

    /// <summary>The batch committed: its rows become the cached committed state (the cache stays bounded).</summary>
    public void Committed()
    {
        if (_committed.Count + _batch.Count > maxCached)
        {
            _committed.Clear();
        }

        foreach (var (key, u) in _batch)
        {
            _committed[key] = u;
        }

        _batch.Clear();
    }

    /// <summary>The batch did not commit: its changes never happened.</summary>
    public void RolledBack() => _batch.Clear();
}
