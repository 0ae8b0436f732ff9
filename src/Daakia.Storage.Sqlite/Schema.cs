using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite;

/// <summary>The tables and the PRAGMAs, with why each was chosen.</summary>
internal static class Schema
{
    public const int Version = 3;

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

    /// <summary>
    /// The layout: a letter's content is one <c>messages</c> row however many inboxes hold it; each inbox is a
    /// <c>queues</c> row (integer key, with its usage for the quotas) and holds small <c>entries</c> (queue, sequence,
    /// id, expiry). The row of a tenant's totals is the queue named <c>''</c>. A message row goes when its last entry does
    /// (<c>refs</c>).
    /// </summary>
    public static void Create(SqliteConnection connection)
    {
        Exec(connection, """
            CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS queues(
                qid INTEGER PRIMARY KEY,
                tenant TEXT NOT NULL,
                name TEXT NOT NULL,
                letters INTEGER NOT NULL,
                bytes INTEGER NOT NULL);
            CREATE UNIQUE INDEX IF NOT EXISTS queues_by_name ON queues(tenant, name);
            CREATE TABLE IF NOT EXISTS messages(
                seq INTEGER PRIMARY KEY,
                id BLOB NOT NULL,
                author TEXT NOT NULL,
                recipients TEXT NOT NULL,
                payload BLOB NOT NULL,
                ts INTEGER NOT NULL,
                refs INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS entries(
                qid INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                id BLOB NOT NULL,
                expires INTEGER NULL,
                PRIMARY KEY(qid, seq)) WITHOUT ROWID;
            CREATE UNIQUE INDEX IF NOT EXISTS entries_by_id ON entries(qid, id);
            CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries(expires) WHERE expires IS NOT NULL;
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
            INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', 3);
            INSERT OR IGNORE INTO meta(key, value) VALUES('high_water', 0);
            """);
        MigrateFromLetters(connection);
    }

    /// <summary>
    /// Databases of versions 1 and 2 kept a full copy of a letter per inbox (<c>letters</c>). They are moved to the
    /// layout above once, in one transaction, when first opened; a database made new never runs this.
    /// </summary>
    private static void MigrateFromLetters(SqliteConnection connection)
    {
        using (var check = connection.CreateCommand())
        {
            check.CommandText = "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='letters'";
            if (Convert.ToInt64(check.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
            {
                return;
            }
        }

        var overhead = Core.Storage.InboxQuota.EntryOverhead;
        Exec(connection, $"""
            BEGIN;
            INSERT INTO queues(tenant, name, letters, bytes)
                SELECT tenant, recipient, count(*), sum(length(payload)) + count(*) * {overhead} FROM letters GROUP BY tenant, recipient;
            INSERT INTO messages(seq, id, author, recipients, payload, ts, refs)
                SELECT seq, id, author, recipients, payload, ts, count(*) FROM letters GROUP BY seq;
            INSERT INTO entries(qid, seq, id, expires)
                SELECT q.qid, l.seq, l.id, l.expires FROM letters l JOIN queues q ON q.tenant = l.tenant AND q.name = l.recipient;
            INSERT INTO queues(tenant, name, letters, bytes)
                SELECT t.tenant, '', t.n, t.n * {overhead} + (SELECT coalesce(sum(length(m.payload)), 0) FROM messages m
                    WHERE m.seq IN (SELECT DISTINCT seq FROM letters WHERE tenant = t.tenant))
                FROM (SELECT tenant, count(*) AS n FROM letters GROUP BY tenant) t;
            DROP TABLE letters;
            DROP TABLE IF EXISTS usage;
            UPDATE meta SET value = 3 WHERE key = 'schema_version';
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
