using Daakia.Core;
using Daakia.Core.Storage;
using Xunit;

namespace Daakia.Testing.StoreContract;

/// <summary>A letter's headers count in the quotas' usage with its payload, on every path in and out of a queue.</summary>
public abstract partial class StoreContractTests
{
    /// <summary>Two headers of 2 + 5 and 4 + 6 UTF-8 bytes ("é" is two).</summary>
    private static readonly KeyValuePair<string, string>[] TwoHeaders = [new("k1", "value"), new("clé", "valeur")];

    private const int TwoHeadersBytes = 2 + 5 + 4 + 6;

    private static Letter WithHeaders(Letter l, IReadOnlyList<KeyValuePair<string, string>> headers) => new()
    {
        Id = l.Id,
        Tenant = l.Tenant,
        Author = l.Author,
        Recipients = l.Recipients,
        Payload = l.Payload,
        Timestamp = l.Timestamp,
        ExpiresAt = l.ExpiresAt,
        Headers = headers,
    };

    [Fact]
    public async Task Usage_CountsPayloadAndHeaders_AndReturnsToZero_AfterAckExpiryAndDeadLetter()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var acked = WithHeaders(NewLetter(T1, Alice, [Bob], Kb), TwoHeaders);
        var shared = WithHeaders(NewLetter(T1, Alice, [Bob, Carol], Kb), TwoHeaders);
        var expiring = WithHeaders(NewLetter(T1, Alice, [Bob], "\"gone\"", now.AddSeconds(-1)), TwoHeaders);
        var plain = NewLetter(T1, Alice, [Bob]);
        Assert.Equal(Kb.Length + TwoHeadersBytes, acked.Size);
        await Store.AppendLetterAsync(acked, [Bob]);
        await Store.AppendLetterAsync(shared, [Bob, Carol]);
        await Store.AppendLetterAsync(expiring, [Bob]);
        await Store.AppendLetterAsync(plain, [Bob]);

        long Entry(Letter l) => l.Size + InboxQuota.EntryOverhead;
        Assert.Equal(new InboxUsage(4, Entry(acked) + Entry(shared) + Entry(expiring) + Entry(plain)), await Store.GetInboxUsageAsync(T1, Bob));
        Assert.Equal(new InboxUsage(1, Entry(shared)), await Store.GetInboxUsageAsync(T1, Carol));
        // The tenant counts the shared letter's payload and headers once, its two entries' overhead twice.
        var tenant = acked.Size + shared.Size + expiring.Size + plain.Size + (5L * InboxQuota.EntryOverhead);
        Assert.Equal(new InboxUsage(5, tenant), await Store.GetTenantUsageAsync(T1));
        if (IsDurable)
        {
            await ReopenAsync();
            Assert.Equal(new InboxUsage(5, tenant), await Store.GetTenantUsageAsync(T1));
        }

        // Every way out takes off what came in: ack, expiry, dead-lettering (the usage moves with the entry), and the
        // dead letter's removal.
        Assert.Equal(1, await Store.DeleteLettersAsync(T1, Bob, [acked.Id]));
        Assert.Single(await Store.RemoveExpiredAsync(now, 100));
        Assert.Equal(1, await Store.DeadLetterAsync(BobInbox, BobDead, [shared.Id], now));
        Assert.Equal(new InboxUsage(1, Entry(plain)), await Store.GetInboxUsageAsync(T1, Bob));
        Assert.Equal(new InboxUsage(1, Entry(shared)), await Store.GetUsageAsync(BobDead));
        Assert.Equal(new InboxUsage(3, shared.Size + plain.Size + (3L * InboxQuota.EntryOverhead)), await Store.GetTenantUsageAsync(T1));
        if (IsDurable)
        {
            await ReopenAsync();
        }

        Assert.Equal(1, await Store.DeleteLettersAsync(T1, Carol, [shared.Id]));
        Assert.Equal(new InboxUsage(2, shared.Size + plain.Size + (2L * InboxQuota.EntryOverhead)), await Store.GetTenantUsageAsync(T1));
        Assert.Equal(1, await Store.DeleteAsync(BobDead, [shared.Id]));
        Assert.Equal(1, await Store.DeleteLettersAsync(T1, Bob, [plain.Id]));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetInboxUsageAsync(T1, Bob));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetInboxUsageAsync(T1, Carol));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetUsageAsync(BobDead));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetTenantUsageAsync(T1));
    }

    [Fact]
    public async Task Usage_OfAUnitOfWork_CountsHeaders_AndADeadLetterWrittenInOneReturnsToZero()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var letter = WithHeaders(NewLetter(T1, Alice, [Bob], Kb), TwoHeaders);
        await Store.WriteAsync([new AppendOp(letter, [BobInbox])]);
        var stored = letter.Size + InboxQuota.EntryOverhead;
        Assert.Equal(new InboxUsage(1, stored), await Store.GetUsageAsync(BobInbox));

        // The engine's dead-lettering: the count and the move in one unit.
        await Store.WriteAsync([new ReturnOp(BobInbox, [new ReturnedEntry(letter.Id, 3)]), new MoveOp(BobInbox, BobDead, [letter.Id], ActivityKinds.DeadLettered, now)]);
        Assert.Equal(new InboxUsage(0, 0), await Store.GetUsageAsync(BobInbox));
        Assert.Equal(new InboxUsage(1, stored), await Store.GetUsageAsync(BobDead));
        Assert.Equal(new InboxUsage(1, stored), await Store.GetTenantUsageAsync(T1));
        await Store.WriteAsync([new DeleteOp(BobDead, [letter.Id])]);
        Assert.Equal(new InboxUsage(0, 0), await Store.GetUsageAsync(BobDead));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetTenantUsageAsync(T1));
    }

    [Fact]
    public async Task Quota_ALetterWhosePayloadFitsButNotWithItsHeaders_IsRefused()
    {
        var letter = WithHeaders(NewLetter(T1, Alice, [Bob], Kb), TwoHeaders);
        var inbox = new InboxQuota(long.MaxValue, Kb.Length + InboxQuota.EntryOverhead + TwoHeadersBytes - 1, long.MaxValue);
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => Store.AppendLetterAsync(letter, [Bob], inbox).AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        var tenant = new InboxQuota(long.MaxValue, long.MaxValue, Kb.Length + InboxQuota.EntryOverhead + TwoHeadersBytes - 1);
        ex = await Assert.ThrowsAsync<DaakiaException>(() => Store.AppendLetterAsync(letter, [Bob], tenant).AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        Assert.Equal(new InboxUsage(0, 0), await Store.GetTenantUsageAsync(T1));

        // Exactly at the limit it fits.
        await Store.AppendLetterAsync(letter, [Bob], new InboxQuota(long.MaxValue, letter.Size + InboxQuota.EntryOverhead, letter.Size + InboxQuota.EntryOverhead));
        Assert.Equal(1, await Store.CountInboxAsync(T1, Bob));
    }
}
