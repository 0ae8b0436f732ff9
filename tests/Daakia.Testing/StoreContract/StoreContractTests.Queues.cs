using System.Collections.Concurrent;
using Daakia.Core;
using Daakia.Core.Storage;
using Xunit;

namespace Daakia.Testing.StoreContract;

/// <summary>The durable delivery engine's side of the store: dead-lettering, units of work, per-queue positions under load.</summary>
public abstract partial class StoreContractTests
{
    private static readonly QueueKey BobInbox = QueueKey.Inbox(T1, Bob);
    private static readonly QueueKey BobDead = QueueKey.DeadLetters(T1, Bob);

    [Fact]
    public async Task DeadLetter_MovesToTheEndOfTheTarget_KeepsDeliveries_AndRecordsActivity_InTheSameWrite()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        var expires = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds());
        var shared = NewLetter(T1, Carol, [Bob, Alice], Kb, expires);
        var other = NewLetter(T1, Alice, [Bob]);
        var earlier = NewLetter(T1, Alice, [Bob]);
        await Store.AppendLetterAsync(shared, [Bob, Alice]);
        await Store.AppendLetterAsync(other, [Bob]);
        await Store.AppendAsync(earlier, [BobDead]); // the target already holds one entry, at position 1
        await Store.ReturnAsync(BobInbox, [new ReturnedEntry(shared.Id, 5, at.AddDays(1))]);
        var tenantBefore = await Store.GetTenantUsageAsync(T1);

        // Read straight after the call, without awaiting it: the move and its record are one write.
        var move = Store.DeadLetterAsync(BobInbox, BobDead, [shared.Id, Guid.NewGuid()], at).AsTask();
        var inbox = await Store.ReadAsync(BobInbox, 0, 10);
        var dead = await Store.ReadAsync(BobDead, 0, 10);
        var log = await Store.ReadActivityAsync(T1, 0, 10);
        Assert.Equal(1, await move);

        Assert.Equal([other.Id], inbox.Select(e => e.Id));
        Assert.Equal([earlier.Id, shared.Id], dead.Select(e => e.Id));
        Assert.Equal((2L, 5, (DateTimeOffset?)null), (dead[1].Position, dead[1].Deliveries, dead[1].VisibleAt));
        Assert.Equal(expires, dead[1].Message.ExpiresAt);
        Assert.Equal(Kb, System.Text.Encoding.UTF8.GetString(dead[1].Message.Payload.Span));
        var record = Assert.Single(log);
        Assert.Equal((ActivityKinds.DeadLettered, Carol, "bob", shared.Id.ToString(), at), (record.Kind, record.Actor!.Value, record.Subject, record.Detail, record.At));

        // The bytes stay in the tenant; the queues' own usage moved with the entry.
        Assert.Equal(tenantBefore, await Store.GetTenantUsageAsync(T1));
        Assert.Equal(new InboxUsage(2, 2 * InboxQuota.EntryOverhead + 4 + Kb.Length), await Store.GetUsageAsync(BobDead));
        Assert.Equal(1, await Store.CountAsync(BobInbox));

        // The message keeps both references: acking Alice's copy leaves the dead letter whole, and the last one frees it.
        Assert.Equal(1, await Store.DeleteLettersAsync(T1, Alice, [shared.Id]));
        Assert.Equal(Kb.Length, (await Store.ReadAsync(BobDead, 1, 10)).Single().Message.Payload.Length);
        Assert.Equal(1, await Store.DeleteAsync(BobDead, [shared.Id]));
        Assert.Equal(tenantBefore.Bytes - Kb.Length - (2 * InboxQuota.EntryOverhead), (await Store.GetTenantUsageAsync(T1)).Bytes);
        Assert.Equal(0, await Store.DeadLetterAsync(QueueKey.Inbox(T1, Carol), BobDead, [other.Id], at));
    }

    [Fact]
    public async Task DeadLetter_OfAnExpiredEntry_IsSweptFromTheTarget()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var letter = NewLetter(T1, Alice, [Bob], expires: now.AddSeconds(-1));
        await Store.AppendLetterAsync(letter, [Bob]);
        Assert.Equal(1, await Store.DeadLetterAsync(BobInbox, BobDead, [letter.Id], now));
        var swept = Assert.Single(await Store.RemoveExpiredAsync(now, 100));
        Assert.Equal((BobDead, letter.Id), (swept.Queue, swept.Message.Id));
        Assert.Equal(0, await Store.CountAsync(BobDead));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetTenantUsageAsync(T1));
    }

    [Fact]
    public async Task UnitOfWork_AppendDeleteReturnMoveAndActivity_CommitTogether_WithResultsInOrder()
    {
        var old = NewLetter(T1, Alice, [Bob]);
        var failing = NewLetter(T1, Alice, [Bob]);
        var kept = NewLetter(T1, Alice, [Bob]);
        await Store.AppendLetterAsync(old, [Bob]);
        await Store.AppendLetterAsync(failing, [Bob]);
        await Store.AppendLetterAsync(kept, [Bob]);
        var fresh = NewLetter(T1, Alice, [Bob, Carol]);
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);

        var unit = Store.WriteAsync([
            new AppendOp(fresh, [BobInbox, QueueKey.Inbox(T1, Carol)]),
            new DeleteOp(BobInbox, [old.Id, Guid.NewGuid()]),
            new ReturnOp(BobInbox, [new ReturnedEntry(kept.Id, 2, at)]),
            new MoveOp(BobInbox, BobDead, [failing.Id], ActivityKinds.DeadLettered, at),
            new ActivityOp([new ActivityEntry(0, T1, at, ActivityKinds.Connect, Alice, "unit", "x")]),
        ]).AsTask();
        var inbox = await Store.ReadAsync(BobInbox, 0, 10); // one commit: a read called after it sees all of it
        var results = await unit;

        Assert.Equal(5, results.Count);
        Assert.Equal([4L, 1L], results[0].Positions);
        Assert.Equal([1, 1, 1, 1], results.Skip(1).Select(r => r.Count));
        Assert.Equal([kept.Id, fresh.Id], inbox.Select(e => e.Id));
        Assert.Equal((2, (DateTimeOffset?)at), (inbox[0].Deliveries, inbox[0].VisibleAt));
        Assert.Equal([failing.Id], (await Store.ReadAsync(BobDead, 0, 10)).Select(e => e.Id));
        Assert.Equal([ActivityKinds.DeadLettered, ActivityKinds.Connect], (await Store.ReadActivityAsync(T1, 0, 10)).Select(e => e.Kind));
        Assert.Equal([fresh.Id], (await Store.ReadInboxAsync(T1, Carol, 0, 10)).Select(e => e.Id));
    }

    [Fact]
    public async Task UnitOfWork_WithARefusedQuota_StoresNothingOfIt_AndOtherWritesGoOn()
    {
        var quota = new InboxQuota(2, long.MaxValue, long.MaxValue);
        var first = NewLetter(T1, Alice, [Bob]);
        await Store.AppendLetterAsync(first, [Bob], quota);
        await Store.AppendLetterAsync(NewLetter(T1, Alice, [Carol]), [Carol], quota);
        await Store.AppendLetterAsync(NewLetter(T1, Alice, [Carol]), [Carol], quota); // carol's inbox is full
        var usage = await Store.GetTenantUsageAsync(T1);
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        var dave = ClientId.Parse("dave");
        var beside = NewLetter(T1, Alice, [dave]);

        var unit = Store.WriteAsync([
            new AppendOp(NewLetter(T1, Alice, [Alice]), [QueueKey.Inbox(T1, Alice)], quota),
            new DeleteOp(BobInbox, [first.Id]),
            new AppendOp(NewLetter(T1, Alice, [Bob]), [BobInbox], quota),
            new ReturnOp(BobInbox, [new ReturnedEntry(first.Id, 3)]),
            new ActivityOp([new ActivityEntry(0, T1, at, ActivityKinds.Connect, Alice, "unit", "x")]),
            new AppendOp(NewLetter(T1, Alice, [Carol, dave]), [QueueKey.Inbox(T1, dave), QueueKey.Inbox(T1, Carol)], quota),
        ]).AsTask();
        var besideWrite = Store.AppendLetterAsync(beside, [dave], quota).AsTask();

        var ex = await Assert.ThrowsAsync<DaakiaException>(() => unit);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        Assert.Equal([1L], await besideWrite); // a write beside the unit (maybe in its batch) commits
        var bob = Assert.Single(await Store.ReadAsync(BobInbox, 0, 10));
        Assert.Equal((first.Id, 0), (bob.Id, bob.Deliveries));
        Assert.Empty(await Store.ReadInboxAsync(T1, Alice, 0, 10));
        Assert.Equal([beside.Id], (await Store.ReadInboxAsync(T1, dave, 0, 10)).Select(e => e.Id));
        Assert.Equal(2, await Store.CountInboxAsync(T1, Carol));
        Assert.Empty(await Store.ReadActivityAsync(T1, 0, 10));
        Assert.Equal(new InboxUsage(1, 4 + InboxQuota.EntryOverhead), await Store.GetUsageAsync(BobInbox));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetInboxUsageAsync(T1, Alice));
        Assert.Equal(new InboxUsage(usage.Letters + 1, usage.Bytes + 4 + InboxQuota.EntryOverhead), await Store.GetTenantUsageAsync(T1));

        // Nothing of the refused unit took a position.
        Assert.Equal([2L], await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob]), [Bob], quota));
        Assert.Equal([1L], await Store.AppendLetterAsync(NewLetter(T1, Alice, [Alice]), [Alice], quota));
        Assert.Equal([2L], await Store.AppendLetterAsync(NewLetter(T1, Alice, [dave]), [dave], quota));
    }

    [Fact]
    public async Task ConcurrentAppends_ToTheSameQueues_GiveGapFreeIncreasingPositions_InReadOrder()
    {
        QueueKey[] queues = [BobInbox, QueueKey.Inbox(T1, Carol), new QueueKey(T1, QueueKind.Tasks, "render")];
        var given = new ConcurrentQueue<(QueueKey Queue, long Position, Guid Id)>();

        async Task Appender(int worker)
        {
            for (var i = 0; i < 60; i++)
            {
                QueueKey[] to = ((worker + i) % 4) switch
                {
                    0 => queues,
                    1 => [queues[0]],
                    2 => [queues[2], queues[1]],
                    _ => [queues[i % 3]],
                };
                var letter = NewLetter(T1, Alice, []);
                IReadOnlyList<long> positions = i % 5 == 0
                    ? (await Store.WriteAsync([new AppendOp(letter, to)]))[0].Positions!
                    : await Store.AppendAsync(letter, to);
                Assert.Equal(to.Length, positions.Count);
                for (var k = 0; k < to.Length; k++)
                {
                    given.Enqueue((to[k], positions[k], letter.Id));
                }

                if (i % 8 == 0)
                {
                    await Task.Yield();
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(() => Appender(w))));
        foreach (var q in queues)
        {
            var mine = given.Where(g => g.Queue == q).OrderBy(g => g.Position).ToList();
            Assert.Equal(Enumerable.Range(1, mine.Count).Select(i => (long)i), mine.Select(g => g.Position));
            var read = await Store.ReadAsync(q, 0, 100_000);
            Assert.Equal(mine.Select(g => (g.Position, g.Id)), read.Select(e => (e.Position, e.Id)));
        }
    }
}
