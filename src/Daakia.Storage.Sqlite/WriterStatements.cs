using Daakia.Core;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite;

/// <summary>The writer connection's prepared statements, reused for every batch.</summary>
internal sealed class WriterStatements : IDisposable
{
    public WriterStatements(SqliteConnection connection)
    {
        Connection = connection;
        InsertLetter = new RawStatement(connection,
            "INSERT INTO letters(tenant, recipient, seq, id, author, recipients, payload, ts, expires) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
        DeleteLetter = new RawStatement(connection, "DELETE FROM letters WHERE tenant=?1 AND recipient=?2 AND id=?3");
        UpsertClient = new RawStatement(connection,
            "INSERT INTO clients(tenant, client, first_seen, last_seen) VALUES(?1, ?2, ?3, ?3) ON CONFLICT(tenant, client) DO UPDATE SET last_seen=max(last_seen, excluded.last_seen)");
        InsertActivity = new RawStatement(connection, "INSERT INTO activity(tenant, at, kind, actor, subject, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
        SetHighWater = new RawStatement(connection, "UPDATE meta SET value=max(value, ?1) WHERE key='high_water'");
        DeleteBySeq = new RawStatement(connection, "DELETE FROM letters WHERE tenant=?1 AND recipient=?2 AND seq=?3");
        SelectExpired = Schema.Prepare(connection,
            $"SELECT {Codec.LetterColumns} FROM letters WHERE expires IS NOT NULL AND expires <= $now ORDER BY expires LIMIT $limit", "$now", "$limit");
    }

    public SqliteConnection Connection { get; }

    public RawStatement InsertLetter { get; }

    public RawStatement DeleteLetter { get; }

    public RawStatement UpsertClient { get; }

    public RawStatement InsertActivity { get; }

    public RawStatement SetHighWater { get; }

    public RawStatement DeleteBySeq { get; }

    public SqliteCommand SelectExpired { get; }

    /// <summary>The transaction of the batch being written (Microsoft.Data.Sqlite commands must name it).</summary>
    public SqliteTransaction? Transaction { get; private set; }

    /// <summary>Highest letter sequence written in the current batch.</summary>
    public long BatchHighWater { get; set; }

    public void Enlist(SqliteTransaction transaction)
    {
        Transaction = transaction;
        SelectExpired.Transaction = transaction;
    }

    public static void Set(SqliteCommand command, int index, object? value) => command.Parameters[index].Value = value ?? DBNull.Value;

    /// <summary>Runs one SQL statement inside the batch's transaction (savepoints).</summary>
    public void Exec(string sql)
    {
        using var c = Connection.CreateCommand();
        c.Transaction = Transaction;
        c.CommandText = sql;
        c.ExecuteNonQuery();
    }

    public static string? Text(ClientId? c) => c?.Value;

    public void Dispose()
    {
        InsertLetter.Dispose();
        DeleteLetter.Dispose();
        UpsertClient.Dispose();
        InsertActivity.Dispose();
        SetHighWater.Dispose();
        DeleteBySeq.Dispose();
        SelectExpired.Dispose();
    }
}
