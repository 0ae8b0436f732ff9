using Daakia.Core;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Daakia.Storage.Sqlite;

/// <summary>The writer connection's prepared statements, reused for every batch.</summary>
internal sealed class WriterStatements : IDisposable
{
    private readonly sqlite3 _db;

    public WriterStatements(SqliteConnection connection)
    {
        Connection = connection;
        _db = connection.Handle!;

        // The batch's transaction is driven here rather than through SqliteTransaction, so that the writer sees at
        // once when SQLite ended it on its own (see InTransaction) and never runs an op outside it.
        Begin = new RawStatement(connection, "BEGIN");
        Commit = new RawStatement(connection, "COMMIT");
        Rollback = new RawStatement(connection, "ROLLBACK");
        Savepoint = new RawStatement(connection, "SAVEPOINT op");
        ReleaseSavepoint = new RawStatement(connection, "RELEASE op");
        RollbackToSavepoint = new RawStatement(connection, "ROLLBACK TO op");
        InsertLetter = new RawStatement(connection,
            "INSERT INTO letters(tenant, recipient, seq, id, author, recipients, payload, ts, expires) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
        // RETURNING gives the size the usage ledger needs without a second lookup (length() of a blob reads no content).
        DeleteLetter = new RawStatement(connection, "DELETE FROM letters WHERE tenant=?1 AND recipient=?2 AND id=?3 RETURNING length(payload)");
        UpsertClient = new RawStatement(connection,
            "INSERT INTO clients(tenant, client, first_seen, last_seen) VALUES(?1, ?2, ?3, ?3) ON CONFLICT(tenant, client) DO UPDATE SET last_seen=max(last_seen, excluded.last_seen)");
        InsertActivity = new RawStatement(connection, "INSERT INTO activity(tenant, at, kind, actor, subject, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
        SetHighWater = new RawStatement(connection, "UPDATE meta SET value=max(value, ?1) WHERE key='high_water'");
        DeleteBySeq = new RawStatement(connection, "DELETE FROM letters WHERE tenant=?1 AND recipient=?2 AND seq=?3");
        // Only what the sweep needs, and no payload: the expiry index yields tenant, recipient, seq and expires, and the
        // row's id, author and recipients precede the payload, so no payload (nor its overflow pages) is read here.
        SelectExpired = new RawStatement(connection,
            "SELECT tenant, recipient, seq, id, author, recipients, expires, length(payload) FROM letters WHERE expires IS NOT NULL AND expires <= ?1 ORDER BY expires LIMIT ?2");
        SelectUsage = new RawStatement(connection, "SELECT letters, bytes FROM usage WHERE tenant=?1 AND recipient=?2");
        UpsertUsage = new RawStatement(connection,
            "INSERT INTO usage(tenant, recipient, letters, bytes) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(tenant, recipient) DO UPDATE SET letters=excluded.letters, bytes=excluded.bytes");
        Usage = new UsageLedger(SelectUsage, UpsertUsage, maxCached: 100_000);
    }

    public SqliteConnection Connection { get; }

    public RawStatement Begin { get; }

    public RawStatement Commit { get; }

    public RawStatement Rollback { get; }

    /// <summary>Opens the savepoint that makes one multi-statement op all-or-nothing.</summary>
    public RawStatement Savepoint { get; }

    public RawStatement ReleaseSavepoint { get; }

    public RawStatement RollbackToSavepoint { get; }

    /// <summary>
    /// Whether the batch's transaction is still open. SQLITE_FULL, I/O, out-of-memory and busy errors can roll back the
    /// whole transaction instead of the failing statement; afterwards the connection is back in autocommit mode.
    /// </summary>
    public bool InTransaction => raw.sqlite3_get_autocommit(_db) == 0;

    public RawStatement InsertLetter { get; }

    public RawStatement DeleteLetter { get; }

    public RawStatement UpsertClient { get; }

    public RawStatement InsertActivity { get; }

    public RawStatement SetHighWater { get; }

    public RawStatement DeleteBySeq { get; }

    public RawStatement SelectExpired { get; }

    public RawStatement SelectUsage { get; }

    public RawStatement UpsertUsage { get; }

    /// <summary>Inbox and tenant usage for quota checks (see <see cref="UsageLedger"/>).</summary>
    public UsageLedger Usage { get; }

    /// <summary>Highest letter sequence written in the current batch.</summary>
    public long BatchHighWater { get; set; }

    public static string? Text(ClientId? c) => c?.Value;

    public void Dispose()
    {
        Begin.Dispose();
        Commit.Dispose();
        Rollback.Dispose();
        Savepoint.Dispose();
        ReleaseSavepoint.Dispose();
        RollbackToSavepoint.Dispose();
        InsertLetter.Dispose();
        DeleteLetter.Dispose();
        UpsertClient.Dispose();
        InsertActivity.Dispose();
        SetHighWater.Dispose();
        DeleteBySeq.Dispose();
        SelectExpired.Dispose();
        SelectUsage.Dispose();
        UpsertUsage.Dispose();
    }
}
