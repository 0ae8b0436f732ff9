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
        InsertMessage = new RawStatement(connection,
            "INSERT INTO messages(seq, id, author, recipients, payload, ts, refs) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        InsertEntry = new RawStatement(connection, "INSERT INTO entries(qid, seq, id, expires) VALUES(?1, ?2, ?3, ?4)");
        DeleteEntryById = new RawStatement(connection, "DELETE FROM entries WHERE qid=?1 AND id=?2 RETURNING seq");
        DeleteEntryBySeq = new RawStatement(connection, "DELETE FROM entries WHERE qid=?1 AND seq=?2");
        // A message goes with its last entry; otherwise it loses one reference. Both give the payload's size for the
        // usage (length() of a blob reads no content).
        DeleteLastReference = new RawStatement(connection, "DELETE FROM messages WHERE seq=?1 AND refs=1 RETURNING length(payload)");
        DropReference = new RawStatement(connection, "UPDATE messages SET refs=refs-1 WHERE seq=?1 RETURNING length(payload)");
        UpsertClient = new RawStatement(connection,
            "INSERT INTO clients(tenant, client, first_seen, last_seen) VALUES(?1, ?2, ?3, ?3) ON CONFLICT(tenant, client) DO UPDATE SET last_seen=max(last_seen, excluded.last_seen)");
        InsertActivity = new RawStatement(connection, "INSERT INTO activity(tenant, at, kind, actor, subject, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
        PruneActivity = new RawStatement(connection,
            "DELETE FROM activity WHERE id IN (SELECT id FROM activity ORDER BY id LIMIT ?1) " +
            "AND (at <= ?2 OR id <= (SELECT coalesce(max(id), 0) FROM activity) - ?3)");
        SetHighWater = new RawStatement(connection, "UPDATE meta SET value=max(value, ?1) WHERE key='high_water'");
        // Only what the sweep needs, and no payload: the expiry index yields the entry; the message's id, author and
        // recipients precede its payload, and length() of the payload reads no content.
        SelectExpired = new RawStatement(connection,
            "SELECT q.tenant, q.name, e.seq, e.id, m.author, m.recipients, e.expires, length(m.payload), e.qid " +
            "FROM entries e JOIN queues q ON q.qid = e.qid JOIN messages m ON m.seq = e.seq " +
            "WHERE e.expires IS NOT NULL AND e.expires <= ?1 ORDER BY e.expires LIMIT ?2");
        SelectQueue = new RawStatement(connection, "SELECT qid, letters, bytes FROM queues WHERE tenant=?1 AND name=?2");
        InsertQueue = new RawStatement(connection, "INSERT INTO queues(tenant, name, letters, bytes) VALUES(?1, ?2, 0, 0)");
        UpdateQueue = new RawStatement(connection, "UPDATE queues SET letters=?1, bytes=?2 WHERE qid=?3");
        Queues = new QueueLedger(_db, SelectQueue, InsertQueue, UpdateQueue, maxCached: 100_000);
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

    public RawStatement InsertMessage { get; }

    public RawStatement InsertEntry { get; }

    public RawStatement DeleteEntryById { get; }

    public RawStatement DeleteEntryBySeq { get; }

    public RawStatement DeleteLastReference { get; }

    public RawStatement DropReference { get; }

    public RawStatement UpsertClient { get; }

    public RawStatement InsertActivity { get; }

    public RawStatement SetHighWater { get; }

    public RawStatement PruneActivity { get; }

    public RawStatement SelectExpired { get; }

    public RawStatement SelectQueue { get; }

    public RawStatement InsertQueue { get; }

    public RawStatement UpdateQueue { get; }

    /// <summary>Queue keys and usage (see <see cref="QueueLedger"/>).</summary>
    public QueueLedger Queues { get; }

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
        InsertMessage.Dispose();
        InsertEntry.Dispose();
        DeleteEntryById.Dispose();
        DeleteEntryBySeq.Dispose();
        DeleteLastReference.Dispose();
        DropReference.Dispose();
        UpsertClient.Dispose();
        InsertActivity.Dispose();
        SetHighWater.Dispose();
        PruneActivity.Dispose();
        SelectExpired.Dispose();
        SelectQueue.Dispose();
        InsertQueue.Dispose();
        UpdateQueue.Dispose();
    }
}
