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
        Assert.All(last, l => Assert.Equal(payload, l.Message.Payload.ToArray()));
        Assert.Equal(20, await store.DeleteLettersAsync(TenantId.Default, recipients[99], letters.ConvertAll(l => l.Id)));
        await store.DisposeAsync();
        Assert.Equal(0, Scalar(db, "SELECT count(*) FROM messages"));
        Assert.Equal(0, Scalar(db, "SELECT count(*) FROM entries"));
    }

    [Fact]
    public async Task DatabaseOfTheEarlierLayout_IsMovedOnOpen_WithEveryLetterUsageAndOrderKept()
    {
        // The layout of schema version 1: one full row per inbox.
        var db = CreateDatabase("""
            CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE letters(tenant TEXT NOT NULL, recipient TEXT NOT NULL, seq INTEGER NOT NULL, id BLOB NOT NULL,
                author TEXT NOT NULL, recipients TEXT NOT NULL, payload BLOB NOT NULL, ts INTEGER NOT NULL, expires INTEGER NULL,
                PRIMARY KEY(tenant, recipient, seq)) WITHOUT ROWID;
            INSERT INTO meta VALUES('schema_version', 1), ('high_water', 7);
            INSERT INTO letters VALUES('default', 'bob', 5, x'00000000000000000000000000000005', 'alice', 'bob' || char(10) || 'carol', '"five"', 1000, NULL);
            INSERT INTO letters VALUES('default', 'carol', 5, x'00000000000000000000000000000005', 'alice', 'bob' || char(10) || 'carol', '"five"', 1000, NULL);
            INSERT INTO letters VALUES('default', 'bob', 7, x'00000000000000000000000000000007', 'alice', 'bob', '"seven"', 2000, 99999999999999);
            """);

        var store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        var bob = ClientId.Parse("bob");
        var inbox = await store.ReadInboxAsync(TenantId.Default, bob, 0, 10);
        Assert.Equal([5L, 7L], inbox.Select(l => l.Position));
        Assert.Equal("\"five\"", Encoding.UTF8.GetString(inbox[0].Message.Payload.Span));
        Assert.Equal([bob, ClientId.Parse("carol")], inbox[0].Message.Recipients);
        Assert.NotNull(inbox[1].Message.ExpiresAt);
        Assert.Equal(new InboxUsage(2, 6 + 7 + (2 * InboxQuota.EntryOverhead)), await store.GetInboxUsageAsync(TenantId.Default, bob));
        Assert.Equal(new InboxUsage(3, 6 + 7 + (3 * InboxQuota.EntryOverhead)), await store.GetTenantUsageAsync(TenantId.Default));
        Assert.Equal(1, await store.DeleteLettersAsync(TenantId.Default, ClientId.Parse("carol"), [inbox[0].Id]));
        Assert.Equal(2, await store.CountInboxAsync(TenantId.Default, bob));
        Assert.Equal([8L], await store.AppendLetterAsync(NewLetter(bob), [bob])); // after the old high-water mark
        await store.DisposeAsync();
        Assert.Equal(0, Scalar(db, "SELECT count(*) FROM sqlite_master WHERE name='letters'"));
        Assert.Equal(Schema.Version, Scalar(db, "SELECT value FROM meta WHERE key='schema_version'"));
    }

    private static Letter NewLetter(ClientId to) => new()
    {
        Id = Guid.CreateVersion7(),
        Tenant = TenantId.Default,
        Author = ClientId.Parse("alice"),
        Recipients = [to],
        Payload = "1"u8.ToArray(),
        Timestamp = DateTimeOffset.UtcNow,
    };

    [Fact]
    public async Task DatabaseOfVersion3_IsMovedOnOpen_OldSequencesBecomePositions_UsageRosterAndActivityKept()
    {
        // The layout of schema version 3: one store-wide sequence keys messages and orders every inbox; letter 12
        // was acknowledged (only the high-water mark remembers it).
        var db = CreateDatabase("""
            CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE queues(qid INTEGER PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL, letters INTEGER NOT NULL, bytes INTEGER NOT NULL);
            CREATE UNIQUE INDEX queues_by_name ON queues(tenant, name);
            CREATE TABLE messages(seq INTEGER PRIMARY KEY, id BLOB NOT NULL, author TEXT NOT NULL, recipients TEXT NOT NULL,
                payload BLOB NOT NULL, ts INTEGER NOT NULL, refs INTEGER NOT NULL);
            CREATE TABLE entries(qid INTEGER NOT NULL, seq INTEGER NOT NULL, id BLOB NOT NULL, expires INTEGER NULL,
                PRIMARY KEY(qid, seq)) WITHOUT ROWID;
            CREATE UNIQUE INDEX entries_by_id ON entries(qid, id);
            CREATE INDEX entries_by_expiry ON entries(expires) WHERE expires IS NOT NULL;
            CREATE TABLE clients(tenant TEXT NOT NULL, client TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
                PRIMARY KEY(tenant, client)) WITHOUT ROWID;
            CREATE TABLE activity(id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, at INTEGER NOT NULL, kind TEXT NOT NULL,
                actor TEXT NULL, subject TEXT NULL, detail TEXT NULL);
            CREATE INDEX activity_by_tenant ON activity(tenant, id);
            INSERT INTO meta VALUES('schema_version', 3), ('high_water', 12);
            INSERT INTO queues VALUES(1, 'default', 'bob', 3, 402), (2, 'default', 'carol', 2, 271), (3, 'default', '', 5, 666);
            INSERT INTO messages VALUES(3, x'00000000000000000000000000000003', 'alice', 'bob' || char(10) || 'carol', '"three"', 1000, 2);
            INSERT INTO messages VALUES(9, x'00000000000000000000000000000009', 'alice', 'bob', '"nine"', 2000, 1);
            INSERT INTO messages VALUES(10, x'0000000000000000000000000000000a', 'alice', 'bob', '"ten"', 2500, 1);
            INSERT INTO messages VALUES(11, x'0000000000000000000000000000000b', 'dave', 'carol', '"eleven"', 3000, 1);
            INSERT INTO entries VALUES(1, 3, x'00000000000000000000000000000003', NULL), (2, 3, x'00000000000000000000000000000003', NULL);
            INSERT INTO entries VALUES(1, 9, x'00000000000000000000000000000009', 99999999999999), (1, 10, x'0000000000000000000000000000000a', 1000);
            INSERT INTO entries VALUES(2, 11, x'0000000000000000000000000000000b', NULL);
            INSERT INTO clients VALUES('default', 'bob', 100, 200);
            INSERT INTO activity(tenant, at, kind, actor, subject, detail) VALUES('default', 500, 'connect', 'bob', '1', 'ws');
            """);

        var store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        var tenant = TenantId.Default;
        var bob = ClientId.Parse("bob");
        var carol = ClientId.Parse("carol");
        var bobs = await store.ReadInboxAsync(tenant, bob, 0, 10);
        Assert.Equal([3L, 9L, 10L], bobs.Select(e => e.Position));
        Assert.Equal(["\"three\"", "\"nine\"", "\"ten\""], bobs.Select(e => Encoding.UTF8.GetString(e.Message.Payload.Span)));
        Assert.Equal([bob, carol], bobs[0].Message.Recipients);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(99999999999999), bobs[1].Message.ExpiresAt);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(2000), bobs[1].Message.Timestamp);
        Assert.All(bobs, e => Assert.Equal((0, (DateTimeOffset?)null, Letter.JsonContentType), (e.Deliveries, e.VisibleAt, e.Message.ContentType)));
        Assert.Equal([3L, 11L], (await store.ReadInboxAsync(tenant, carol, 0, 10)).Select(e => e.Position));
        Assert.Equal(new InboxUsage(3, 402), await store.GetInboxUsageAsync(tenant, bob));
        Assert.Equal(new InboxUsage(5, 666), await store.GetTenantUsageAsync(tenant));
        Assert.NotNull(await store.GetClientAsync(tenant, bob));
        Assert.Single(await store.ReadActivityAsync(tenant, 0, 10));

        // The migrated expiry index still drives the sweep.
        var swept = Assert.Single(await store.RemoveExpiredAsync(DateTimeOffset.UtcNow, 100));
        Assert.Equal((QueueKey.Inbox(tenant, bob), new Guid(Convert.FromHexString("0000000000000000000000000000000a"))), (swept.Queue, swept.Message.Id));

        // New positions continue after the old high-water mark in every old queue; a new queue starts at 1.
        Assert.Equal([13L, 13L, 1L], await store.AppendAsync(NewLetter(bob), [QueueKey.Inbox(tenant, bob), QueueKey.Inbox(tenant, carol), QueueKey.Inbox(tenant, ClientId.Parse("dave"))]));

        // The multicast's message keeps its two references: it goes with the last.
        Assert.Equal(1, await store.DeleteLettersAsync(tenant, bob, [bobs[0].Id]));
        Assert.Equal("\"three\"", Encoding.UTF8.GetString((await store.ReadInboxAsync(tenant, carol, 0, 10))[0].Message.Payload.Span));
        Assert.Equal(1, await store.DeleteLettersAsync(tenant, carol, [bobs[0].Id]));
        await store.DisposeAsync();

        Assert.Equal(Schema.Version, Scalar(db, "SELECT value FROM meta WHERE key='schema_version'"));
        Assert.Equal(0, Scalar(db, "SELECT count(*) FROM meta WHERE key='high_water'"));
        Assert.Equal(0, Scalar(db, "SELECT count(*) FROM messages WHERE mid IN (3, 10)"));
        Assert.Equal(3, Scalar(db, "SELECT count(*) FROM messages"));
        Assert.Equal(0, Scalar(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('queues_by_name', 'entries_v4')"));

        // Opening again does not migrate again.
        store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        Assert.Equal([9L, 13L], (await store.ReadInboxAsync(tenant, bob, 0, 10)).Select(e => e.Position));
        await store.DisposeAsync();
    }

    [Fact]
    public async Task DatabaseOfVersion4_IsMovedOnOpen_HeadersAreCountedInTheUsage_AndRemovalsReturnItToZero()
    {
        // The layout of schema version 4, whose usage counted payloads only: a multicast to bob and carol with a
        // header of 2 + 5 bytes (payload 3 bytes), and a letter to bob without headers (payload 4 bytes).
        var db = CreateDatabase("""
            CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE queues(qid INTEGER PRIMARY KEY, tenant TEXT NOT NULL, kind INTEGER NOT NULL, name TEXT NOT NULL,
                letters INTEGER NOT NULL, bytes INTEGER NOT NULL, last_pos INTEGER NOT NULL DEFAULT 0);
            CREATE UNIQUE INDEX queues_by_key ON queues(tenant, kind, name);
            CREATE TABLE messages(mid INTEGER PRIMARY KEY, id BLOB NOT NULL, author TEXT NOT NULL, recipients TEXT NOT NULL,
                payload BLOB NOT NULL, ts INTEGER NOT NULL, refs INTEGER NOT NULL, content_type TEXT NULL, headers BLOB NULL,
                visible_at INTEGER NULL);
            CREATE TABLE entries(qid INTEGER NOT NULL, pos INTEGER NOT NULL, mid INTEGER NOT NULL, id BLOB NOT NULL,
                expires INTEGER NULL, deliveries INTEGER NOT NULL DEFAULT 0, visible_at INTEGER NULL, PRIMARY KEY(qid, pos)) WITHOUT ROWID;
            CREATE UNIQUE INDEX entries_by_id ON entries(qid, id);
            CREATE INDEX entries_by_expiry ON entries(expires) WHERE expires IS NOT NULL;
            CREATE TABLE clients(tenant TEXT NOT NULL, client TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
                PRIMARY KEY(tenant, client)) WITHOUT ROWID;
            CREATE TABLE activity(id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, at INTEGER NOT NULL, kind TEXT NOT NULL,
                actor TEXT NULL, subject TEXT NULL, detail TEXT NULL);
            CREATE INDEX activity_by_tenant ON activity(tenant, id);
            INSERT INTO meta VALUES('schema_version', 4);
            INSERT INTO queues VALUES(1, 'default', 0, 'bob', 2, 263, 2), (2, 'default', 0, 'carol', 1, 131, 1), (3, 'default', -1, '', 3, 391, 0);
            INSERT INTO messages VALUES(1, x'00000000000000000000000000000001', 'alice', 'bob' || char(10) || 'carol', '"a"', 1000, 2, NULL, $headers, NULL);
            INSERT INTO messages VALUES(2, x'00000000000000000000000000000002', 'alice', 'bob', '"bb"', 2000, 1, NULL, NULL, NULL);
            INSERT INTO entries VALUES(1, 1, 1, x'00000000000000000000000000000001', NULL, 0, NULL), (2, 1, 1, x'00000000000000000000000000000001', NULL, 0, NULL);
            INSERT INTO entries VALUES(1, 2, 2, x'00000000000000000000000000000002', NULL, 0, NULL);
            """,
            ("$headers", Codec.EncodeHeaders([new("k1", "value")])!));

        var store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        var tenant = TenantId.Default;
        var bob = ClientId.Parse("bob");
        var carol = ClientId.Parse("carol");
        var bobs = await store.ReadInboxAsync(tenant, bob, 0, 10);
        Assert.Equal([new KeyValuePair<string, string>("k1", "value")], bobs[0].Message.Headers);
        Assert.Equal(3 + 7, bobs[0].Message.Size);
        Assert.Equal(new InboxUsage(2, 3 + 7 + 4 + (2 * InboxQuota.EntryOverhead)), await store.GetInboxUsageAsync(tenant, bob));
        Assert.Equal(new InboxUsage(1, 3 + 7 + InboxQuota.EntryOverhead), await store.GetInboxUsageAsync(tenant, carol));
        Assert.Equal(new InboxUsage(3, 3 + 7 + 4 + (3 * InboxQuota.EntryOverhead)), await store.GetTenantUsageAsync(tenant));

        Assert.Equal(1, await store.DeleteLettersAsync(tenant, bob, [bobs[0].Id]));
        Assert.Equal(new InboxUsage(2, 3 + 7 + 4 + (2 * InboxQuota.EntryOverhead)), await store.GetTenantUsageAsync(tenant));
        Assert.Equal(1, await store.DeleteLettersAsync(tenant, carol, [bobs[0].Id]));
        Assert.Equal(1, await store.DeleteLettersAsync(tenant, bob, [bobs[1].Id]));
        Assert.Equal(new InboxUsage(0, 0), await store.GetInboxUsageAsync(tenant, bob));
        Assert.Equal(new InboxUsage(0, 0), await store.GetInboxUsageAsync(tenant, carol));
        Assert.Equal(new InboxUsage(0, 0), await store.GetTenantUsageAsync(tenant));
        await store.DisposeAsync();
        Assert.Equal(Schema.Version, Scalar(db, "SELECT value FROM meta WHERE key='schema_version'"));
    }

    [Fact]
    public async Task DatabaseOfVersion6_IsMovedOnOpen_ItsRetainedMessagesKept_WithoutProperties()
    {
        // A version 6 database: today's layout without the retained messages' properties column.
        var store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        await store.WriteAsync([new RetainOp(new RetainedMessage(TenantId.Default, "a/b", ClientId.Parse("alice"), "\"x\""u8.ToArray(), "application/json", QualityOfService.AtLeastOnce, at))]);
        await store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        var db = Path.Combine(_dir, "daakia.db");
        Scalar(db, "ALTER TABLE retained DROP COLUMN properties; UPDATE meta SET value = 6 WHERE key = 'schema_version'; SELECT 0");
        Assert.Equal(6, Scalar(db, "SELECT value FROM meta WHERE key='schema_version'"));

        store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        var kept = Assert.Single(await store.ReadRetainedAsync(null, 10));
        Assert.Equal(("a/b", "\"x\"", at), (kept.Topic, Encoding.UTF8.GetString(kept.Payload.Span), kept.Timestamp));
        Assert.Null(kept.Properties);
        var properties = new PublicationProperties { UserProperties = [new("k", "v")] };
        await store.WriteAsync([new RetainOp(kept with { Properties = properties })]);
        Assert.Equal("v", Assert.Single(await store.ReadRetainedAsync(null, 10)).Properties!.UserProperties.Single().Value);
        await store.DisposeAsync();
        Assert.Equal(Schema.Version, Scalar(db, "SELECT value FROM meta WHERE key='schema_version'"));
    }

    [Fact]
    public async Task DatabaseOfVersion7_IsMovedOnOpen_ItsQueuesKept_AndTakesRecords()
    {
        // A version 7 database: today's layout without the records table.
        var store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        var queue = new QueueKey(TenantId.Default, QueueKind.Queue, "jobs");
        var letter = new Letter
        {
            Id = Guid.CreateVersion7(),
            Tenant = TenantId.Default,
            Author = ClientId.Parse("alice"),
            Recipients = [],
            Payload = "\"x\""u8.ToArray(),
            Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000),
        };
        await store.AppendAsync(letter, [queue]);
        await store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        var db = Path.Combine(_dir, "daakia.db");
        Scalar(db, "DROP TABLE records; UPDATE meta SET value = 7 WHERE key = 'schema_version'; SELECT 0");
        Assert.Equal(7, Scalar(db, "SELECT value FROM meta WHERE key='schema_version'"));

        store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        Assert.Equal(letter.Id, Assert.Single(await store.ReadAsync(queue, 0, 10)).Id);
        Assert.Empty(await store.ReadRecordsAsync(null, 10));
        await store.WriteAsync([new PutRecordOp(new StoredRecord(TenantId.Default, RecordKind.NamedQueue, "jobs", "{}"u8.ToArray()))]);
        Assert.Equal("jobs", Assert.Single(await store.ReadRecordsAsync(null, 10)).Key);
        await store.DisposeAsync();
        Assert.Equal(Schema.Version, Scalar(db, "SELECT value FROM meta WHERE key='schema_version'"));
    }

    [Fact]
    public async Task DatabaseOfVersion8_IsMovedOnOpen_ItsTenantsNamedQueueTotalsSummedFromTheirQueues()
    {
        // A version 8 database: today's layout without the rows of each tenant's named-queue totals.
        var store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        var other = TenantId.Parse("other");
        Letter New(TenantId tenant) => new()
        {
            Id = Guid.CreateVersion7(),
            Tenant = tenant,
            Author = ClientId.Parse("alice"),
            Recipients = [],
            Payload = "\"x\""u8.ToArray(),
            Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000),
        };
        var (jobs, mail) = (new QueueKey(TenantId.Default, QueueKind.Queue, "jobs"), new QueueKey(TenantId.Default, QueueKind.Queue, "mail"));
        await store.AppendAsync(New(TenantId.Default), [jobs, mail]);
        await store.AppendAsync(New(TenantId.Default), [jobs, QueueKey.Inbox(TenantId.Default, ClientId.Parse("bob"))]);
        await store.AppendAsync(New(other), [new QueueKey(other, QueueKind.Queue, "jobs")]);
        await store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        var db = Path.Combine(_dir, "daakia.db");
        Assert.Equal(3, Scalar(db, $"SELECT letters FROM queues WHERE kind = {Schema.TenantQueueTotalsKind} AND tenant = 'default'"));
        Scalar(db, $"DELETE FROM queues WHERE kind = {Schema.TenantQueueTotalsKind}; UPDATE meta SET value = 8 WHERE key = 'schema_version'; SELECT 0");

        store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await store.OpenAsync();
        var quota = new InboxQuota(long.MaxValue, long.MaxValue, long.MaxValue, 4);
        await store.AppendAsync(New(TenantId.Default), [mail], quota);
        var ex = await Assert.ThrowsAsync<DaakiaException>(() => store.AppendAsync(New(TenantId.Default), [jobs], quota).AsTask());
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        await store.AppendAsync(New(other), [new QueueKey(other, QueueKind.Queue, "jobs")], quota);
        await store.DisposeAsync();
        Assert.Equal(Schema.Version, Scalar(db, "SELECT value FROM meta WHERE key='schema_version'"));
        Assert.Equal(4, Scalar(db, $"SELECT letters FROM queues WHERE kind = {Schema.TenantQueueTotalsKind} AND tenant = 'default'"));
        Assert.Equal(2, Scalar(db, $"SELECT letters FROM queues WHERE kind = {Schema.TenantQueueTotalsKind} AND tenant = 'other'"));
        Assert.Equal(
            Scalar(db, "SELECT sum(bytes) FROM queues WHERE kind = 3 AND tenant = 'default'"),
            Scalar(db, $"SELECT bytes FROM queues WHERE kind = {Schema.TenantQueueTotalsKind} AND tenant = 'default'"));
    }

    /// <summary>Creates the store's database file in the data directory with <paramref name="sql"/> (an earlier layout); returns its path.</summary>
    private string CreateDatabase(string sql, params (string Name, object Value)[] parameters)
    {
        Directory.CreateDirectory(_dir);
        var db = Path.Combine(_dir, "daakia.db");
        using var c = new SqliteConnection($"Data Source={db};Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }

        cmd.ExecuteNonQuery();
        return db;
    }
}
