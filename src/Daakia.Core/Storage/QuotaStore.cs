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
}
