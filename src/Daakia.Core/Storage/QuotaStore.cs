namespace Daakia.Core.Storage;

/// <summary>The refusals every store gives when an append would pass an <see cref="InboxQuota"/> (one wording everywhere).</summary>
public static class QuotaStore
{
    public static DaakiaException InboxFull(QueueKey queue, InboxUsage usage, InboxQuota quota) => new(
        DaakiaErrorCode.QuotaExceeded,
        $"{(queue.Kind == QueueKind.Inbox ? "The inbox" : $"The {queue.Kind.ToString().ToLowerInvariant()} queue")} of '{queue.Name}' is full ({usage.Letters} letters, {usage.Bytes} bytes; limits {quota.MaxLetters} letters, {quota.MaxBytes} bytes).");

    public static DaakiaException TenantFull(TenantId tenant, InboxUsage usage, InboxQuota quota) => new(
        DaakiaErrorCode.QuotaExceeded,
        $"Tenant '{tenant}' has used its storage quota ({usage.Bytes} of {quota.MaxTenantBytes} bytes).");

    public static DaakiaException TenantQueuesFull(TenantId tenant, long messages, InboxQuota quota) => new(
        DaakiaErrorCode.QuotaExceeded,
        $"Tenant '{tenant}' has used its queue message quota ({messages} of {quota.MaxTenantQueueMessages} messages in its queues).");

    /// <summary>
    /// Why appending <paramref name="message"/> to <paramref name="queues"/> would pass <paramref name="quota"/>, or null:
    /// the tenant's bytes (its content once, an entry's overhead per queue), the entries of the tenant's named queues
    /// (one per named queue in <paramref name="queues"/>) and each queue's letters and bytes, checked against what the
    /// store holds (<paramref name="tenant"/>, <paramref name="namedQueueEntriesOf"/>, <paramref name="usageOf"/>).
    /// <paramref name="namedQueueEntriesOf"/> (the entries the tenant's named queues hold) is asked only when the append
    /// names a named queue and <see cref="InboxQuota.MaxTenantQueueMessages"/> is a limit.
    /// </summary>
    public static DaakiaException? Refusal(Letter message, IReadOnlyList<QueueKey> queues, InboxQuota quota, InboxUsage tenant, Func<QueueKey, InboxUsage> usageOf, Func<TenantId, long> namedQueueEntriesOf)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(queues);
        ArgumentNullException.ThrowIfNull(quota);
        ArgumentNullException.ThrowIfNull(usageOf);
        ArgumentNullException.ThrowIfNull(namedQueueEntriesOf);
        if (tenant.Bytes + InboxQuota.TenantSize(message, queues.Count) > quota.MaxTenantBytes)
        {
            return TenantFull(message.Tenant, tenant, quota);
        }

        if (quota.MaxTenantQueueMessages != long.MaxValue && InboxQuota.NamedQueueEntries(queues) is > 0 and var named
            && namedQueueEntriesOf(message.Tenant) is var held && held + named > quota.MaxTenantQueueMessages)
        {
            return TenantQueuesFull(message.Tenant, held, quota);
        }

        var size = InboxQuota.StoredSize(message);
        for (var i = 0; i < queues.Count; i++) // not foreach: an interface's enumerator is an allocation per send
        {
            var q = queues[i];
            var usage = usageOf(q);
            if (usage.Letters + 1 > quota.MaxLetters || usage.Bytes + size > quota.MaxBytes)
            {
                return InboxFull(q, usage, quota);
            }
        }

        return null;
    }
}
