namespace Daakia.Core.Storage;

/// <summary>Letter-shaped shorthands over <see cref="IQueueStore"/>: a client's inbox is the queue
/// <see cref="QueueKey.Inbox"/>.</summary>
public static class InboxStoreExtensions
{
    /// <summary>Appends a letter to the inboxes of <paramref name="recipients"/> (see <see cref="IQueueStore.AppendAsync"/>).</summary>
    public static ValueTask<IReadOnlyList<long>> AppendLetterAsync(this IQueueStore store, Letter letter, IReadOnlyList<ClientId> recipients, InboxQuota? quota = null, CancellationToken cancellationToken = default) =>
        store.AppendAsync(letter, InboxesOf(letter.Tenant, recipients), quota, cancellationToken);

    /// <summary>A page of one inbox.</summary>
    public static ValueTask<IReadOnlyList<QueueEntry>> ReadInboxAsync(this IQueueStore store, TenantId tenant, ClientId recipient, long afterPosition, int limit, long maxBytes = long.MaxValue, CancellationToken cancellationToken = default) =>
        store.ReadAsync(QueueKey.Inbox(tenant, recipient), afterPosition, limit, maxBytes, cancellationToken);

    /// <summary>Letters waiting in one inbox.</summary>
    public static ValueTask<long> CountInboxAsync(this IQueueStore store, TenantId tenant, ClientId recipient, CancellationToken cancellationToken = default) =>
        store.CountAsync(QueueKey.Inbox(tenant, recipient), cancellationToken);

    /// <summary>What one inbox holds.</summary>
    public static ValueTask<InboxUsage> GetInboxUsageAsync(this IQueueStore store, TenantId tenant, ClientId recipient, CancellationToken cancellationToken = default) =>
        store.GetUsageAsync(QueueKey.Inbox(tenant, recipient), cancellationToken);

    /// <summary>Removes acknowledged letters from one inbox.</summary>
    public static ValueTask<int> DeleteLettersAsync(this IQueueStore store, TenantId tenant, ClientId recipient, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default) =>
        store.DeleteAsync(QueueKey.Inbox(tenant, recipient), messageIds, cancellationToken);

    /// <summary>The inbox keys of <paramref name="recipients"/>.</summary>
    public static QueueKey[] InboxesOf(TenantId tenant, IReadOnlyList<ClientId> recipients)
    {
        var keys = new QueueKey[recipients.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = QueueKey.Inbox(tenant, recipients[i]);
        }

        return keys;
    }
}
