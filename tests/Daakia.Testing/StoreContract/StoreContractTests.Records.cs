using Daakia.Core;
using Daakia.Core.Storage;
using Xunit;

namespace Daakia.Testing.StoreContract;

/// <summary>
/// Durable records (named queues, claims, queue subscriptions) written by units of work beside the queue entries they
/// describe; a queue's entries read by message id; a queue purged.
/// </summary>
public abstract partial class StoreContractTests
{
    private static QueueKey Named(TenantId tenant, string name) => new(tenant, QueueKind.Queue, name);

    private static StoredRecord Rec(TenantId tenant, RecordKind kind, string key, string value) =>
        new(tenant, kind, key, System.Text.Encoding.UTF8.GetBytes(value));

    private static List<(string, RecordKind, string, string)> Shape(IEnumerable<StoredRecord> records) =>
        [.. records.Select(r => (r.Tenant.Value, r.Kind, r.Key, System.Text.Encoding.UTF8.GetString(r.Value.Span)))];

    [Fact]
    public async Task Records_ArePut_Replaced_Deleted_AndReadBackInTenantKindKeyOrder_AcrossAReopen()
    {
        await Store.WriteAsync([new PutRecordOp(Rec(T2, RecordKind.NamedQueue, "jobs", "{}"))]);
        await Store.WriteAsync(
        [
            new PutRecordOp(Rec(T1, RecordKind.Claim, "jobs/c1", "claim")),
            new PutRecordOp(Rec(T1, RecordKind.NamedQueue, "jobs", "{\"a\":1}")),
            new PutRecordOp(Rec(T1, RecordKind.NamedQueue, "Jobs", "upper")),
            new PutRecordOp(Rec(T1, RecordKind.NamedQueue, "gone", "x")),
        ]);
        var replaced = await Store.WriteAsync([new PutRecordOp(Rec(T1, RecordKind.NamedQueue, "jobs", "{\"a\":2}"))]);
        var deleted = await Store.WriteAsync([new DeleteRecordOp(T1, RecordKind.NamedQueue, "gone")]);
        var absent = await Store.WriteAsync([new DeleteRecordOp(T1, RecordKind.NamedQueue, "never")]);
        Assert.Equal(1, deleted[0].Count);
        Assert.Equal(0, absent[0].Count);
        Assert.Single(replaced);
        if (IsDurable)
        {
            await ReopenAsync();
        }

        var all = await Store.ReadRecordsAsync(null, 100);
        List<(string, RecordKind, string, string)> expected =
        [
            ("t1", RecordKind.NamedQueue, "Jobs", "upper"), // ordinal: upper case first
            ("t1", RecordKind.NamedQueue, "jobs", "{\"a\":2}"),
            ("t1", RecordKind.Claim, "jobs/c1", "claim"),
            ("t2", RecordKind.NamedQueue, "jobs", "{}"),
        ];
        Assert.Equal(expected, Shape(all));

        // Paged: each page starts after the last record of the one before.
        var pages = new List<StoredRecord>();
        (TenantId, RecordKind, string)? after = null;
        while (true)
        {
            var page = await Store.ReadRecordsAsync(after, 1);
            if (page.Count == 0)
            {
                break;
            }

            pages.AddRange(page);
            after = (page[^1].Tenant, page[^1].Kind, page[^1].Key);
        }

        Assert.Equal(expected, Shape(pages));
    }

