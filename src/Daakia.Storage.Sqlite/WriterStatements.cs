using Daakia.Core;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite;

/// <summary>The writer connection's prepared statements, reused for every batch.</summary>
internal sealed class WriterStatements : IDisposable
{
    private readonly SqliteCommand[] _all;

    public WriterStatements(SqliteConnection connection)
    {
        Connection = connection;
        InsertLetter = Schema.Prepare(connection,
            "INSERT INTO letters(tenant, recipient, seq, id, author, recipients, payload, ts, expires) VALUES($t, $r, $s, $id, $a, $rs, $p, $ts, $e)",
            "$t", "$r", "$s", "$id", "$a", "$rs", "$p", "$ts", "$e");
        DeleteLetter = Schema.Prepare(connection, "DELETE FROM letters WHERE tenant=$t AND recipient=$r AND id=$id", "$t", "$r", "$id");
        UpsertClient = Schema.Prepare(connection,
            "INSERT INTO clients(tenant, client, first_seen, last_seen) VALUES($t, $c, $at, $at) ON CONFLICT(tenant, client) DO UPDATE SET last_seen=max(last_seen, excluded.last_seen)",
            "$t", "$c", "$at");
        InsertActivity = Schema.Prepare(connection,
            "INSERT INTO activity(tenant, at, kind, actor, subject, detail) VALUES($t, $at, $k, $a, $s, $d)",
            "$t", "$at", "$k", "$a", "$s", "$d");
        SetHighWater = Schema.Prepare(connection, "UPDATE meta SET value=max(value, $v) WHERE key='high_water'", "$v");
        SelectExpired = Schema.Prepare(connection,
            $"SELECT {Codec.LetterColumns} FROM letters WHERE expires IS NOT NULL AND expires <= $now ORDER BY expires LIMIT $limit", "$now", "$limit");
        DeleteBySeq = Schema.Prepare(connection, "DELETE FROM letters WHERE tenant=$t AND recipient=$r AND seq=$s", "$t", "$r", "$s");
        _all = [InsertLetter, DeleteLetter, UpsertClient, InsertActivity, SetHighWater, SelectExpired, DeleteBySeq];
    }

    public SqliteConnection Connection { get; }

    public SqliteCommand InsertLetter { get; }

    public SqliteCommand DeleteLetter { get; }

    public SqliteCommand UpsertClient { get; }

    public SqliteCommand InsertActivity { get; }

    public SqliteCommand SetHighWater { get; }

    public SqliteCommand SelectExpired { get; }

    public SqliteCommand DeleteBySeq { get; }

    /// <summary>Highest letter sequence written in the current batch.</summary>
    public long BatchHighWater { get; set; }

    public void Enlist(SqliteTransaction transaction)
    {
        foreach (var c in _all)
        {
            c.Transaction = transaction;
        }
    }

    public static void Set(SqliteCommand command, int index, object? value) => command.Parameters[index].Value = value ?? DBNull.Value;

    public static object? Text(ClientId? c) => c?.Value;

    public void Dispose()
    {
        foreach (var c in _all)
        {
            c.Dispose();
        }
    }
}
