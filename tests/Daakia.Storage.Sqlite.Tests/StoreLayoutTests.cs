using System.Text;
using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Testing;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite.Tests;

/// <summary>The store's layout: a payload stored once per message, not once per inbox; older databases moved to it.</summary>
public sealed class StoreLayoutTests : IAsyncLifetime
{
    private readonly string _dir = Unique.TempDirectory();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    private static long Scalar(string path, string sql)
    {
        using var c = new SqliteConnection($"Data Source={path};Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Multicast_ToManyInboxes_StoresThePayloadOnce_AndFreesItWithTheLastAck()
    {
        var store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        var recipients = Enumerable.Range(0, 100).Select(i => ClientId.Parse($"r{i}")).ToArray();
        var payload = Encoding.UTF8.GetBytes("\"" + new string('x', 10_000) + "\"");
        var letters = Enumerable.Range(1, 20).Select(n => new Letter
        {
            Id = Guid.CreateVersion7(),
            Sequence = n,
            Tenant = TenantId.Default,
            Author = ClientId.Parse("alice"),
            Recipients = recipients,
            Payload = payload,
            Timestamp = DateTimeOffset.UtcNow,
        }).ToList();
        foreach (var l in letters)
        {
            await store.AppendLetterAsync(l, recipients);
        }

        await store.DisposeAsync();
        var db = Path.Combine(_dir, "daakia.db");
        Assert.Equal(20, Scalar(db, "SELECT count(*) FROM messages"));
        Assert.Equal(2000, Scalar(db, "SELECT count(*) FROM entries"));
        // 20 payloads of 10 KB once each: far below the 20 MB that one copy per inbox would take.
        Assert.InRange(Scalar(db, "SELECT sum(length(payload)) FROM messages"), 200_000, 201_000);
        Assert.True(new FileInfo(db).Length < 2 * 1024 * 1024, $"database is {new FileInfo(db).Length} bytes");

        store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        foreach (var r in recipients.Take(99))
        {
            Assert.Equal(20, await store.DeleteLettersAsync(TenantId.Default, r, letters.ConvertAll(l => l.Id)));
        }

        var last = await store.ReadInboxAsync(TenantId.Default, recipients[99], 0, 100);
        Assert.Equal(letters.Select(l => l.Id), last.Select(l => l.Id));
        Assert.All(last, l => Assert.Equal(payload, l.Payload.ToArray()));
        Assert.Equal(20, await store.DeleteLettersAsync(TenantId.Default, recipients[99], letters.ConvertAll(l => l.Id)));
        await store.DisposeAsync();
        Assert.Equal(0, Scalar(db, "SELECT count(*) FROM messages"));
        Assert.Equal(0, Scalar(db, "SELECT count(*) FROM entries"));
    }

    [Fact]
    public async Task DatabaseOfTheEarlierLayout_IsMovedOnOpen_WithEveryLetterUsageAndOrderKept()
    {
        Directory.CreateDirectory(_dir);
        var db = Path.Combine(_dir, "daakia.db");
        using (var c = new SqliteConnection($"Data Source={db};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            // The layout of schema version 1: one full row per inbox.
            cmd.CommandText = """
                CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE letters(tenant TEXT NOT NULL, recipient TEXT NOT NULL, seq INTEGER NOT NULL, id BLOB NOT NULL,
                    author TEXT NOT NULL, recipients TEXT NOT NULL, payload BLOB NOT NULL, ts INTEGER NOT NULL, expires INTEGER NULL,
                    PRIMARY KEY(tenant, recipient, seq)) WITHOUT ROWID;
                INSERT INTO meta VALUES('schema_version', 1), ('high_water', 7);
                INSERT INTO letters VALUES('default', 'bob', 5, x'00000000000000000000000000000005', 'alice', 'bob' || char(10) || 'carol', '"five"', 1000, NULL);
                INSERT INTO letters VALUES('default', 'carol', 5, x'00000000000000000000000000000005', 'alice', 'bob' || char(10) || 'carol', '"five"', 1000, NULL);
                INSERT INTO letters VALUES('default', 'bob', 7, x'00000000000000000000000000000007', 'alice', 'bob', '"seven"', 2000, 99999999999999);
                """;
            cmd.ExecuteNonQuery();
        }

        var store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        var bob = ClientId.Parse("bob");
        var inbox = await store.ReadInboxAsync(TenantId.Default, bob, 0, 10);
        Assert.Equal([5L, 7L], inbox.Select(l => l.Sequence));
        Assert.Equal("\"five\"", Encoding.UTF8.GetString(inbox[0].Payload.Span));
        Assert.Equal([bob, ClientId.Parse("carol")], inbox[0].Recipients);
        Assert.NotNull(inbox[1].ExpiresAt);
        Assert.Equal(7, await store.GetMaxSequenceAsync());
        Assert.Equal(new InboxUsage(2, 6 + 7 + (2 * InboxQuota.EntryOverhead)), await store.GetInboxUsageAsync(TenantId.Default, bob));
        Assert.Equal(new InboxUsage(3, 6 + 7 + (3 * InboxQuota.EntryOverhead)), await store.GetTenantUsageAsync(TenantId.Default));
        Assert.Equal(1, await store.DeleteLettersAsync(TenantId.Default, ClientId.Parse("carol"), [inbox[0].Id]));
        Assert.Equal(2, await store.CountInboxAsync(TenantId.Default, bob));
        await store.DisposeAsync();
        Assert.Equal(0, Scalar(db, "SELECT count(*) FROM sqlite_master WHERE name='letters'"));
        Assert.Equal(3, Scalar(db, "SELECT value FROM meta WHERE key='schema_version'"));
    }
}
