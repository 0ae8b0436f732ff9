using System.Text;
using Daakia.Core;
using Daakia.Core.Storage;
using Xunit;

namespace Daakia.Testing.StoreContract;

/// <summary>
/// The contract every <see cref="IDaakiaStore"/> must keep (order, durability, isolation). Each store's test project
/// derives from this class, so the same facts are checked against SQLite, memory and (later) Redis.
/// </summary>
public abstract partial class StoreContractTests : IAsyncLifetime
{
    protected string Directory { get; } = Unique.TempDirectory();

    protected IDaakiaStore Store { get; private set; } = null!;

    /// <summary>Whether the store keeps its data across dispose and reopen on the same directory.</summary>
    protected virtual bool IsDurable => true;

    protected abstract IDaakiaStore CreateStore(string dataDirectory);

    public async Task InitializeAsync()
    {
        Store = CreateStore(Directory);
        await Store.OpenAsync();
    }

    public async Task DisposeAsync()
    {
        await Store.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    protected async Task ReopenAsync()
    {
        await Store.DisposeAsync();
        Store = CreateStore(Directory);
        await Store.OpenAsync();
    }

    protected static readonly TenantId T1 = TenantId.Parse("t1");
    protected static readonly TenantId T2 = TenantId.Parse("t2");
    protected static readonly ClientId Alice = ClientId.Parse("alice");
    protected static readonly ClientId Bob = ClientId.Parse("bob");
    protected static readonly ClientId Carol = ClientId.Parse("carol");

    protected static Letter NewLetter(TenantId tenant, ClientId author, ClientId[] recipients, string payload = "\"hi\"", DateTimeOffset? expires = null) => new()
    {
        Id = Guid.CreateVersion7(),
        Tenant = tenant,
        Author = author,
        Recipients = recipients,
        Payload = Encoding.UTF8.GetBytes(payload),
        Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
        ExpiresAt = expires,
    };

    [Fact]
    public async Task Append_ThenRead_ReturnsLettersInPositionOrderWithEveryField()
    {
        var expires = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds());
        var a = NewLetter(T1, Alice, [Bob], "{\"n\":1}");
        var b = NewLetter(T1, Carol, [Bob, Alice], "[1,2,3]", expires);
        Assert.Equal([1L], await Store.AppendLetterAsync(a, [Bob]));
        Assert.Equal([2L, 1L], await Store.AppendLetterAsync(b, [Bob, Alice]));

        var inbox = await Store.ReadInboxAsync(T1, Bob, 0, 10);
        Assert.Equal([a.Id, b.Id], inbox.Select(l => l.Id));
        Assert.Equal([1L, 2L], inbox.Select(e => e.Position));
        Assert.All(inbox, e => Assert.Equal((0, (DateTimeOffset?)null), (e.Deliveries, e.VisibleAt)));
        var read = inbox[1].Message;
        Assert.Equal(T1, read.Tenant);
        Assert.Equal(Carol, read.Author);
        Assert.Equal([Bob, Alice], read.Recipients);
        Assert.Equal("[1,2,3]", Encoding.UTF8.GetString(read.Payload.Span));
        Assert.Equal(b.Timestamp, read.Timestamp);
        Assert.Equal(expires, read.ExpiresAt);
        Assert.Null(inbox[0].Message.ExpiresAt);
        Assert.Equal(Letter.JsonContentType, read.ContentType);
        Assert.Empty(read.Headers);
        Assert.Null(read.VisibleAt);
    }

    [Fact]
    public async Task Multicast_PutsTheSameLetterInEveryInbox()
    {
        var letter = NewLetter(T1, Alice, [Bob, Carol]);
        await Store.AppendLetterAsync(letter, [Bob, Carol]);
        Assert.Equal(letter.Id, (await Store.ReadInboxAsync(T1, Bob, 0, 10)).Single().Id);
        Assert.Equal(letter.Id, (await Store.ReadInboxAsync(T1, Carol, 0, 10)).Single().Id);
        Assert.Empty(await Store.ReadInboxAsync(T1, Alice, 0, 10));
    }

