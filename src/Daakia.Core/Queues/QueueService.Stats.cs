namespace Daakia.Core;

public sealed partial class QueueService
{
    /// <summary>
    /// A queue's counts and its oldest and newest messages: claimed is what live claims hold, free the rest (delayed
    /// messages count as free, as Zaqar counts them).
    /// </summary>
    public async Task<QueueStats> StatsAsync(TenantId tenant, string name)
    {
        var key = Key(tenant, name);
        var total = await _store.CountAsync(key);
        if (total == 0)
        {
            return new QueueStats(0, 0, 0, null, null);
        }

        var oldest = await _store.ReadAsync(key, 0, 1);
        var newest = await _store.ReadLastAsync(key, 1);
        var t = Of(tenant);
        var now = _time.GetUtcNow();
        lock (t.Gate)
        {
            t.NamedQueues.TryGetValue(name, out var q);
            long claimed = 0;
            if (q is not null)
            {
                foreach (var c in q.Claims.Values)
                {
                    if (c.IsLive(now))
                    {
                        foreach (var m in c.Messages)
                        {
                            claimed += q.ClaimOf.TryGetValue(m, out var id) && id == c.Id ? 1 : 0;
                        }
                    }
                }
            }

            claimed = Math.Min(claimed, total);
            return new QueueStats(total - claimed, claimed, total,
                oldest.Count > 0 ? MessageOf(oldest[0], q?.LiveClaimOf(oldest[0].Id, now)) : null,
                newest.Count > 0 ? MessageOf(newest[0], q?.LiveClaimOf(newest[0].Id, now)) : null);
        }
    }
}
