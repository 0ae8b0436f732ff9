using System.Text;
using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Testing;

namespace Daakia.Storage.Journal.Tests;

/// <summary>What only the journal has: its file after a crash, compaction, one process per directory, a failing disk.</summary>
public sealed class JournalStoreTests : IAsyncLifetime
{
    private static readonly TenantId T = TenantId.Parse("t1");
    private static readonly ClientId Alice = ClientId.Parse("alice");
    private static readonly ClientId Bob = ClientId.Parse("bob");
    private readonly string _dir = Unique.TempDirectory();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }

    private async Task<JournalStore> OpenAsync(long compactBytes = JournalStoreOptions.MaxCompactBytes, JournalDurability durability = JournalDurability.Os)
    {
        var store = new JournalStore(new JournalStoreOptions { DataDirectory = _dir, CompactBytes = compactBytes, Durability = durability });
        await store.OpenAsync();
        return store;
    }

    private static Letter NewLetter(string payload, DateTimeOffset? expires = null) => new()
    {
        Id = Guid.CreateVersion7(),
        Tenant = T,
        Author = Alice,
        Recipients = [Bob],
        Payload = Encoding.UTF8.GetBytes(payload),
        Timestamp = DateTimeOffset.UtcNow,
        ExpiresAt = expires,
    };

    /// <summary>
    /// Writes that leave nothing alive (an 8 KiB letter to a scratch inbox, deleted at once) until the writer has
    /// compacted once more than it had (it compacts once the file is past its bound and twice the last snapshot);
    /// fails after 30 s.
    /// </summary>
    private static async Task WriteUntilCompactedAsync(JournalStore store, ClientId client)
    {
        var had = store.Compactions;
        var scratch = ClientId.Parse("scratch-" + client.Value);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (store.Compactions == had)
        {
            Assert.True(DateTime.UtcNow < deadline, "the journal compacts once past its bound and twice its last snapshot");
            var letter = NewLetter(new string('s', 8192));
            await store.AppendLetterAsync(letter, [scratch]);
            await store.DeleteAsync(QueueKey.Inbox(T, scratch), [letter.Id]);
        }
    }

    private static string Text(QueueEntry e) => Encoding.UTF8.GetString(e.Message.Payload.Span);

    [Fact]
    public async Task ATornTail_IsCutOff_AndEverythingBeforeItStays()
    {
        var store = await OpenAsync();
        foreach (var n in new[] { "1", "2", "3" })
        {
            await store.AppendLetterAsync(NewLetter(n), [Bob]);
        }

        await store.DisposeAsync();
        var whole = new FileInfo(store.JournalPath).Length;
        await using (var file = new FileStream(store.JournalPath, FileMode.Append))
        {
            // A record header promising 64 bytes, and 5 of them: a write the crash cut short.
            file.Write([64, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9, 9]);
        }

        store = await OpenAsync();
        Assert.Equal(["1", "2", "3"], (await store.ReadInboxAsync(T, Bob, 0, 10)).Select(Text));
        Assert.Equal(whole, new FileInfo(store.JournalPath).Length);
        await store.AppendLetterAsync(NewLetter("4"), [Bob]);
        await store.DisposeAsync();

        store = await OpenAsync();
        Assert.Equal(["1", "2", "3", "4"], (await store.ReadInboxAsync(T, Bob, 0, 10)).Select(Text));
        await store.DisposeAsync();
    }

    [Fact]
    public async Task ARecordWhoseChecksumFails_EndsTheReplay_ThereAndNotBefore()
    {
        var store = await OpenAsync();
        await store.AppendLetterAsync(NewLetter("kept"), [Bob]);
        await store.DisposeAsync();
        var kept = new FileInfo(store.JournalPath).Length;
        store = await OpenAsync();
        await store.AppendLetterAsync(NewLetter("damaged"), [Bob]);
        await store.DisposeAsync();

        var bytes = await File.ReadAllBytesAsync(store.JournalPath);
        bytes[^1] ^= 0xFF; // the last payload byte
        await File.WriteAllBytesAsync(store.JournalPath, bytes);

        store = await OpenAsync();
        Assert.Equal(["kept"], (await store.ReadInboxAsync(T, Bob, 0, 10)).Select(Text));
        Assert.Equal(kept, new FileInfo(store.JournalPath).Length);
        await store.DisposeAsync();
    }

    [Fact]
    public async Task Compaction_KeepsTheTenantsNamedQueueCount_MovedAndExpiryChangedEntriesIncluded()
    {
        var quota = new InboxQuota(long.MaxValue, long.MaxValue, long.MaxValue, 4);
        var (jobs, dead) = (new QueueKey(T, QueueKind.Queue, "jobs"), new QueueKey(T, QueueKind.Queue, "jobs-dead"));
        var store = await OpenAsync(compactBytes: JournalStoreOptions.MinCompactBytes);
        var letters = Enumerable.Range(0, 4).Select(n => NewLetter(n.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList();
        foreach (var l in letters)
        {
            await store.AppendAsync(l, [jobs], quota);
        }

        await store.DeadLetterAsync(jobs, dead, [letters[1].Id], DateTimeOffset.UtcNow);
        await store.WriteAsync([new ExpiryOp(jobs, [new EntryExpiry(letters[2].Id, DateTimeOffset.UtcNow.AddHours(1))])]);
        await store.DeleteAsync(jobs, [letters[0].Id]);
        await WriteUntilCompactedAsync(store, Bob);
        await store.DisposeAsync();

        // Replayed from the snapshot: three entries in the tenant's named queues, room for one more.
        store = await OpenAsync();
        await store.AppendAsync(NewLetter("4"), [dead], quota);
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => store.AppendAsync(NewLetter("5"), [jobs], quota).AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        await store.DisposeAsync();
    }

    [Fact]
    public async Task Compaction_ShrinksTheFile_AndKeepsEveryLiveThing_PositionsIdsAndSessionState()
    {
        var store = await OpenAsync(compactBytes: JournalStoreOptions.MinCompactBytes);
        var payload = new string('x', 1000);
        var ids = new List<Guid>();
        for (var i = 0; i < 3000; i++)
        {
            var letter = NewLetter(i + ":" + payload);
            ids.Add(letter.Id);
            await store.AppendLetterAsync(letter, [Bob]);
        }

        await store.DeleteAsync(QueueKey.Inbox(T, Bob), ids.Take(2990).ToList());
        var inbox = QueueKey.Inbox(T, Bob);
        var later = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds());
        await store.ReturnAsync(inbox, [new ReturnedEntry(ids[2995], 3, later)]);
        await store.RecordSeenAsync(T, Alice, DateTimeOffset.UtcNow);
        await store.AppendActivityAsync([new ActivityEntry(0, T, DateTimeOffset.UtcNow, ActivityKinds.Connect, Alice, null, null)]);
        var retained = new RetainedMessage(T, "a/b", Alice, "r"u8.ToArray(), "text/plain", QualityOfService.AtLeastOnce, DateTimeOffset.UtcNow);
        await store.WriteAsync([
            new RetainOp(retained),
            new SaveSessionOp(new SessionRecord(T, Alice, 60, [new SubscriptionRequest("a/#", new SubscriptionOptions { MaxQos = QualityOfService.ExactlyOnce })])),
            new SessionReleaseOp(T, Alice, 7),
            new PutRecordOp(new StoredRecord(T, RecordKind.NamedQueue, "jobs", "{\"m\":1}"u8.ToArray())),
            new PutRecordOp(new StoredRecord(T, RecordKind.Claim, "jobs/c", "claim"u8.ToArray())),
            new PutRecordOp(new StoredRecord(T, RecordKind.Claim, "jobs/gone", "x"u8.ToArray())),
            new DeleteRecordOp(T, RecordKind.Claim, "jobs/gone"),
        ]);

        // Compaction runs on the writer once the file is past the bound and mostly dead: a few more writes get there.
        await store.RecordSeenAsync(T, Bob, DateTimeOffset.UtcNow);
        await WriteUntilCompactedAsync(store, Bob);
        Assert.True(new FileInfo(store.JournalPath).Length < 100_000, $"the journal holds the live data only ({new FileInfo(store.JournalPath).Length} bytes)");
        await store.DisposeAsync();

        store = await OpenAsync();
        var entries = await store.ReadAsync(inbox, 0, 100);
        Assert.Equal(Enumerable.Range(2991, 10).Select(p => (long)p), entries.Select(e => e.Position));
        Assert.Equal(2990 + ":" + payload, Text(entries[0]));
        var returned = entries.Single(e => e.Id == ids[2995]);
        Assert.Equal((3, (DateTimeOffset?)later), (returned.Deliveries, returned.VisibleAt));
        Assert.Equal([3001L], await store.AppendLetterAsync(NewLetter("next"), [Bob])); // positions are never reused
        Assert.NotNull(await store.GetClientAsync(T, Alice));
        Assert.NotNull(await store.GetClientAsync(T, Bob));
        Assert.Single(await store.ReadActivityAsync(T, 0, 10));
        await store.AppendActivityAsync([new ActivityEntry(0, T, DateTimeOffset.UtcNow, ActivityKinds.Disconnect, Alice, null, null)]);
        Assert.Equal([1L, 2L], (await store.ReadActivityAsync(T, 0, 10)).Select(a => a.Id));
        Assert.Equal("a/b", Assert.Single(await store.ReadRetainedAsync(null, 10)).Topic);
        var session = Assert.Single(await store.ReadSessionsAsync(null, 10));
        Assert.Equal([(ushort)7], session.AwaitingComplete);
        Assert.Equal("a/#", Assert.Single(session.Subscriptions).Filter);
        var records = await store.ReadRecordsAsync(null, 10);
        Assert.Equal([(RecordKind.NamedQueue, "jobs", "{\"m\":1}"), (RecordKind.Claim, "jobs/c", "claim")],
            records.Select(r => (r.Kind, r.Key, Encoding.UTF8.GetString(r.Value.Span))).ToList());
        var all = await store.ReadAsync(inbox, 0, 100);
        Assert.Equal(new InboxUsage(11, all.Sum(e => InboxQuota.StoredSize(e.Message))), await store.GetUsageAsync(inbox));
        await store.DisposeAsync();
    }

    [Fact]
    public async Task Compaction_KeepsEachEntrysOwnExpiry_MovedOnesToo_AndTheSweepFollowsItAfterTheReopen()
    {
        var store = await OpenAsync(compactBytes: JournalStoreOptions.MinCompactBytes);
        var soon = DateTimeOffset.UtcNow.AddHours(1);
        var jobs = new QueueKey(T, QueueKind.Queue, "jobs");
        var other = new QueueKey(T, QueueKind.Queue, "other");
        var dead = new QueueKey(T, QueueKind.Queue, "jobs-dead");
        var shared = NewLetter("shared", soon);
        var moved = NewLetter("moved", soon);
        await store.AppendAsync(shared, [jobs, other]);
        await store.AppendAsync(moved, [jobs]);
        await store.WriteAsync([new ExpiryOp(jobs, [new EntryExpiry(shared.Id, soon.AddHours(2)), new EntryExpiry(moved.Id, soon.AddHours(3))])]);
        await store.WriteAsync([new MoveOp(jobs, dead, [moved.Id], ActivityKinds.DeadLettered, DateTimeOffset.UtcNow)]);

        await WriteUntilCompactedAsync(store, Bob);
        await store.DisposeAsync();

        store = await OpenAsync();
        Assert.Equal(soon.AddHours(2), (await store.ReadAsync(jobs, 0, 10)).Single().Message.ExpiresAt);
        Assert.Equal(soon, (await store.ReadAsync(other, 0, 10)).Single().Message.ExpiresAt);
        Assert.Equal(soon.AddHours(3), (await store.ReadAsync(dead, 0, 10)).Single().Message.ExpiresAt);
        Assert.Equal([other], (await store.RemoveExpiredAsync(soon.AddHours(1), 100)).Select(e => e.Queue).ToList());
        Assert.Equal([jobs], (await store.RemoveExpiredAsync(soon.AddHours(2), 100)).Select(e => e.Queue).ToList());
        Assert.Equal([(dead, "moved")], (await store.RemoveExpiredAsync(soon.AddHours(3), 100)).Select(e => (e.Queue, moved.Id == e.Message.Id ? "moved" : "?")).ToList());
        await store.DisposeAsync();
    }

    [Fact]
    public async Task WritesDuringCompaction_AllSurvive_InOrder()
    {
        var store = await OpenAsync(compactBytes: JournalStoreOptions.MinCompactBytes);
        var payload = new string('y', 2000);
        var acked = new List<int>[2] { [], [] };
        var queues = new[] { QueueKey.Inbox(T, Alice), QueueKey.Inbox(T, Bob) };
        async Task Produce(int w)
        {
            // Each producer keeps its last 20 and deletes the rest, so most of the file dies and compaction runs.
            var live = new Queue<Guid>();
            for (var i = 0; store.Compactions < 3 || i < 2000; i++)
            {
                var letter = NewLetter($"{i}:{payload}");
                await store.AppendAsync(letter, [queues[w]]);
                acked[w].Add(i);
                live.Enqueue(letter.Id);
                if (live.Count > 20)
                {
                    await store.DeleteAsync(queues[w], [live.Dequeue()]);
                    acked[w].RemoveAt(0);
                }
            }
        }

        await Task.WhenAll(Task.Run(() => Produce(0)), Task.Run(() => Produce(1)));
        Assert.True(store.Compactions >= 3);
        await store.DisposeAsync();

        store = await OpenAsync();
        for (var w = 0; w < 2; w++)
        {
            var entries = await store.ReadAsync(queues[w], 0, 100);
            Assert.Equal(acked[w], entries.Select(e => int.Parse(Text(e).Split(':')[0], System.Globalization.CultureInfo.InvariantCulture)));
        }

        await store.DisposeAsync();
    }

    [Fact]
    public async Task ASecondStore_OnTheSameDirectory_CannotOpen()
    {
        var store = await OpenAsync();
        var second = new JournalStore(new JournalStoreOptions { DataDirectory = _dir });
        await Assert.ThrowsAsync<IOException>(async () => await second.OpenAsync());
        await second.DisposeAsync();
        await store.DisposeAsync();
    }

    [Fact]
    public async Task AFailingDisk_FaultsTheBatchAndEveryLaterCall_AndWhatWasAcknowledgedStays()
    {
        var store = await OpenAsync(durability: JournalDurability.Fsync);
        await store.AppendLetterAsync(NewLetter("acknowledged"), [Bob]);
        store.FailWrites = () => new IOException("No space left on device");
        var failed = await Assert.ThrowsAsync<DaakiaException>(async () => await store.AppendLetterAsync(NewLetter("lost"), [Bob]));
        Assert.Equal(DaakiaErrorCode.Unavailable, failed.Code);
        Assert.False(store.IsHealthy);
        Assert.Contains("No space left", store.Fault, StringComparison.Ordinal);
        var later = await Assert.ThrowsAsync<DaakiaException>(async () => await store.CountAsync(QueueKey.Inbox(T, Bob)));
        Assert.Equal(DaakiaErrorCode.Unavailable, later.Code);
        await store.DisposeAsync();

        store = await OpenAsync();
        Assert.Equal(["acknowledged"], (await store.ReadInboxAsync(T, Bob, 0, 10)).Select(Text));
        await store.DisposeAsync();
    }

    [Fact]
    public async Task ARefusedUnit_UndoesWhatItsEarlierOpsDid()
    {
        var store = await OpenAsync();
        var first = NewLetter("first");
        await store.AppendLetterAsync(first, [Bob]);
        var big = NewLetter(new string('z', 500));
        var quota = new InboxQuota(10, 300, long.MaxValue);
        await Assert.ThrowsAsync<DaakiaException>(async () => await store.WriteAsync([
            new DeleteOp(QueueKey.Inbox(T, Bob), [first.Id]),
            new ActivityOp([new ActivityEntry(0, T, DateTimeOffset.UtcNow, "x", Alice, null, null)]),
            new AppendOp(big, [QueueKey.Inbox(T, Bob)], quota),
        ]));
        Assert.Equal(["first"], (await store.ReadInboxAsync(T, Bob, 0, 10)).Select(Text));
        Assert.Empty(await store.ReadActivityAsync(T, 0, 10));
        await store.DisposeAsync();

        store = await OpenAsync();
        Assert.Equal(["first"], (await store.ReadInboxAsync(T, Bob, 0, 10)).Select(Text));
        Assert.Empty(await store.ReadActivityAsync(T, 0, 10));
        Assert.Equal([2L], await store.AppendLetterAsync(NewLetter("second"), [Bob]));
        await store.DisposeAsync();
    }

    [Fact]
    public async Task ACallMadeWhileTheWriterTakesABatchToCompact_IsInTheNewJournalOnce()
    {
        var store = await OpenAsync(compactBytes: JournalStoreOptions.MinCompactBytes);
        var payload = new string('x', 1000);
        var ids = new List<Guid>();
        for (var i = 0; i < 1500; i++)
        {
            var letter = NewLetter(payload);
            ids.Add(letter.Id);
            await store.AppendLetterAsync(letter, [Bob]);
        }

        // On the writer, after it took each batch: one activity entry written at that moment (not awaited there).
        var written = new System.Collections.Concurrent.ConcurrentQueue<Task>();
        store.BeforeBatchForTest = _ =>
        {
            if (written.Count < 50)
            {
                written.Enqueue(store.AppendActivityAsync([new ActivityEntry(0, T, DateTimeOffset.UtcNow, "gap", Alice, null, null)]).AsTask());
            }
        };
        await store.DeleteAsync(QueueKey.Inbox(T, Bob), ids); // most of the file dead: compaction comes
        await WriteUntilCompactedAsync(store, Alice);
        store.BeforeBatchForTest = null;
        await Task.WhenAll(written);
        Assert.NotEmpty(written);
        var before = await store.ReadActivityAsync(T, 0, 1000);
        await store.DisposeAsync();

        store = await OpenAsync();
        var after = await store.ReadActivityAsync(T, 0, 1000);
        Assert.Equal(written.Count, after.Count);
        Assert.Equal(before.Select(a => a.Id), after.Select(a => a.Id));
        Assert.Equal(after.Count, after.Select(a => a.Id).Distinct().Count());
        await store.DisposeAsync();
    }

    [Fact]
    public async Task ACallThatChangesNothing_StillWaitsForTheWritesBeforeIt()
    {
        var store = await OpenAsync();
        using var writer = new ManualResetEventSlim(initialState: false);
        store.BeforeBatchForTest = _ => writer.Wait(TimeSpan.FromSeconds(30));
        var append = store.AppendLetterAsync(NewLetter("first"), [Bob]).AsTask();
        var nothing = store.DeleteAsync(QueueKey.Inbox(T, Bob), [Guid.NewGuid()]).AsTask();
        // The writer is held: the append is not durable, so neither may the no-op after it be answered.
        Assert.False(nothing.IsCompleted, "a no-op answered before the append before it was durable");
        writer.Set();
        await append;
        Assert.Equal(0, await nothing);
        store.BeforeBatchForTest = null;
        await store.DisposeAsync();
    }

    [Fact]
    public async Task ACallThatFailsPartWay_StopsTheStore_AndTheJournalHoldsEverythingAcknowledgedBeforeIt()
    {
        var store = await OpenAsync();
        await store.AppendLetterAsync(NewLetter("acknowledged"), [Bob]);
        var broken = new Letter
        {
            Id = Guid.CreateVersion7(),
            Tenant = T,
            Author = default, // no id: the record cannot be written whole
            Recipients = [Bob],
            Payload = "x"u8.ToArray(),
            Timestamp = DateTimeOffset.UtcNow,
        };
        await Assert.ThrowsAnyAsync<Exception>(async () => await store.AppendLetterAsync(broken, [Bob]));
        Assert.False(store.IsHealthy);
        var later = await Assert.ThrowsAsync<DaakiaException>(async () => await store.AppendLetterAsync(NewLetter("refused"), [Bob]));
        Assert.Equal(DaakiaErrorCode.Unavailable, later.Code);
        await store.DisposeAsync();

        store = await OpenAsync();
        Assert.Equal(["acknowledged"], (await store.ReadInboxAsync(T, Bob, 0, 10)).Select(Text));
        await store.AppendLetterAsync(NewLetter("after"), [Bob]);
        await store.DisposeAsync();
        store = await OpenAsync();
        Assert.Equal(["acknowledged", "after"], (await store.ReadInboxAsync(T, Bob, 0, 10)).Select(Text));
        await store.DisposeAsync();
    }
}
