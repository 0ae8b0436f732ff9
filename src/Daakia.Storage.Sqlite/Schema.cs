using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite;

/// <summary>The tables and the PRAGMAs, with why each was chosen.</summary>
internal static class Schema
{
    public const int Version = 9;

    /// <summary>The <c>queues.kind</c> of a tenant's totals row (its name is <c>''</c>); no <see cref="Core.QueueKind"/> is negative.</summary>
    public const int TenantTotalsKind = -1;

    /// <summary>The <c>queues.kind</c> of the row of what a tenant's named queues (<see cref="Core.QueueKind.Queue"/>) hold
    /// together (its name is <c>''</c>): their entries and bytes, for <see cref="Core.Storage.InboxQuota.MaxTenantQueueMessages"/>.</summary>
    public const int TenantQueueTotalsKind = -2;

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
            // Checkpoint every ~40 MiB of WAL (10,000 pages): a queue's pages rewritten many times (posted, claimed,
            // deleted) are copied to the database once per checkpoint. Against 1,000 pages, on the Zaqar queue workload
            // (docs/benchmarks.md): 4 % less server CPU and 3 % more claim+delete msg/s; the WAL file grows to ~40 MiB,
            // and each checkpoint, run by the commit that crosses the mark, copies more at once (posts over 8 ms: 0.8 %
            // against 0.3 %, none over 64 ms in either).
            "PRAGMA wal_autocheckpoint=10000;" +
            "PRAGMA foreign_keys=OFF;");
    }

    /// <summary>
    /// The layout: a message's content is one <c>messages</c> row (key <c>mid</c>, the store's own rowid) however many
    /// queues hold it; each queue is a <c>queues</c> row (integer key for tenant + kind + name, what it holds for the
    /// quotas, and the last position it gave out) and holds small <c>entries</c> (queue, position, message, id, expiry,
    /// delivery count, visibility, and the content bytes — payload and headers — the entry counts in the usage, NULL when
    /// that is the payload's length, so a removal takes off exactly what the append added). The row of a tenant's totals has kind <see cref="TenantTotalsKind"/> and name
    /// <c>''</c>, the row of its named queues' totals kind <see cref="TenantQueueTotalsKind"/>. A message row goes when its
    /// last entry does (<c>refs</c>).
    /// </summary>
    /// <remarks>Older databases are moved to this layout once, in one transaction each step, when first opened; opening a
    /// current database reads no table in full.</remarks>
    public static void Create(SqliteConnection connection)
    {
        if (TableExists(connection, "letters"))
        {
            CreateV3(connection);
            MigrateFromLetters(connection);
        }

        if (TableExists(connection, "meta") && ReadVersion(connection) == 3)
        {
            MigrateFromV3(connection);
        }

        if (TableExists(connection, "meta") && ReadVersion(connection) == 4)
        {
            MigrateFromV4(connection);
        }

        if (TableExists(connection, "meta") && ReadVersion(connection) == 5)
        {
            MigrateFromV5(connection);
        }

        if (TableExists(connection, "meta") && ReadVersion(connection) == 6)
        {
            MigrateFromV6(connection);
        }

        if (TableExists(connection, "meta") && ReadVersion(connection) == 7)
        {
            // Version 7 to version 8: durable records (named queues, claims, queue subscriptions) in a table of their
            // own, made below; nothing else changes.
            Exec(connection, "UPDATE meta SET value=8 WHERE key='schema_version';");
        }

        if (TableExists(connection, "meta") && ReadVersion(connection) == 8)
        {
            MigrateFromV8(connection);
        }

        Exec(connection, """
            CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS queues(
                qid INTEGER PRIMARY KEY,
                tenant TEXT NOT NULL,
                kind INTEGER NOT NULL,
                name TEXT NOT NULL,
                letters INTEGER NOT NULL,
                bytes INTEGER NOT NULL,
                last_pos INTEGER NOT NULL DEFAULT 0);
            CREATE UNIQUE INDEX IF NOT EXISTS queues_by_key ON queues(tenant, kind, name);
            CREATE TABLE IF NOT EXISTS messages(
                mid INTEGER PRIMARY KEY,
                id BLOB NOT NULL,
                author TEXT NOT NULL,
                recipients TEXT NOT NULL,
                payload BLOB NOT NULL,
                ts INTEGER NOT NULL,
                refs INTEGER NOT NULL,
                content_type TEXT NULL,
                headers BLOB NULL,
                visible_at INTEGER NULL,
                envelope BLOB NULL);
            CREATE TABLE IF NOT EXISTS entries(
                qid INTEGER NOT NULL,
                pos INTEGER NOT NULL,
                mid INTEGER NOT NULL,
                id BLOB NOT NULL,
                expires INTEGER NULL,
                deliveries INTEGER NOT NULL DEFAULT 0,
                visible_at INTEGER NULL,
                size INTEGER NULL,
                PRIMARY KEY(qid, pos)) WITHOUT ROWID;
            CREATE UNIQUE INDEX IF NOT EXISTS entries_by_id ON entries(qid, id);
            CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries(expires) WHERE expires IS NOT NULL;
            CREATE TABLE IF NOT EXISTS clients(
                tenant TEXT NOT NULL,
                client TEXT NOT NULL,
                first_seen INTEGER NOT NULL,
                last_seen INTEGER NOT NULL,
                PRIMARY KEY(tenant, client)) WITHOUT ROWID;
            -- No AUTOINCREMENT (its sqlite_sequence write per row cost more than the row): ids still never repeat, since
            -- the prune never removes the newest row, so SQLite's max(rowid) + 1 only grows. Databases made with
            -- AUTOINCREMENT keep it.
            CREATE TABLE IF NOT EXISTS activity(
                id INTEGER PRIMARY KEY,
                tenant TEXT NOT NULL,
                at INTEGER NOT NULL,
                kind TEXT NOT NULL,
                actor TEXT NULL,
                subject TEXT NULL,
                detail TEXT NULL);
            CREATE INDEX IF NOT EXISTS activity_by_tenant ON activity(tenant, id);
            CREATE TABLE IF NOT EXISTS retained(
                tenant TEXT NOT NULL,
                topic TEXT NOT NULL,
                author TEXT NULL,
                payload BLOB NOT NULL,
                content_type TEXT NOT NULL,
                qos INTEGER NOT NULL,
                ts INTEGER NOT NULL,
                expires INTEGER NULL,
                properties BLOB NULL,
                PRIMARY KEY(tenant, topic)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS sessions(
                tenant TEXT NOT NULL,
                client TEXT NOT NULL,
                expiry INTEGER NOT NULL,
                subscriptions BLOB NOT NULL,
                PRIMARY KEY(tenant, client)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS session_releases(
                tenant TEXT NOT NULL,
                client TEXT NOT NULL,
                packet_id INTEGER NOT NULL,
                PRIMARY KEY(tenant, client, packet_id)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS records(
                tenant TEXT NOT NULL,
                kind INTEGER NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY(tenant, kind, key)) WITHOUT ROWID;
            INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', 9);
            """);

        var version = ReadVersion(connection);
        if (version != Version)
        {
            throw new InvalidOperationException($"The database is of schema version {version}; this build reads version {Version}.");
        }
    }

    /// <summary>
    /// Version 8 to version 9: each tenant gets the row of what its named queues hold together (kind
    /// <see cref="TenantQueueTotalsKind"/>), summed from those queues' own rows (exact: every write keeps them), so the
    /// tenant's named-queue quota is checked from its first append on. Reads no entry. One transaction.
    /// </summary>
    private static void MigrateFromV8(SqliteConnection connection) => Exec(connection, $"""
        BEGIN;
        DELETE FROM queues WHERE kind = {TenantQueueTotalsKind};
        INSERT INTO queues(tenant, kind, name, letters, bytes)
            SELECT tenant, {TenantQueueTotalsKind}, '', sum(letters), sum(bytes) FROM queues WHERE kind = {(int)Core.QueueKind.Queue} GROUP BY tenant;
        UPDATE meta SET value = 9 WHERE key = 'schema_version';
        COMMIT;
        """);

    /// <summary>
    /// Version 6 to version 7: a retained message keeps its publication's properties (MQTT 5 user properties, response
    /// topic, correlation data, payload format: <c>properties</c>, <see cref="Core.Storage.PropertiesBlob"/>). Nothing is
    /// rewritten. One transaction. (A database that never had a retained message may lack the table: it is made whole
    /// below.)
    /// </summary>
    private static void MigrateFromV6(SqliteConnection connection) => Exec(connection, TableExists(connection, "retained")
        ? """
          BEGIN;
          ALTER TABLE retained ADD COLUMN properties BLOB NULL;
          UPDATE meta SET value = 7 WHERE key = 'schema_version';
          COMMIT;
          """
        : "UPDATE meta SET value = 7 WHERE key = 'schema_version';");

    /// <summary>
    /// Version 5 to version 6: messages queued for MQTT persistent sessions keep their topic side (<c>envelope</c>), and
    /// the sessions' records get their table, and the QoS 2 ids awaiting PUBCOMP theirs. Nothing is rewritten. One transaction.
    /// </summary>
    private static void MigrateFromV5(SqliteConnection connection) => Exec(connection, """
        BEGIN;
        ALTER TABLE messages ADD COLUMN envelope BLOB NULL;
        CREATE TABLE sessions(
            tenant TEXT NOT NULL,
            client TEXT NOT NULL,
            expiry INTEGER NOT NULL,
            subscriptions BLOB NOT NULL,
            PRIMARY KEY(tenant, client)) WITHOUT ROWID;
        CREATE TABLE session_releases(
            tenant TEXT NOT NULL,
            client TEXT NOT NULL,
            packet_id INTEGER NOT NULL,
            PRIMARY KEY(tenant, client, packet_id)) WITHOUT ROWID;
        UPDATE meta SET value = 6 WHERE key = 'schema_version';
        COMMIT;
        """);

    /// <summary>
    /// Version 3 (one store-wide sequence, allocated by the core, keyed messages and ordered every inbox) to version 4
    /// (positions per queue, allocated by the store). A letter's old sequence becomes its position in each inbox and its
    /// message key, so every inbox keeps its order; each queue's last position starts at the old high-water mark, so no
    /// position a client may still hold as a cursor is given out again. One transaction: all of it or none.
    /// </summary>
    private static void MigrateFromV3(SqliteConnection connection) => Exec(connection, $"""
        BEGIN;
        DROP INDEX IF EXISTS queues_by_name;
        ALTER TABLE queues ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE queues ADD COLUMN last_pos INTEGER NOT NULL DEFAULT 0;
        UPDATE queues SET kind = {TenantTotalsKind} WHERE name = '';
        UPDATE queues SET last_pos = max(
            coalesce((SELECT value FROM meta WHERE key = 'high_water'), 0),
            coalesce((SELECT max(e.seq) FROM entries e WHERE e.qid = queues.qid), 0))
            WHERE kind <> {TenantTotalsKind};
        CREATE UNIQUE INDEX queues_by_key ON queues(tenant, kind, name);
        ALTER TABLE messages RENAME COLUMN seq TO mid;
        ALTER TABLE messages ADD COLUMN content_type TEXT NULL;
        ALTER TABLE messages ADD COLUMN headers BLOB NULL;
        ALTER TABLE messages ADD COLUMN visible_at INTEGER NULL;
        CREATE TABLE entries_v4(
            qid INTEGER NOT NULL,
            pos INTEGER NOT NULL,
            mid INTEGER NOT NULL,
            id BLOB NOT NULL,
            expires INTEGER NULL,
            deliveries INTEGER NOT NULL DEFAULT 0,
            visible_at INTEGER NULL,
            PRIMARY KEY(qid, pos)) WITHOUT ROWID;
        INSERT INTO entries_v4(qid, pos, mid, id, expires, deliveries, visible_at)
            SELECT qid, seq, seq, id, expires, 0, NULL FROM entries;
        DROP TABLE entries;
        ALTER TABLE entries_v4 RENAME TO entries;
        CREATE UNIQUE INDEX entries_by_id ON entries(qid, id);
        CREATE INDEX entries_by_expiry ON entries(expires) WHERE expires IS NOT NULL;
        DELETE FROM meta WHERE key = 'high_water';
        UPDATE meta SET value = 4 WHERE key = 'schema_version';
        COMMIT;
        """);

    /// <summary>
    /// Version 4 (a message counted its payload only in the quotas' usage) to version 5 (payload and headers). Entries
    /// get their <c>size</c>; each message stored with headers is counted again: its entries get its content size, and
    /// its header bytes are added to every queue holding it (once per entry) and to its tenant (once). Only messages with
    /// headers are read (their header blobs, never a payload). One transaction: all of it or none.
    /// </summary>
    private static void MigrateFromV4(SqliteConnection connection)
    {
        Exec(connection, "BEGIN");
        try
        {
            Exec(connection, """
                ALTER TABLE entries ADD COLUMN size INTEGER NULL;
                CREATE TEMP TABLE header_bytes(mid INTEGER PRIMARY KEY, content INTEGER NOT NULL, extra INTEGER NOT NULL);
                """);
            var counted = new List<(long Mid, long Content, long Extra)>();
            using (var read = connection.CreateCommand())
            {
                read.CommandText = "SELECT mid, length(payload), headers FROM messages WHERE headers IS NOT NULL";
                using var r = read.ExecuteReader();
                while (r.Read())
                {
                    long extra = 0;
                    try
                    {
                        foreach (var (key, value) in Codec.DecodeHeaders(r.GetFieldValue<byte[]>(2)))
                        {
                            extra += System.Text.Encoding.UTF8.GetByteCount(key) + System.Text.Encoding.UTF8.GetByteCount(value);
                        }
                    }
                    catch (InvalidDataException)
                    {
                        continue; // a damaged list (reading the message fails too): left counted as it was
                    }

                    if (extra > 0)
                    {
                        counted.Add((r.GetInt64(0), r.GetInt64(1) + extra, extra));
                    }
                }
            }

            using (var insert = connection.CreateCommand())
            {
                insert.CommandText = "INSERT INTO header_bytes(mid, content, extra) VALUES($mid, $content, $extra)";
                var mid = insert.Parameters.Add("$mid", SqliteType.Integer);
                var content = insert.Parameters.Add("$content", SqliteType.Integer);
                var extra = insert.Parameters.Add("$extra", SqliteType.Integer);
                foreach (var c in counted)
                {
                    (mid.Value, content.Value, extra.Value) = (c.Mid, c.Content, c.Extra);
                    insert.ExecuteNonQuery();
                }
            }

            Exec(connection, $"""
                UPDATE entries SET size = (SELECT h.content FROM header_bytes h WHERE h.mid = entries.mid)
                    WHERE mid IN (SELECT mid FROM header_bytes);
                CREATE TEMP TABLE queue_extra AS
                    SELECT e.qid AS qid, sum(h.extra) AS extra FROM entries e JOIN header_bytes h ON h.mid = e.mid GROUP BY e.qid;
                UPDATE queues SET bytes = bytes + (SELECT x.extra FROM queue_extra x WHERE x.qid = queues.qid)
                    WHERE qid IN (SELECT qid FROM queue_extra);
                CREATE TEMP TABLE tenant_extra AS
                    SELECT m.tenant AS tenant, sum(m.extra) AS extra FROM (SELECT DISTINCT e.mid AS mid, q.tenant AS tenant, h.extra AS extra
                        FROM entries e JOIN header_bytes h ON h.mid = e.mid JOIN queues q ON q.qid = e.qid) m GROUP BY m.tenant;
                UPDATE queues SET bytes = bytes + (SELECT x.extra FROM tenant_extra x WHERE x.tenant = queues.tenant)
                    WHERE kind = {TenantTotalsKind} AND tenant IN (SELECT tenant FROM tenant_extra);
                DROP TABLE header_bytes;
                DROP TABLE queue_extra;
                DROP TABLE tenant_extra;
                UPDATE meta SET value = 5 WHERE key = 'schema_version';
                COMMIT;
                """);
        }
        catch
        {
            Exec(connection, "ROLLBACK");
            throw;
        }
    }

    /// <summary>The version 3 tables, for moving a version 1 or 2 database through them.</summary>
    private static void CreateV3(SqliteConnection connection) => Exec(connection, """
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
        INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', 3);
        INSERT OR IGNORE INTO meta(key, value) VALUES('high_water', 0);
        """);

    /// <summary>
    /// Databases of versions 1 and 2 kept a full copy of a letter per inbox (<c>letters</c>). They are moved to the
    /// version 3 layout once, in one transaction, when first opened (and from there to version 4).
    /// </summary>
    private static void MigrateFromLetters(SqliteConnection connection)
    {
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
            UPDATE meta SET value = max(value, (SELECT coalesce(max(seq), 0) FROM letters)) WHERE key = 'high_water';
            DROP TABLE letters;
            DROP TABLE IF EXISTS usage;
            UPDATE meta SET value = 3 WHERE key = 'schema_version';
            COMMIT;
            """);
    }

    private static bool TableExists(SqliteConnection connection, string table)
    {
        using var check = connection.CreateCommand();
        check.CommandText = "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=$name";
        check.Parameters.AddWithValue("$name", table);
        return Convert.ToInt64(check.ExecuteScalar(), CultureInfo.InvariantCulture) > 0;
    }

    private static long ReadVersion(SqliteConnection connection)
    {
        using var read = connection.CreateCommand();
        read.CommandText = "SELECT coalesce((SELECT value FROM meta WHERE key='schema_version'), 0)";
        return Convert.ToInt64(read.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public static void Exec(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
