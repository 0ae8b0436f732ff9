using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>
/// Message lifetimes moved by claims and dead-lettering (Zaqar's semantics, docs/zaqar-wire.md §6.1 and §6.4): a claimed
/// message that would expire before its claim and grace have passed lives until then, and a message moved to the
/// dead-letter queue gets that queue's TTL (<c>_dead_letter_queue_messages_ttl</c>). Both are store writes
/// (<see cref="ExpiryOp"/>) in the claim's own unit of work, so memory holds nothing of them that a failed write could
/// leave behind: every read takes the expiry from the store.
/// </summary>
public sealed partial class QueueService
{
    /// <summary>What the stores round a time to (SQLite keeps milliseconds): an expiry read back is this close to the
    /// one written.</summary>
    private static readonly TimeSpan StoredPrecision = TimeSpan.FromMilliseconds(1);

    /// <summary>The message as its new claim leaves it: held by the claim, and alive at least until the claim and its
    /// grace have passed (the claim's <see cref="ExpiryOp"/> says the same to the store).</summary>
    private static QueueMessage Claimed(QueueMessage m, QueueClaim claim)
    {
        var keep = claim.ExpiresAt + claim.Grace;
        m = m with { ClaimId = claim.Id };
        return m.ExpiresAt < keep ? m with { ExpiresAt = keep, Ttl = claim.Ttl + claim.Grace } : m;
    }

    /// <summary>The op that keeps a renewed claim's messages alive until it and its grace have passed (extend only).</summary>
    private static ExpiryOp KeepAlive(QueueKey queue, QueueClaim claim)
    {
        var keep = claim.ExpiresAt + claim.Grace;
        var entries = new EntryExpiry[claim.Messages.Count];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = new EntryExpiry(claim.Messages[i], keep);
        }

        return new ExpiryOp(queue, entries, ExtendOnly: true);
    }

    /// <summary>The op that gives messages moved to a dead-letter queue that queue's TTL (set, longer or shorter than
    /// what they had), in the unit of the move.</summary>
    private static ExpiryOp DeadLetterExpiry(QueueKey deadLetters, List<Guid> moved, DateTimeOffset expiresAt)
    {
        var entries = new EntryExpiry[moved.Count];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = new EntryExpiry(moved[i], expiresAt);
        }

        return new ExpiryOp(deadLetters, entries);
    }

    /// <summary>
    /// A message's TTL as Zaqar shows it (<see cref="QueueMessage.Ttl"/>): under the live claim that extended it (its
    /// expiry is that claim's end plus grace), the claim's TTL plus grace; otherwise from its post to its expiry.
    /// </summary>
    private static TimeSpan? TtlOf(Letter m, QueueClaim? claim)
    {
        if (m.ExpiresAt is not { } expires)
        {
            return null;
        }

        return claim is not null && (expires - (claim.ExpiresAt + claim.Grace)).Duration() <= StoredPrecision
            ? claim.Ttl + claim.Grace
            : expires - m.Timestamp;
    }
}
