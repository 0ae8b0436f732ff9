using System.Text;
using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Testing;

namespace Daakia.Storage.Sqlite.Tests;

public sealed class SqliteStoreTests : IAsyncLifetime
{
    private readonly string _dir = Unique.TempDirectory();
    private SqliteStore _store = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await _store.OpenAsync();
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

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
        var before = _store.Batches;
        var writes = Enumerable.Range(0, 2000).Select(_ =>
        {
            var l = NewLetter();
            return _store.AppendLetterAsync(l, l.Recipients).AsTask();
        }).ToList();
        await Task.WhenAll(writes);
        var commits = _store.Batches - before;
        Assert.InRange(commits, 1, 200);
        Assert.Equal(2000, await _store.CountInboxAsync(TenantId.Default, ClientId.Parse("bob")));
    }

    [Fact]
    public async Task FailedWrite_FaultsOnlyItsOwnWaiter_AndTheStoreKeepsWorking()
    {
        var first = NewLetter();
        await _store.AppendLetterAsync(first, first.Recipients);
        var duplicate = NewLetter(first.Id); // the same id twice in one inbox: violates the unique index
        var good = NewLetter();
        var bad = _store.AppendLetterAsync(duplicate, duplicate.Recipients).AsTask();
        var fine = _store.AppendLetterAsync(good, good.Recipients).AsTask();
        await Assert.ThrowsAnyAsync<Exception>(() => bad);
        await fine;
        var inbox = await _store.ReadInboxAsync(TenantId.Default, ClientId.Parse("bob"), 0, 10);
        Assert.Equal([first.Id, good.Id], inbox.Select(l => l.Id));
    }

    [Fact]
    public async Task Multicast_FailingForOneRecipient_StoresItForNone()
    {
        var bob = ClientId.Parse("bob");
        var carol = ClientId.Parse("carol");
        var taken = NewLetter();
        await _store.AppendLetterAsync(taken, [carol]);
        var multicast = new Letter
        {
            Id = taken.Id, // collides in carol's inbox only
            Tenant = TenantId.Default,
            Author = ClientId.Parse("alice"),
            Recipients = [bob, carol],
            Payload = Encoding.UTF8.GetBytes("1"),
            Timestamp = DateTimeOffset.UtcNow,
        };
        await Assert.ThrowsAnyAsync<Exception>(() => _store.AppendLetterAsync(multicast, [bob, carol]).AsTask());
        Assert.Equal(0, await _store.CountInboxAsync(TenantId.Default, bob));
        // Nor did it take a position in either inbox.
        Assert.Equal([1L], await _store.AppendLetterAsync(NewLetter(), [bob]));
        Assert.Equal([2L], await _store.AppendLetterAsync(NewLetter(), [carol]));
    }

    [Fact]
    public async Task Dispose_CommitsWritesQueuedBeforeIt()
    {
        var letters = Enumerable.Range(0, 300).Select(_ => NewLetter()).ToList();
        var writes = letters.Select(l => _store.AppendLetterAsync(l, l.Recipients).AsTask()).ToList();
        await _store.DisposeAsync();
        await Task.WhenAll(writes);
        _store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await _store.OpenAsync();
        Assert.Equal(300, await _store.CountInboxAsync(TenantId.Default, ClientId.Parse("bob")));
    }

    [Fact]
    public async Task AfterDispose_CallsAreUnavailable()
    {
        await _store.DisposeAsync();
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => _store.AppendLetterAsync(NewLetter(), [ClientId.Parse("bob")]).AsTask());
        Assert.Equal(DaakiaErrorCode.Unavailable, ex.Code);
        _store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await _store.OpenAsync();
    }
}
