using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>
/// Quotas before live delivery: a send is checked against the tenant's usage bounds (<see cref="UsageLedger"/>) under
/// the tenant lock, before it is offered to anyone. The store's own check, on its writer, stays the authority.
/// </summary>
public sealed partial class LetterOffice
{
    /// <summary>Inbox usage records the core holds for a tenant (tests check the bound).</summary>
    internal int UsageRecords(TenantId tenant)
    {
        var t = _engine.Tenant(tenant);
        lock (t.Gate)
        {
            return t.Usage.Count;
        }
    }

    /// <summary>Starts reading an inbox's usage (and the tenant's, if not known) from the store; caller holds the lock.</summary>
    internal void SeedUsage(TenantState t, UsageRecord inbox, ClientId client)
    {
        if (!inbox.Seeded)
        {
            var key = QueueKey.Inbox(t.Id, client);
            UsageLedger.Seed(inbox, () => _store.GetUsageAsync(key, CancellationToken.None), t.Gate);
        }

        if (!t.Usage.Tenant.Seeded)
        {
            SeedTenantUsage(t);
        }
    }

    private void SeedTenantUsage(TenantState t)
    {
        var id = t.Id;
        UsageLedger.Seed(t.Usage.Tenant, () => _store.GetTenantUsageAsync(id, CancellationToken.None), t.Gate);
    }

    /// <summary>
    /// Raises the usage bounds by a letter about to be appended (caller holds the lock and appends next), and says
    /// whether it certainly fits every quota, so it may be offered live. Only asked when a recipient is online
    /// (<paramref name="check"/>): otherwise nobody can see it before the store decides.
    /// </summary>
    /// <remarks>A bound that cannot say yes is read again from the store (it may have drifted up), for the next send.</remarks>
    private bool ReserveUsage(TenantState t, Letter letter, IReadOnlyList<ClientId> recipients, ClientState? single, ClientState?[]? states, bool check)
    {
        var usage = t.Usage;
        var size = InboxQuota.StoredSize(letter);
        var tenantBytes = InboxQuota.TenantSize(letter, recipients.Count);
        var certain = true;
        if (check && !usage.Tenant.Fits(0, tenantBytes, long.MaxValue, _quota.MaxTenantBytes))
        {
            certain = false;
            SeedTenantUsage(t);
        }

        usage.Tenant.Add(recipients.Count, tenantBytes);
        for (var i = 0; i < recipients.Count; i++)
        {
            var cs = states is null ? single : states[i];
            var r = cs?.Usage ?? (check ? usage.GetOrAdd(recipients[i]) : usage.Find(recipients[i]));
            if (r is null)
            {
                continue;
            }

            if (check && !r.Fits(1, size, _quota.MaxLetters, _quota.MaxBytes))
            {
                certain = false;
                if (!r.Seeding)
                {
                    var key = QueueKey.Inbox(t.Id, recipients[i]);
                    UsageLedger.Seed(r, () => _store.GetUsageAsync(key, CancellationToken.None), t.Gate);
                }
            }

            r.Add(1, size);
        }

        if (!certain)
        {
            _metrics.LetterHeldForQuota();
        }

        return certain;
    }

    /// <summary>
    /// What an ack takes off the usage bounds, applied when the delete is called (the store applies it before any later
    /// append) and put back if it fails: for each letter the window held, its stored size (payload and headers plus the
    /// entry's overhead); the tenant's content only for a letter with one recipient (a multicast's content stays while
    /// another inbox holds it).
    /// </summary>
    private readonly record struct UsageRelease(UsageRecord? Inbox, int InboxGeneration, int TenantGeneration, int Letters, long Bytes, long TenantBytes)
    {
        public int Count => Letters;
    }

    private static UsageRelease ReleaseUsage(TenantState t, ClientState? cs, List<WindowEntry>? acked)
    {
        if (acked is null || acked.Count == 0)
        {
            return default;
        }

        long bytes = 0, tenantBytes = 0;
        foreach (var e in acked)
        {
            bytes += InboxQuota.StoredSize(e.Message);
            tenantBytes += InboxQuota.EntryOverhead + (e.Message.Recipients.Count == 1 ? e.Message.Size : 0);
        }

        var inbox = cs?.Usage;
        var release = new UsageRelease(inbox, inbox?.Generation ?? 0, t.Usage.Tenant.Generation, acked.Count, bytes, tenantBytes);
        inbox?.Remove(release.InboxGeneration, release.Letters, release.Bytes);
        t.Usage.Tenant.Remove(release.TenantGeneration, release.Letters, release.TenantBytes);
        return release;
    }

    /// <summary>The ack's delete failed: what it took off the bounds goes back (unless a newer seed replaced them).</summary>
    private static void UndoRelease(TenantState t, UsageRelease release)
    {
        if (release.Count == 0)
        {
            return;
        }

        lock (t.Gate)
        {
            release.Inbox?.Restore(release.InboxGeneration, release.Letters, release.Bytes);
            t.Usage.Tenant.Restore(release.TenantGeneration, release.Letters, release.TenantBytes);
        }
    }

    /// <summary>
    /// An ack removed more letters than the window knew (acks by id of letters not in memory): each takes at least one
    /// letter and <see cref="InboxQuota.EntryOverhead"/> bytes off, against the bounds as they were when it was called.
    /// </summary>
    private static void ReleaseUnknown(TenantState t, UsageRecord? inbox, int inboxGeneration, int tenantGeneration, int letters)
    {
        if (letters <= 0)
        {
            return;
        }

        lock (t.Gate)
        {
            inbox?.Remove(inboxGeneration, letters, (long)letters * InboxQuota.EntryOverhead);
            t.Usage.Tenant.Remove(tenantGeneration, letters, (long)letters * InboxQuota.EntryOverhead);
        }
    }
}
