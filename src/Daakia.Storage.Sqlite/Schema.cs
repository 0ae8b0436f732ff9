using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite;

/// <summary>The tables and the PRAGMAs, with why each was chosen.</summary>
internal static class Schema
{
    public const int Version = 2;

    /// <summary>Settings of every connection.</summary>
    public static void Configure(SqliteConnection connection, SqliteDurability durability)
    {
        Exec(connection,
            // WAL: readers never block the writer and a commit is one sequential append + one fsync.
            "PRAGMA journal_mode=WAL;" +
            // FULL fsyncs the WAL on every commit (acknowledged = on disk); NORMAL leaves it to the OS.
            (durability == SqliteDurability.Fsync ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;") +
            // Readers and a checkpoint can briefly contend; wait instead of failing.
            "PRAGMA busy_timeout=5000;" +
            "PRAGMA temp_store=MEMORY;" +
            // 16 MiB page cache per connection: the hot inbox pages stay in memory.
            "PRAGMA cache_size=-16384;" +
            // Checkpoint every ~4 MiB of WAL (1000 pages): keeps the WAL short without checkpointing per batch.
            "PRAGMA wal_autocheckpoint=1000;" +
            "PRAGMA foreign_keys=OFF;");
    }

    public static void Create(SqliteConnection connection)
    {
        Exec(connection, """
            CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS letters(
                tenant TEXT NOT NULL,
                recipient TEXT NOT NULL,
                seq INTEGER NOT NULL,
                id BLOB NOT NULL,
                author TEXT NOT NULL,
                recipients TEXT NOT NULL,
                payload BLOB NOT NULL,
                ts INTEGER NOT NULL,
                expires INTEGER NULL,
                PRIMARY KEY(tenant, recipient, seq)) WITHOUT ROWID;
            CREATE UNIQUE INDEX IF NOT EXISTS letters_by_id ON letters(tenant, recipient, id);
            CREATE INDEX IF NOT EXISTS letters_by_expiry ON letters(expires) WHERE expires IS NOT NULL;
            CREATE TABLE IF NOT EXISTS clients(
                tenant TEXT NOT NULL,
                client TEXT NOT NULL,
                first_seen INTEGER NOT NULL,
                last_seen INTEGER NOT NULL,
                PRIMARY KEY(tenant, client)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS activity(
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                tenant TEXT NOT NULL,
                at INTEGER NOT NULL,
                kind TEXT NOT NULL,
                actor TEXT NULL,
                subject TEXT NULL,
                detail TEXT NULL);
            CREATE INDEX IF NOT EXISTS activity_by_tenant ON activity(tenant, id);
            CREATE TABLE IF NOT EXISTS usage(
                tenant TEXT NOT NULL,
                recipient TEXT NOT NULL,
                letters INTEGER NOT NULL,
                bytes INTEGER NOT NULL,
                PRIMARY KEY(tenant, recipient)) WITHOUT ROWID;
            INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', 1);
            INSERT OR IGNORE INTO meta(key, value) VALUES('high_water', 0);
            """);

        // Version 2 adds the usage table (quotas). A database of version 1 gets it filled once from its letters; a new
        // one starts at version 2 with nothing to count. No later start-up scans the letters.
        Exec(connection, $"""
            BEGIN;
            INSERT INTO usage(tenant, recipient, letters, bytes)
                SELECT tenant, recipient, count(*), sum(length(payload)) + count(*) * {Core.Storage.InboxQuota.EntryOverhead} FROM letters
                WHERE (SELECT value FROM meta WHERE key='schema_version') < 2 GROUP BY tenant, recipient;
            INSERT INTO usage(tenant, recipient, letters, bytes)
                SELECT tenant, '', sum(letters), sum(bytes) FROM usage
                WHERE (SELECT value FROM meta WHERE key='schema_version') < 2 AND recipient <> '' GROUP BY tenant;
            UPDATE meta SET value=2 WHERE key='schema_version' AND value < 2;
            COMMIT;
            """);
    }

    public static void Exec(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
