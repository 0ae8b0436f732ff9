using System.Text;
using Daakia.Core;
using Daakia.Core.Storage;

namespace Daakia.Storage.Sqlite.Tests;

public sealed class SqliteStoreTests : SqliteStoreTestBase
{
    private static Letter NewLetter(Guid? id = null) => new()
    {
        Id = id ?? Guid.CreateVersion7(),
        Tenant = TenantId.Default,
        Author = ClientId.Parse("alice"),
        Recipients = [ClientId.Parse("bob")],
        Payload = Encoding.UTF8.GetBytes("\"x\""),
        Timestamp = DateTimeOffset.UtcNow,
    };

    [Fact]
    public async Task GroupCommit_ManyConcurrentAppends_ShareFarFewerCommits()
    {
        var before = Store.Batches;
        var writes = Enumerable.Range(0, 2000).Select(_ =>
        {
            var l = NewLetter();
            return Store.AppendLetterAsync(l, l.Recipients).AsTask();
        }).ToList();
        await Task.WhenAll(writes);
        var commits = Store.Batches - before;
        Assert.InRange(commits, 1, 200);
        Assert.Equal(2000, await Store.CountInboxAsync(TenantId.Default, ClientId.Parse("bob")));
    }

    [Fact]
    public async Task FailedWrite_FaultsOnlyItsOwnWaiter_AndTheStoreKeepsWorking()
    {
        var first = NewLetter();
        await Store.AppendLetterAsync(first, first.Recipients);
        var duplicate = NewLetter(first.Id); // the same id twice in one inbox: violates the unique index
        var good = NewLetter();
        var bad = Store.AppendLetterAsync(duplicate, duplicate.Recipients).AsTask();
        var fine = Store.AppendLetterAsync(good, good.Recipients).AsTask();
        await Assert.ThrowsAnyAsync<Exception>(() => bad);
        await fine;
        var inbox = await Store.ReadInboxAsync(TenantId.Default, ClientId.Parse("bob"), 0, 10);
        Assert.Equal([first.Id, good.Id], inbox.Select(l => l.Id));
    }

    [Fact]
    public async Task Multicast_FailingForOneRecipient_StoresItForNone()
    {
        var bob = ClientId.Parse("bob");
        var carol = ClientId.Parse("carol");
        var taken = NewLetter();
        await Store.AppendLetterAsync(taken, [carol]);
        var multicast = new Letter
        {
            Id = taken.Id, // collides in carol's inbox only
            Tenant = TenantId.Default,
            Author = ClientId.Parse("alice"),
            Recipients = [bob, carol],
            Payload = Encoding.UTF8.GetBytes("1"),
            Timestamp = DateTimeOffset.UtcNow,
        };
        await Assert.ThrowsAnyAsync<Exception>(() => Store.AppendLetterAsync(multicast, [bob, carol]).AsTask());
        Assert.Equal(0, await Store.CountInboxAsync(TenantId.Default, bob));
        // Nor did it take a position in either inbox.
        Assert.Equal([1L], await Store.AppendLetterAsync(NewLetter(), [bob]));
        Assert.Equal([2L], await Store.AppendLetterAsync(NewLetter(), [carol]));
    }

    [Fact]
    public async Task Dispose_CommitsWritesQueuedBeforeIt()
    {
        var letters = Enumerable.Range(0, 300).Select(_ => NewLetter()).ToList();
        var writes = letters.Select(l => Store.AppendLetterAsync(l, l.Recipients).AsTask()).ToList();
        await Store.DisposeAsync();
        await Task.WhenAll(writes);
        Store = new SqliteStore(new SqliteStoreOptions { DataDirectory = Dir });
        await Store.OpenAsync();
        Assert.Equal(300, await Store.CountInboxAsync(TenantId.Default, ClientId.Parse("bob")));
    }

    [Fact]
    public async Task AfterDispose_CallsAreUnavailable()
    {
        await Store.DisposeAsync();
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => Store.AppendLetterAsync(NewLetter(), [ClientId.Parse("bob")]).AsTask());
        Assert.Equal(DaakiaErrorCode.Unavailable, ex.Code);
        Store = new SqliteStore(new SqliteStoreOptions { DataDirectory = Dir });
        await Store.OpenAsync();
    }
}