    [Fact]
    public async Task ARecordAndTheEntriesItDescribes_ChangeInOneUnit_AllOrNothing()
    {
        // A claim: the record and its messages' visibility in one commit.
        var queue = Named(T1, "jobs");
        var a = NewLetter(T1, Alice, []);
        var b = NewLetter(T1, Alice, []);
        await Store.AppendAsync(a, [queue]);
        await Store.AppendAsync(b, [queue]);
        var until = DateTimeOffset.FromUnixTimeMilliseconds(1_900_000_000_000);
        await Store.WriteAsync(
        [
            new PutRecordOp(Rec(T1, RecordKind.Claim, "jobs/c1", "a")),
            new ReturnOp(queue, [new ReturnedEntry(a.Id, 1, until)]),
        ]);

        // A unit refused by a quota leaves neither its record nor its entries behind.
        var refused = NewLetter(T1, Alice, [], payload: new string('x', 200));
        await Assert.ThrowsAsync<DaakiaException>(async () => await Store.WriteAsync(
        [
            new PutRecordOp(Rec(T1, RecordKind.Claim, "jobs/c2", "b")),
            new ReturnOp(queue, [new ReturnedEntry(b.Id, 1, until)]),
            new AppendOp(refused, [queue], new InboxQuota(MaxLetters: 2, MaxBytes: long.MaxValue, MaxTenantBytes: long.MaxValue)),
        ]));
        if (IsDurable)
        {
            await ReopenAsync();
        }

        Assert.Equal([("t1", RecordKind.Claim, "jobs/c1", "a")], Shape(await Store.ReadRecordsAsync(null, 10)));
        var entries = await Store.ReadAsync(queue, 0, 10);
        Assert.Equal([(a.Id, 1, (DateTimeOffset?)until), (b.Id, 0, null)], entries.Select(e => (e.Id, e.Deliveries, e.VisibleAt)).ToList());
    }

    [Fact]
    public async Task EntriesAreReadByMessageId_InPositionOrder_OnlyFromTheirQueue()
    {
        var queue = Named(T1, "jobs");
        var other = Named(T1, "other");
        var first = NewLetter(T1, Alice, []);
        var second = NewLetter(T1, Alice, []);
        var elsewhere = NewLetter(T1, Alice, []);
        await Store.AppendAsync(first, [queue]);
        await Store.AppendAsync(second, [queue]);
        await Store.AppendAsync(elsewhere, [other]);
        if (IsDurable)
        {
            await ReopenAsync();
        }

        Assert.Equal([second.Id, first.Id], (await Store.ReadLastAsync(queue, 5)).Select(e => e.Id).ToList());
        Assert.Equal([second.Id], (await Store.ReadLastAsync(queue, 1)).Select(e => e.Id).ToList());
        Assert.Empty(await Store.ReadLastAsync(Named(T2, "jobs"), 5));
        var read = await Store.ReadByIdsAsync(queue, [second.Id, elsewhere.Id, Guid.NewGuid(), first.Id, second.Id]);
        Assert.Equal([first.Id, second.Id], read.Select(e => e.Id).ToList());
        Assert.True(read[0].Position < read[1].Position);
        Assert.Equal("\"hi\"", System.Text.Encoding.UTF8.GetString(read[1].Message.Payload.Span));
        Assert.Empty(await Store.ReadByIdsAsync(Named(T2, "jobs"), [first.Id]));
        Assert.Empty(await Store.ReadByIdsAsync(queue, []));
    }

    [Fact]
    public async Task APurge_EmptiesOneQueue_FreesWhatOnlyItHeld_AndPositionsGoOnAfterIt()
    {
        var queue = Named(T1, "jobs");
        var other = Named(T1, "other");
        var shared = NewLetter(T1, Alice, []);
        var own = NewLetter(T1, Alice, []);
        await Store.AppendAsync(shared, [queue, other]);
        var last = (await Store.AppendAsync(own, [queue]))[0];

        var results = await Store.WriteAsync([new PurgeQueueOp(queue), new PurgeQueueOp(Named(T1, "never"))]);
        Assert.Equal([2, 0], results.Select(r => r.Count).ToList());
        if (IsDurable)
        {
            await ReopenAsync();
        }

        Assert.Empty(await Store.ReadAsync(queue, 0, 10));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetUsageAsync(queue));
        Assert.Equal([shared.Id], (await Store.ReadAsync(other, 0, 10)).Select(e => e.Id).ToList());
        Assert.Equal(new InboxUsage(1, shared.Size + InboxQuota.EntryOverhead), await Store.GetTenantUsageAsync(T1));

        var next = await Store.AppendAsync(NewLetter(T1, Alice, []), [queue]);
        Assert.True(next[0] > last, "a purged queue's positions are not reused (markers stay valid)");
    }
}
