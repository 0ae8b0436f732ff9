using Daakia.Core;
using Daakia.Core.Storage;
using Xunit;

namespace Daakia.Testing.StoreContract;

/// <summary>
/// The store's side of the tenant's named-queue quota (<see cref="InboxQuota.MaxTenantQueueMessages"/>): the entries of
/// all named queues of one tenant together, checked atomically with the append, freed by every removal, kept across a
/// reopen.
/// </summary>
public abstract partial class StoreContractTests
{
    private static readonly InboxQuota ThreeQueueMessages = new(long.MaxValue, long.MaxValue, long.MaxValue, 3);

    private static Letter QueueLetter(TenantId tenant, DateTimeOffset? expires = null) => NewLetter(tenant, Alice, [], expires: expires);

    private async Task<DaakiaErrorCode?> TryAppendAsync(Letter letter, IReadOnlyList<QueueKey> queues, InboxQuota quota)
    {
        try
        {
            await Store.AppendAsync(letter, queues, quota);
            return null;
        }
        catch (DaakiaException ex)
        {
            return ex.Code;
        }
    }

    [Fact]
    public async Task TenantQueueMessages_CountAcrossItsNamedQueues_ARefusedAppendStoresNothing_OtherTenantsAndKindsUnaffected()
    {
        var (jobs, mail) = (Named(T1, "jobs"), Named(T1, "mail"));
        await Store.AppendAsync(QueueLetter(T1), [jobs], ThreeQueueMessages);
        await Store.AppendAsync(QueueLetter(T1), [mail], ThreeQueueMessages);

        // One message to two named queues is two entries: past the limit, refused whole.
        var both = QueueLetter(T1);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, await TryAppendAsync(both, [jobs, mail], ThreeQueueMessages));
        Assert.Equal((1L, 1L), (await Store.CountAsync(jobs), await Store.CountAsync(mail)));
        Assert.Empty(await Store.ReadByIdsAsync(jobs, [both.Id]));

