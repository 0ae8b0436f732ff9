using Daakia.Core;
using Daakia.Core.Storage;
using Xunit;

namespace Daakia.Testing.StoreContract;

/// <summary>
/// An entry's expiry moved by <see cref="ExpiryOp"/> (a claim keeping a message alive, a dead-letter queue's TTL): per
/// entry, later or earlier, seen by reads, the sweep and the usage, kept across a reopen, all or nothing in its unit.
/// </summary>
public abstract partial class StoreContractTests
{
    /// <summary>Whole milliseconds (what every store keeps), an hour from now.</summary>
    private static readonly DateTimeOffset Soon = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds());

    private static Dictionary<Guid, DateTimeOffset?> Expiries(IEnumerable<QueueEntry> entries) =>
        entries.ToDictionary(e => e.Id, e => e.Message.ExpiresAt);

    [Fact]
    public async Task AnExpiryOp_MovesTheNamedEntriesLaterOrEarlier_AndReadsTheSweepAndTheUsageFollow_AcrossAReopen()
    {
        var queue = Named(T1, "jobs");
        var later = NewLetter(T1, Alice, [], expires: Soon);
        var earlier = NewLetter(T1, Alice, [], expires: Soon);
        var kept = NewLetter(T1, Alice, [], expires: Soon);
        foreach (var l in new[] { later, earlier, kept })
        {
            await Store.AppendAsync(l, [queue]);
        }

        var results = await Store.WriteAsync(
        [
            new ExpiryOp(queue, [new EntryExpiry(later.Id, Soon.AddHours(2)), new EntryExpiry(earlier.Id, Soon.AddMinutes(-50)), new EntryExpiry(Guid.NewGuid(), Soon)]),
            new ExpiryOp(Named(T1, "never"), [new EntryExpiry(kept.Id, Soon.AddHours(5))]),
        ]);
        Assert.Equal([2, 0], results.Select(r => r.Count).ToList()); // entries found: an unknown id, a queue never written, count 0
        if (IsDurable)
        {
            await ReopenAsync();
        }

        var expected = new Dictionary<Guid, DateTimeOffset?> { [later.Id] = Soon.AddHours(2), [earlier.Id] = Soon.AddMinutes(-50), [kept.Id] = Soon };
        Assert.Equal(expected, Expiries(await Store.ReadAsync(queue, 0, 10)));
        Assert.Equal(expected, Expiries(await Store.ReadByIdsAsync(queue, [later.Id, earlier.Id, kept.Id])));
        Assert.Equal(Soon.AddHours(2), (await Store.ReadLastAsync(queue, 3)).Single(e => e.Id == later.Id).Message.ExpiresAt);

        // The sweep removes each entry at its own time: the shortened one before the message's TTL, the lengthened one after.
        var first = await Store.RemoveExpiredAsync(Soon.AddMinutes(-30), 100);
        Assert.Equal([(queue, earlier.Id, (DateTimeOffset?)Soon.AddMinutes(-50))], first.Select(e => (e.Queue, e.Message.Id, e.Message.ExpiresAt)).ToList());
        Assert.Equal([kept.Id], (await Store.RemoveExpiredAsync(Soon.AddHours(1), 100)).Select(e => e.Message.Id).ToList());
        Assert.Equal(new InboxUsage(1, InboxQuota.StoredSize(later)), await Store.GetUsageAsync(queue));
        Assert.Empty(await Store.RemoveExpiredAsync(Soon.AddHours(2).AddMilliseconds(-1), 100));
        Assert.Equal([later.Id], (await Store.RemoveExpiredAsync(Soon.AddHours(2), 100)).Select(e => e.Message.Id).ToList());
        Assert.Equal(new InboxUsage(0, 0), await Store.GetTenantUsageAsync(T1));
        var expired = (await Store.ReadActivityAsync(T1, 0, 10)).Where(a => a.Kind == ActivityKinds.Expired).Select(a => a.Detail).ToList();
        Assert.Equal([earlier.Id.ToString(), kept.Id.ToString(), later.Id.ToString()], expired);
    }

    [Fact]
    public async Task AnExpiryOp_ThatExtendsOnly_KeepsEntriesThatLiveLongerOrNeverExpire_AndCountsThemFound()
    {
        var queue = Named(T1, "jobs");
        var shorter = NewLetter(T1, Alice, [], expires: Soon);
        var longer = NewLetter(T1, Alice, [], expires: Soon.AddHours(3));
        var forever = NewLetter(T1, Alice, []);
        foreach (var l in new[] { shorter, longer, forever })
        {
            await Store.AppendAsync(l, [queue]);
        }

        var until = Soon.AddHours(2);
        var result = await Store.WriteAsync([new ExpiryOp(queue, [new EntryExpiry(shorter.Id, until), new EntryExpiry(longer.Id, until), new EntryExpiry(forever.Id, until)], ExtendOnly: true)]);
        Assert.Equal(3, result[0].Count);
        if (IsDurable)
        {
            await ReopenAsync();
        }

        Assert.Equal(
            new Dictionary<Guid, DateTimeOffset?> { [shorter.Id] = until, [longer.Id] = Soon.AddHours(3), [forever.Id] = null },
            Expiries(await Store.ReadAsync(queue, 0, 10)));
    }

    [Fact]
    public async Task AnExpiryOp_MovesOnlyThatQueuesEntry_NotTheSameMessageInAnotherQueue_NorAnythingOfAnotherTenant()
    {
        var queue = Named(T1, "jobs");
        var other = Named(T1, "other");
        var shared = NewLetter(T1, Alice, [], expires: Soon);
        var theirs = NewLetter(T2, Alice, [], expires: Soon);
        await Store.AppendAsync(shared, [queue, other]);
        await Store.AppendAsync(theirs, [Named(T2, "jobs")]);

        var results = await Store.WriteAsync(
        [
            new ExpiryOp(queue, [new EntryExpiry(shared.Id, Soon.AddMinutes(-30)), new EntryExpiry(theirs.Id, Soon.AddMinutes(-30))]),
            new ExpiryOp(Named(T2, "jobs"), [new EntryExpiry(shared.Id, Soon.AddMinutes(-30))]),
        ]);
        Assert.Equal([1, 0], results.Select(r => r.Count).ToList());
        if (IsDurable)
        {
            await ReopenAsync();
        }

        Assert.Equal(Soon.AddMinutes(-30), (await Store.ReadAsync(queue, 0, 10)).Single().Message.ExpiresAt);
        Assert.Equal(Soon, (await Store.ReadAsync(other, 0, 10)).Single().Message.ExpiresAt);
        Assert.Equal(Soon, (await Store.ReadAsync(Named(T2, "jobs"), 0, 10)).Single().Message.ExpiresAt);

        // Only that queue's entry expires early; the message stays for the other queue, its content still counted once.
        var swept = await Store.RemoveExpiredAsync(Soon.AddMinutes(-10), 100);
        Assert.Equal([(queue, shared.Id)], swept.Select(e => (e.Queue, e.Message.Id)).ToList());
        Assert.Equal([shared.Id], (await Store.ReadAsync(other, 0, 10)).Select(e => e.Id).ToList());
        Assert.Equal("\"hi\"", System.Text.Encoding.UTF8.GetString((await Store.ReadAsync(other, 0, 10))[0].Message.Payload.Span));
        Assert.Equal(new InboxUsage(1, shared.Size + InboxQuota.EntryOverhead), await Store.GetTenantUsageAsync(T1));
        Assert.Equal(new InboxUsage(1, theirs.Size + InboxQuota.EntryOverhead), await Store.GetTenantUsageAsync(T2));
    }

    [Fact]
    public async Task AnExpiryOp_IsAllOrNothing_WithTheOtherOpsOfItsUnit()
    {
        var queue = Named(T1, "jobs");
        var a = NewLetter(T1, Alice, [], expires: Soon);
        await Store.AppendAsync(a, [queue]);
        var until = DateTimeOffset.FromUnixTimeMilliseconds(1_900_000_000_000);

        // A claim: its record, the entries' visibility and their expiry in one commit; refused whole by a later append.
        var refused = NewLetter(T1, Alice, [], payload: new string('x', 200));
        await Assert.ThrowsAsync<DaakiaException>(async () => await Store.WriteAsync(
        [
            new PutRecordOp(Rec(T1, RecordKind.Claim, "jobs/c1", "a")),
            new ReturnOp(queue, [new ReturnedEntry(a.Id, 1, until)]),
            new ExpiryOp(queue, [new EntryExpiry(a.Id, Soon.AddHours(5))]),
            new AppendOp(refused, [queue], new InboxQuota(MaxLetters: 1, MaxBytes: long.MaxValue, MaxTenantBytes: long.MaxValue)),
        ]));
        if (IsDurable)
        {
            await ReopenAsync();
        }

        var entry = (await Store.ReadAsync(queue, 0, 10)).Single();
        Assert.Equal((0, (DateTimeOffset?)null, (DateTimeOffset?)Soon), (entry.Deliveries, entry.VisibleAt, entry.Message.ExpiresAt));
        Assert.Empty(await Store.ReadRecordsAsync(null, 10));
        Assert.Empty(await Store.RemoveExpiredAsync(Soon.AddMinutes(-1), 100));

        await Store.WriteAsync(
        [
            new PutRecordOp(Rec(T1, RecordKind.Claim, "jobs/c1", "a")),
            new ReturnOp(queue, [new ReturnedEntry(a.Id, 1, until)]),
            new ExpiryOp(queue, [new EntryExpiry(a.Id, Soon.AddHours(5))]),
        ]);
        if (IsDurable)
        {
            await ReopenAsync();
        }

        entry = (await Store.ReadAsync(queue, 0, 10)).Single();
        Assert.Equal((1, (DateTimeOffset?)until, (DateTimeOffset?)Soon.AddHours(5)), (entry.Deliveries, entry.VisibleAt, entry.Message.ExpiresAt));
        Assert.Single(await Store.ReadRecordsAsync(null, 10));
    }

    [Fact]
    public async Task ADeadLetterMove_KeepsTheEntrysOwnExpiry_AndAnExpiryOpAfterItInTheSameUnit_SetsTheMovedOnes()
    {
        var queue = Named(T1, "jobs");
        var dead = Named(T1, "jobs-dead");
        var kept = NewLetter(T1, Alice, [], expires: Soon);
        var moved = NewLetter(T1, Alice, [], expires: Soon);
        await Store.AppendAsync(kept, [queue]);
        await Store.AppendAsync(moved, [queue]);
        var at = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await Store.WriteAsync([new ExpiryOp(queue, [new EntryExpiry(kept.Id, Soon.AddHours(1))])]);

        var results = await Store.WriteAsync(
        [
            new MoveOp(queue, dead, [kept.Id, moved.Id], ActivityKinds.DeadLettered, at),
        ]);
        Assert.Equal(2, results[0].Count);
        results = await Store.WriteAsync([new ExpiryOp(dead, [new EntryExpiry(moved.Id, Soon.AddHours(-1))])]);
        Assert.Equal(1, results[0].Count);
        if (IsDurable)
        {
            await ReopenAsync();
        }

        Assert.Equal(
            new Dictionary<Guid, DateTimeOffset?> { [kept.Id] = Soon.AddHours(1), [moved.Id] = Soon.AddHours(-1) },
            Expiries(await Store.ReadAsync(dead, 0, 10)));
        Assert.Empty(await Store.ReadAsync(queue, 0, 10));

        // In one unit, as a claim dead-letters: the move, then the dead-letter queue's TTL on what moved.
        var third = NewLetter(T1, Alice, [], expires: Soon);
        await Store.AppendAsync(third, [queue]);
        results = await Store.WriteAsync(
        [
            new MoveOp(queue, dead, [third.Id], ActivityKinds.DeadLettered, at),
            new ExpiryOp(dead, [new EntryExpiry(third.Id, Soon.AddHours(3))]),
        ]);
        Assert.Equal([1, 1], results.Select(r => r.Count).ToList());
        if (IsDurable)
        {
            await ReopenAsync();
        }

        Assert.Equal(Soon.AddHours(3), (await Store.ReadByIdsAsync(dead, [third.Id])).Single().Message.ExpiresAt);
    }
}