    [Fact]
    public async Task ReadInbox_AfterPositionAndLimit_Pages()
    {
        var letters = Enumerable.Range(0, 7).Select(_ => NewLetter(T1, Alice, [Bob])).ToList();
        foreach (var l in letters)
        {
            await Store.AppendLetterAsync(l, [Bob]);
        }

        var first = await Store.ReadInboxAsync(T1, Bob, 0, 3);
        var second = await Store.ReadInboxAsync(T1, Bob, first[^1].Position, 3);
        var third = await Store.ReadInboxAsync(T1, Bob, second[^1].Position, 3);
        Assert.Equal(letters.Select(l => l.Id), first.Concat(second).Concat(third).Select(l => l.Id));
        Assert.Single(third);
        Assert.Equal(7, await Store.CountInboxAsync(T1, Bob));
    }

    [Fact]
    public async Task Delete_RemovesOnlyNamedLettersOfThatInbox_AndCountsThem()
    {
        var letter = NewLetter(T1, Alice, [Bob, Carol]);
        var other = NewLetter(T1, Alice, [Bob]);
        await Store.AppendLetterAsync(letter, [Bob, Carol]);
        await Store.AppendLetterAsync(other, [Bob]);

        Assert.Equal(1, await Store.DeleteLettersAsync(T1, Bob, [letter.Id, Guid.NewGuid()]));
        Assert.Equal(0, await Store.DeleteLettersAsync(T1, Bob, [letter.Id]));
        Assert.Equal([other.Id], (await Store.ReadInboxAsync(T1, Bob, 0, 10)).Select(l => l.Id));
        Assert.Equal([letter.Id], (await Store.ReadInboxAsync(T1, Carol, 0, 10)).Select(l => l.Id));
    }

    [Fact]
    public async Task Tenants_AreIsolated()
    {
        var t1 = NewLetter(T1, Alice, [Bob], "\"one\"");
        var t2 = NewLetter(T2, Alice, [Bob], "\"two\"");
        await Store.AppendLetterAsync(t1, [Bob]);
        await Store.AppendLetterAsync(t2, [Bob]);
        await Store.RecordSeenAsync(T1, Bob, DateTimeOffset.UtcNow);

        Assert.Equal([t1.Id], (await Store.ReadInboxAsync(T1, Bob, 0, 10)).Select(l => l.Id));
        Assert.Equal([t2.Id], (await Store.ReadInboxAsync(T2, Bob, 0, 10)).Select(l => l.Id));
        Assert.Equal(0, await Store.DeleteLettersAsync(T2, Bob, [t1.Id]));
        Assert.Null(await Store.GetClientAsync(T2, Bob));
        Assert.Empty(await Store.ListClientsAsync(T2, null, 10));
    }

    [Fact]
    public async Task RemoveExpired_ReturnsAndRemovesOnlyExpiredEntries()
    {
        var now = DateTimeOffset.UtcNow;
        var expired = NewLetter(T1, Alice, [Bob, Carol], expires: now.AddSeconds(-1));
        var fresh = NewLetter(T1, Alice, [Bob], expires: now.AddHours(1));
        var forever = NewLetter(T1, Alice, [Bob]);
        await Store.AppendLetterAsync(expired, [Bob, Carol]);
        await Store.AppendLetterAsync(fresh, [Bob]);
        await Store.AppendLetterAsync(forever, [Bob]);

        var removed = await Store.RemoveExpiredAsync(now, 100);
        Assert.Equal(2, removed.Count);
        Assert.All(removed, e => Assert.Equal(expired.Id, e.Message.Id));
        Assert.Equal([QueueKey.Inbox(T1, Bob), QueueKey.Inbox(T1, Carol)], removed.Select(e => e.Queue).OrderBy(q => q.Name, StringComparer.Ordinal));
        Assert.Equal([fresh.Id, forever.Id], (await Store.ReadInboxAsync(T1, Bob, 0, 10)).Select(l => l.Id));
        Assert.Empty(await Store.RemoveExpiredAsync(now, 100));
    }