        await Store.AppendAsync(QueueLetter(T1), [mail], ThreeQueueMessages);
        var refused = QueueLetter(T1);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, await TryAppendAsync(refused, [Named(T1, "new")], ThreeQueueMessages));
        Assert.Equal(0, await Store.CountAsync(Named(T1, "new")));

        // Other kinds of the same tenant do not count, nor are they refused by it; nor is another tenant.
        await Store.AppendAsync(QueueLetter(T1), [QueueKey.Inbox(T1, Bob), new QueueKey(T1, QueueKind.Notifications, "jobs/s")], ThreeQueueMessages);
        for (var i = 0; i < 3; i++)
        {
            await Store.AppendAsync(QueueLetter(T2), [Named(T2, i % 2 == 0 ? "jobs" : "mail")], ThreeQueueMessages);
        }

        Assert.Equal(DaakiaErrorCode.QuotaExceeded, await TryAppendAsync(QueueLetter(T2), [Named(T2, "jobs")], ThreeQueueMessages));
        Assert.Equal((2L, 1L), (await Store.CountAsync(Named(T2, "jobs")), await Store.CountAsync(Named(T2, "mail"))));
        Assert.Equal((1L, 2L), (await Store.CountAsync(jobs), await Store.CountAsync(mail)));
    }

    [Fact]
    public async Task TenantQueueMessages_AUnitOfWorkPastTheLimit_IsRefusedWhole()
    {
        var jobs = Named(T1, "jobs");
        await Store.AppendAsync(QueueLetter(T1), [jobs], ThreeQueueMessages);

        // A post of three (one append each, one unit): the third passes the limit, so none is stored.
        var post = Enumerable.Range(0, 3).Select(_ => (StoreOp)new AppendOp(QueueLetter(T1), [jobs], ThreeQueueMessages)).ToList();
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => Store.WriteAsync(post).AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        Assert.Equal(1, await Store.CountAsync(jobs));

        // Two fit exactly.
        await Store.WriteAsync([.. post.Take(2)]);
        Assert.Equal(3, await Store.CountAsync(jobs));
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, await TryAppendAsync(QueueLetter(T1), [Named(T1, "other")], ThreeQueueMessages));
    }

    [Fact]
    public async Task TenantQueueMessages_DeletesPurgesAndExpiryFreeRoom_ADeadLetterMoveBetweenNamedQueuesDoesNot()
    {
        var (jobs, dead) = (Named(T1, "jobs"), Named(T1, "jobs-dead"));
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var (a, b, c) = (QueueLetter(T1), QueueLetter(T1, now.AddSeconds(-1)), QueueLetter(T1));
        foreach (var l in new[] { a, b, c })
        {
            await Store.AppendAsync(l, [jobs], ThreeQueueMessages);
        }

        // Moved to another named queue of the tenant: still three.
        Assert.Equal(1, await Store.DeadLetterAsync(jobs, dead, [c.Id], now));
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, await TryAppendAsync(QueueLetter(T1), [jobs], ThreeQueueMessages));

        // A delete frees one.
        Assert.Equal(1, await Store.DeleteAsync(jobs, [a.Id]));
        await Store.AppendAsync(QueueLetter(T1), [jobs], ThreeQueueMessages);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, await TryAppendAsync(QueueLetter(T1), [jobs], ThreeQueueMessages));

        // The expiry sweep frees one.
        Assert.Single(await Store.RemoveExpiredAsync(now, 100));
        await Store.AppendAsync(QueueLetter(T1), [dead], ThreeQueueMessages);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, await TryAppendAsync(QueueLetter(T1), [jobs], ThreeQueueMessages));

        // A purge (as a queue's delete does) frees what the queue held.
        await Store.WriteAsync([new PurgeQueueOp(dead)]);
        Assert.Equal(1, await Store.CountAsync(jobs));
        await Store.AppendAsync(QueueLetter(T1), [jobs, dead], ThreeQueueMessages);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, await TryAppendAsync(QueueLetter(T1), [dead], ThreeQueueMessages));
    }

    [Fact]
    public async Task TenantQueueMessages_AMoveOutOfANamedQueueFreesRoom_AndOneIntoItTakesSome()
    {
        var jobs = Named(T1, "jobs");
        var inbox = QueueKey.Inbox(T1, Bob);
        var (a, b) = (QueueLetter(T1), QueueLetter(T1));
        await Store.AppendAsync(a, [jobs], ThreeQueueMessages);
        await Store.AppendAsync(b, [inbox], ThreeQueueMessages);
        await Store.AppendAsync(QueueLetter(T1), [jobs], ThreeQueueMessages);
        await Store.WriteAsync([new MoveOp(inbox, jobs, [b.Id], ActivityKinds.DeadLettered, DateTimeOffset.UtcNow)]);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, await TryAppendAsync(QueueLetter(T1), [jobs], ThreeQueueMessages));
        await Store.WriteAsync([new MoveOp(jobs, inbox, [a.Id, b.Id], ActivityKinds.DeadLettered, DateTimeOffset.UtcNow)]);
        await Store.AppendAsync(QueueLetter(T1), [jobs, Named(T1, "mail")], ThreeQueueMessages);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, await TryAppendAsync(QueueLetter(T1), [jobs], ThreeQueueMessages));
    }

    [Fact]
    public async Task TenantQueueMessages_SurviveAReopen()
    {
        if (!IsDurable)
        {
            return;
        }

        var (jobs, mail) = (Named(T1, "jobs"), Named(T1, "mail"));
        var first = QueueLetter(T1);
        await Store.AppendAsync(first, [jobs], ThreeQueueMessages);
        await Store.AppendAsync(QueueLetter(T1), [jobs, mail], ThreeQueueMessages);
        await ReopenAsync();
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, await TryAppendAsync(QueueLetter(T1), [mail], ThreeQueueMessages));
        Assert.Equal(1, await Store.DeleteAsync(jobs, [first.Id]));
        await ReopenAsync();
        await Store.AppendAsync(QueueLetter(T1), [mail], ThreeQueueMessages);
        await ReopenAsync();
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, await TryAppendAsync(QueueLetter(T1), [jobs], ThreeQueueMessages));
        Assert.Equal((1L, 2L), (await Store.CountAsync(jobs), await Store.CountAsync(mail)));
    }
}
