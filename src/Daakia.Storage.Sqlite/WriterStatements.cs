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
            "INSERT INTO messages(id, author, recipients, payload, ts, refs, content_type, headers, visible_at, envelope) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
        // size: the content bytes (payload and headers) the entry was counted with in the usage, NULL when that is the
        // payload's length (no headers, or written before headers counted), so a removal takes off what was added.
        InsertEntry = new RawStatement(connection,
            "INSERT INTO entries(qid, pos, mid, id, expires, deliveries, visible_at, size) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        // The hot path's reads and deletes are separate statements rather than one DELETE … RETURNING: SQLite buffers
        // RETURNING rows in an ephemeral table (a b-tree opened and closed per execution), which measured costlier than
        // the extra statement.
        SelectEntryById = new RawStatement(connection, "SELECT pos, mid, size FROM entries WHERE qid=?1 AND id=?2");
        // A move keeps what the entry carries (expiry, delivery count, counted size) into its new queue.
        TakeEntryById = new RawStatement(connection, "DELETE FROM entries WHERE qid=?1 AND id=?2 RETURNING mid, expires, deliveries, size");
        DeleteEntryByPos = new RawStatement(connection, "DELETE FROM entries WHERE qid=?1 AND pos=?2");
        ReturnEntry = new RawStatement(connection,
            "UPDATE entries SET deliveries=max(deliveries, ?3), visible_at=?4 WHERE qid=?1 AND id=?2");
        // An entry's expiry, set, or moved later only (an entry that never expires keeps that). SQLite counts a row the
        // WHERE matched as changed even if the CASE keeps its value: the count is of entries found.
        SetEntryExpiry = new RawStatement(connection, "UPDATE entries SET expires=?3 WHERE qid=?1 AND id=?2");
        ExtendEntryExpiry = new RawStatement(connection,
            "UPDATE entries SET expires=CASE WHEN expires IS NULL OR expires >= ?3 THEN expires ELSE ?3 END WHERE qid=?1 AND id=?2");
        // A message goes with its last entry; otherwise it loses one reference. The payload's size is for the usage
        // (length() of a blob reads no content).
        SelectReferences = new RawStatement(connection, "SELECT refs, length(payload) FROM messages WHERE mid=?1");
        DeleteMessage = new RawStatement(connection, "DELETE FROM messages WHERE mid=?1");
        DropReference = new RawStatement(connection, "UPDATE messages SET refs=refs-1 WHERE mid=?1");
        SelectMoved = new RawStatement(connection, "SELECT author, length(payload) FROM messages WHERE mid=?1");
        UpsertClient = new RawStatement(connection,
            "INSERT INTO clients(tenant, client, first_seen, last_seen) VALUES(?1, ?2, ?3, ?3) ON CONFLICT(tenant, client) DO UPDATE SET last_seen=max(last_seen, excluded.last_seen)");
        InsertActivity = new RawStatement(connection, "INSERT INTO activity(tenant, at, kind, actor, subject, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
        PruneActivity = new RawStatement(connection,
            "DELETE FROM activity WHERE id IN (SELECT id FROM activity ORDER BY id LIMIT ?1) " +
            "AND (at <= ?2 OR id <= (SELECT coalesce(max(id), 0) FROM activity) - ?3) " +
            // The newest row stays, however old: the next id is max(rowid) + 1, so an id is never given twice.
            "AND id < (SELECT max(id) FROM activity)");
        // Only what the sweep needs, and no payload: the expiry index yields the entry; the message's id, author and
        // recipients precede its payload, which is never read.
        SelectExpired = new RawStatement(connection,
            "SELECT q.tenant, q.kind, q.name, e.pos, e.id, m.author, m.recipients, e.expires, e.qid, e.mid, e.size " +
            "FROM entries e JOIN queues q ON q.qid = e.qid JOIN messages m ON m.mid = e.mid " +
            "WHERE e.expires IS NOT NULL AND e.expires <= ?1 ORDER BY e.expires LIMIT ?2");
        SelectQueue = new RawStatement(connection, "SELECT qid, letters, bytes, last_pos FROM queues WHERE tenant=?1 AND kind=?2 AND name=?3");
        InsertQueue = new RawStatement(connection, "INSERT INTO queues(tenant, kind, name, letters, bytes, last_pos) VALUES(?1, ?2, ?3, 0, 0, 0)");
        UpdateQueue = new RawStatement(connection, "UPDATE queues SET letters=?1, bytes=?2, last_pos=?3 WHERE qid=?4");
        Queues = new QueueLedger(_db, SelectQueue, InsertQueue, UpdateQueue, maxCached: 100_000);
        UpsertRetained = new RawStatement(connection,
            "INSERT OR REPLACE INTO retained(tenant, topic, author, payload, content_type, qos, ts, expires, properties) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
        DeleteRetained = new RawStatement(connection, "DELETE FROM retained WHERE tenant=?1 AND topic=?2");
        UpsertSession = new RawStatement(connection,
            "INSERT OR REPLACE INTO sessions(tenant, client, expiry, subscriptions) VALUES(?1, ?2, ?3, ?4)");
        DeleteSession = new RawStatement(connection, "DELETE FROM sessions WHERE tenant=?1 AND client=?2");
        SelectQueueIds = new RawStatement(connection, "SELECT id FROM entries WHERE qid=?1");
        InsertRelease = new RawStatement(connection, "INSERT OR IGNORE INTO session_releases(tenant, client, packet_id) VALUES(?1, ?2, ?3)");
        DeleteRelease = new RawStatement(connection, "DELETE FROM session_releases WHERE tenant=?1 AND client=?2 AND packet_id=?3");
        DeleteReleases = new RawStatement(connection, "DELETE FROM session_releases WHERE tenant=?1 AND client=?2");
        UpsertRecord = new RawStatement(connection, "INSERT OR REPLACE INTO records(tenant, kind, key, value) VALUES(?1, ?2, ?3, ?4)");
        DeleteRecord = new RawStatement(connection, "DELETE FROM records WHERE tenant=?1 AND kind=?2 AND key=?3");
    }

    public RawStatement UpsertRecord { get; }

    public RawStatement DeleteRecord { get; }

    public RawStatement InsertRelease { get; }

    public RawStatement DeleteRelease { get; }

    public RawStatement DeleteReleases { get; }

    public RawStatement UpsertSession { get; }

    public RawStatement DeleteSession { get; }

    /// <summary>The message ids of every entry of one queue (a session's queue, when the session ends).</summary>
    public RawStatement SelectQueueIds { get; }

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

    /// <summary>Rows changed by every completed INSERT, UPDATE and DELETE of this connection so far.</summary>
    public long TotalChanges => raw.sqlite3_total_changes(_db);

    /// <summary>
    /// Entries booked or taken without being written (<see cref="AckPairing"/>) so far: counted like
    /// <see cref="TotalChanges"/>, so that an op failing after one is rolled back with its batch.
    /// </summary>
    public long PairedChanges { get; set; }

    /// <summary>The writer's scratch map for <see cref="AckPairing.Plan"/>, reused batch after batch.</summary>
    public Dictionary<(QueueName Queue, Guid Id), QueueAppendOp?> PairingScratch { get; } = [];

    /// <summary>Paired entries taken in this run of the batch (neither written nor deleted); reset per run.</summary>
    public long Unwritten { get; set; }

    /// <summary>The rowid of the last row inserted (a new message's <c>mid</c>).</summary>
    public long LastInsertRowId => raw.sqlite3_last_insert_rowid(_db);

    public RawStatement InsertMessage { get; }

    public RawStatement InsertEntry { get; }

    public RawStatement SelectEntryById { get; }

    public RawStatement TakeEntryById { get; }

    public RawStatement DeleteEntryByPos { get; }

    public RawStatement ReturnEntry { get; }

    public RawStatement SetEntryExpiry { get; }

    public RawStatement ExtendEntryExpiry { get; }

    public RawStatement SelectMoved { get; }

    public RawStatement SelectReferences { get; }

    public RawStatement DeleteMessage { get; }

    public RawStatement DropReference { get; }

    public RawStatement UpsertClient { get; }

    public RawStatement InsertActivity { get; }

    public RawStatement PruneActivity { get; }

    public RawStatement SelectExpired { get; }

    public RawStatement SelectQueue { get; }

    public RawStatement InsertQueue { get; }

    public RawStatement UpdateQueue { get; }

    public RawStatement UpsertRetained { get; }

    public RawStatement DeleteRetained { get; }

    /// <summary>Queue keys and usage (see <see cref="QueueLedger"/>).</summary>
    public QueueLedger Queues { get; }

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
        SelectEntryById.Dispose();
        TakeEntryById.Dispose();
        DeleteEntryByPos.Dispose();
        ReturnEntry.Dispose();
        SetEntryExpiry.Dispose();
        ExtendEntryExpiry.Dispose();
        SelectMoved.Dispose();
        SelectReferences.Dispose();
        DeleteMessage.Dispose();
        DropReference.Dispose();
        UpsertClient.Dispose();
        InsertActivity.Dispose();
        PruneActivity.Dispose();
        SelectExpired.Dispose();
        SelectQueue.Dispose();
        InsertQueue.Dispose();
        UpdateQueue.Dispose();
        UpsertRetained.Dispose();
        DeleteRetained.Dispose();
        UpsertSession.Dispose();
        DeleteSession.Dispose();
        UpsertRecord.Dispose();
        DeleteRecord.Dispose();
        SelectQueueIds.Dispose();
        InsertRelease.Dispose();
        DeleteRelease.Dispose();
        DeleteReleases.Dispose();
    }
}