    [Fact]
    public async Task RemoveExpired_RecordsEachRemovedEntryInTheActivityLogOnce_InTheSameWrite()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var multicast = NewLetter(T1, Alice, [Bob, Carol], expires: now.AddSeconds(-1));
        var other = NewLetter(T2, Carol, [Bob], expires: now);
        var fresh = NewLetter(T1, Alice, [Bob], expires: now.AddHours(1));
        await Store.AppendLetterAsync(multicast, [Bob, Carol]);
        await Store.AppendLetterAsync(other, [Bob]);
        await Store.AppendLetterAsync(fresh, [Bob]);

        // Read straight after the call, without awaiting it: the records are part of the same write.
        var removal = Store.RemoveExpiredAsync(now, 100).AsTask();
        var t1 = await Store.ReadActivityAsync(T1, 0, 100);
        var t2 = await Store.ReadActivityAsync(T2, 0, 100);
        Assert.Equal(3, (await removal).Count);

        Assert.Equal(2, t1.Count);
        Assert.All(t1, e =>
        {
            Assert.Equal(ActivityKinds.Expired, e.Kind);
            Assert.Equal(Alice, e.Actor);
            Assert.Equal(multicast.Id.ToString(), e.Detail);
            Assert.Equal(now, e.At);
            Assert.Equal(T1, e.Tenant);
        });
        Assert.Equal(["bob", "carol"], t1.Select(e => e.Subject).Order(StringComparer.Ordinal));
        var t2Entry = Assert.Single(t2);
        Assert.Equal((ActivityKinds.Expired, Carol, "bob", other.Id.ToString()), (t2Entry.Kind, t2Entry.Actor!.Value, t2Entry.Subject, t2Entry.Detail));

        Assert.Empty(await Store.RemoveExpiredAsync(now.AddMinutes(1), 100));
        if (IsDurable)
        {
            await ReopenAsync();
        }

        Assert.Equal(2, (await Store.ReadActivityAsync(T1, 0, 100)).Count);
        Assert.Single(await Store.ReadActivityAsync(T2, 0, 100));
    }

    [Fact]
    public async Task RemoveExpired_RespectsTheLimit()
    {
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < 5; i++)
        {
            await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob], expires: now.AddSeconds(-1)), [Bob]);
        }

        Assert.Equal(3, (await Store.RemoveExpiredAsync(now, 3)).Count);
        Assert.Equal(2, (await Store.RemoveExpiredAsync(now, 3)).Count);
    }

    [Fact]
    public async Task Roster_FirstSeenIsFixed_LastSeenNeverGoesBack_ListPagesByClientId()
    {
        var t0 = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        await Store.RecordSeenAsync(T1, Bob, t0);
        await Store.RecordSeenAsync(T1, Bob, t0.AddMinutes(5));
        await Store.RecordSeenAsync(T1, Bob, t0.AddMinutes(1));
        await Store.RecordSeenAsync(T1, Alice, t0);
        await Store.RecordSeenAsync(T1, Carol, t0);

        var bob = await Store.GetClientAsync(T1, Bob);
        Assert.Equal(t0, bob!.FirstSeen);
        Assert.Equal(t0.AddMinutes(5), bob.LastSeen);
        Assert.Null(await Store.GetClientAsync(T1, ClientId.Parse("nobody")));

        var page1 = await Store.ListClientsAsync(T1, null, 2);
        var page2 = await Store.ListClientsAsync(T1, page1[^1].Client, 2);
        Assert.Equal(["alice", "bob", "carol"], page1.Concat(page2).Select(e => e.Client.Value));
    }

    [Fact]
    public async Task Activity_AppendsWithIncreasingIdsPerTenant()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        await Store.AppendActivityAsync([
            new ActivityEntry(0, T1, at, ActivityKinds.Connect, Alice, "1", "ws"),
            new ActivityEntry(0, T2, at, ActivityKinds.Connect, Bob, "2", null),
            new ActivityEntry(0, T1, at, ActivityKinds.Expired, null, "bob", "x"),
        ]);

        var t1 = await Store.ReadActivityAsync(T1, 0, 10);
        Assert.Equal([ActivityKinds.Connect, ActivityKinds.Expired], t1.Select(e => e.Kind));
        Assert.True(t1[1].Id > t1[0].Id);
        Assert.Equal(Alice, t1[0].Actor);
        Assert.Null(t1[1].Actor);
        Assert.Equal(at, t1[0].At);
        Assert.Equal([t1[1].Id], (await Store.ReadActivityAsync(T1, t1[0].Id, 10)).Select(e => e.Id));
        Assert.Single(await Store.ReadActivityAsync(T2, 0, 10));
    }

    [Fact]
    public async Task Positions_ArePerQueue_OneToN_AndNeverReusedAfterDeletesOrReopen()
    {
        var bobs = new List<long>();
        for (var i = 0; i < 4; i++)
        {
            bobs.AddRange(await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob]), [Bob]));
        }

        Assert.Equal([1L, 2L, 3L, 4L], bobs);
        // Another queue (another inbox, another kind, another tenant) counts on its own.
        Assert.Equal([5L, 1L], await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob, Carol]), [Bob, Carol]));
        var named = new QueueKey(T1, QueueKind.Queue, "bob");
        Assert.Equal([1L], await Store.AppendAsync(NewLetter(T1, Alice, []), [named]));
        Assert.Equal([1L], await Store.AppendLetterAsync(NewLetter(T2, Alice, [Bob]), [Bob]));

        // Delete every entry of bob's inbox, the last one included: the next still comes after them.
        var all = await Store.ReadInboxAsync(T1, Bob, 0, 100);
        Assert.Equal(5, await Store.DeleteLettersAsync(T1, Bob, [.. all.Select(e => e.Id)]));
        Assert.Equal([6L], await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob]), [Bob]));
        if (IsDurable)
        {
            await Store.DeleteLettersAsync(T1, Bob, [.. (await Store.ReadInboxAsync(T1, Bob, 0, 100)).Select(e => e.Id)]);
            await ReopenAsync();
            Assert.Equal([7L], await Store.AppendLetterAsync(NewLetter(T1, Alice, [Bob]), [Bob]));
        }

        Assert.Equal([2L], await Store.AppendAsync(NewLetter(T1, Alice, []), [named]));
    }

    [Fact]
    public async Task ContentTypeHeadersAndVisibleAt_RoundTrip_ThroughEveryQueueKind()
    {
        var visible = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds());
        var binary = new byte[] { 0, 1, 2, 0xFF, 0xFE, (byte)'\n' };
        var letter = new Letter
        {
            Id = Guid.CreateVersion7(),
            Tenant = T1,
            Author = Alice,
            Recipients = [],
            Payload = binary,
            ContentType = "application/octet-stream",
            Headers = [new("trace", "abc"), new("", ""), new("ключ", "значение ✓"), new("trace", "second")],
            VisibleAt = visible,
            Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
        };
        QueueKey[] queues = [.. Enum.GetValues<QueueKind>().Select(k => new QueueKey(T1, k, "q"))];
        Assert.All(await Store.AppendAsync(letter, queues), p => Assert.Equal(1L, p));
        if (IsDurable)
        {
            await ReopenAsync();
        }

        foreach (var q in queues)
        {
            var e = Assert.Single(await Store.ReadAsync(q, 0, 10));
            Assert.Equal((1L, 0, (DateTimeOffset?)visible), (e.Position, e.Deliveries, e.VisibleAt));
            Assert.Equal(binary, e.Message.Payload.ToArray());
            Assert.Equal("application/octet-stream", e.Message.ContentType);
            Assert.Equal(letter.Headers, e.Message.Headers);
            Assert.Equal(visible, e.Message.VisibleAt);
            Assert.Empty(e.Message.Recipients);
            Assert.Equal(1, await Store.CountAsync(q));
        }

        Assert.Equal(queues.Length, (await Store.GetTenantUsageAsync(T1)).Letters);
    }

    [Fact]
    public async Task Return_RaisesDeliveriesButNeverLowersThem_AndSetsVisibility()
    {
        var a = NewLetter(T1, Alice, [Bob]);
        var b = NewLetter(T1, Alice, [Bob]);
        await Store.AppendLetterAsync(a, [Bob]);
        await Store.AppendLetterAsync(b, [Bob]);
        var inbox = QueueKey.Inbox(T1, Bob);
        var later = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds());

        Assert.Equal(1, await Store.ReturnAsync(inbox, [new ReturnedEntry(a.Id, 3, later), new ReturnedEntry(Guid.NewGuid(), 9)]));
        var read = await Store.ReadAsync(inbox, 0, 10);
        Assert.Equal((3, (DateTimeOffset?)later), (read[0].Deliveries, read[0].VisibleAt));
        Assert.Equal((0, (DateTimeOffset?)null), (read[1].Deliveries, read[1].VisibleAt));

        // A lower count (a stale return) keeps the higher one; the visibility is the new one.
        Assert.Equal(2, await Store.ReturnAsync(inbox, [new ReturnedEntry(a.Id, 1), new ReturnedEntry(b.Id, 1, later)]));
        read = await Store.ReadAsync(inbox, 0, 10);
        Assert.Equal((3, (DateTimeOffset?)null), (read[0].Deliveries, read[0].VisibleAt));
        Assert.Equal((1, (DateTimeOffset?)later), (read[1].Deliveries, read[1].VisibleAt));
        Assert.Equal([1L, 2L], read.Select(e => e.Position)); // a return does not move an entry
        Assert.Equal(0, await Store.ReturnAsync(QueueKey.Inbox(T1, Carol), [new ReturnedEntry(a.Id, 5)]));
        if (IsDurable)
        {
            await ReopenAsync();
            Assert.Equal([3, 1], (await Store.ReadAsync(inbox, 0, 10)).Select(e => e.Deliveries));
        }
    }

    [Fact]
    public async Task Order_AReadSeesEveryWriteCalledBeforeIt_WithoutAwaitingThem()
    {
        var writes = new List<Task>();
        var letters = Enumerable.Range(0, 200).Select(_ => NewLetter(T1, Alice, [Bob])).ToList();
        foreach (var l in letters)
        {
            writes.Add(Store.AppendLetterAsync(l, [Bob]).AsTask());
        }

        var deleted = Store.DeleteLettersAsync(T1, Bob, [letters[0].Id]).AsTask();
        var read = await Store.ReadInboxAsync(T1, Bob, 0, 1000);
        Assert.Equal(letters.Skip(1).Select(l => l.Id), read.Select(l => l.Id));
        foreach (var w in writes)
        {
            await w;
        }

        Assert.Equal(1, await deleted);
    }

    [Fact]
    public async Task ConcurrentAppends_FromManyTasks_EachLandExactlyOnce()
    {
        var letters = Enumerable.Range(0, 400).Select(i => NewLetter(T1, Alice, [i % 2 == 0 ? Bob : Carol])).ToList();
        await Task.WhenAll(letters.Select(l => Task.Run(async () => await Store.AppendLetterAsync(l, l.Recipients))));
        var bob = await Store.ReadInboxAsync(T1, Bob, 0, 1000);
        var carol = await Store.ReadInboxAsync(T1, Carol, 0, 1000);
        Assert.Equal(400, bob.Count + carol.Count);
        Assert.Equal(400, bob.Concat(carol).Select(l => l.Id).Distinct().Count());
        Assert.Equal(bob.Select(l => l.Position).Order(), bob.Select(l => l.Position));
    }

    [Fact]
    public async Task Reopen_KeepsInboxesRosterAndActivity()
    {
        if (!IsDurable)
        {
            return;
        }

        var letter = NewLetter(T1, Alice, [Bob]);
        await Store.AppendLetterAsync(letter, [Bob]);
        await Store.RecordSeenAsync(T1, Bob, DateTimeOffset.UtcNow);
        await Store.AppendActivityAsync([new ActivityEntry(0, T1, DateTimeOffset.UtcNow, ActivityKinds.Connect, Bob, null, null)]);
        await ReopenAsync();

        Assert.Equal(letter.Id, (await Store.ReadInboxAsync(T1, Bob, 0, 10)).Single().Id);
        Assert.NotNull(await Store.GetClientAsync(T1, Bob));
        Assert.Single(await Store.ReadActivityAsync(T1, 0, 10));
    }
}
