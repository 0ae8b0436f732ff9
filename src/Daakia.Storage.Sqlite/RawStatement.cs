using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Daakia.Storage.Sqlite;

/// <summary>
/// A prepared statement driven through SQLitePCLRaw directly: bind, step, reset. The writer's hot statements use it
/// because Microsoft.Data.Sqlite's per-execution overhead (reader objects, statement enumeration, parameter
/// binding by name) measured larger than the SQLite work itself for a one-row insert.
/// </summary>
internal sealed class RawStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _stmt;

    public RawStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle!;
        var rc = raw.sqlite3_prepare_v2(_db, sql, out _stmt);
        if (rc != raw.SQLITE_OK)
        {
            throw new SqliteException(raw.sqlite3_errmsg(_db).utf8_to_string(), rc, raw.sqlite3_extended_errcode(_db));
        }
    }

    /// <summary>Binds parameter <paramref name="index"/> (1-based).</summary>
    public void Bind(int index, string value) => Check(raw.sqlite3_bind_text(_stmt, index, value));

    public void Bind(int index, long value) => Check(raw.sqlite3_bind_int64(_stmt, index, value));

    public void Bind(int index, ReadOnlySpan<byte> value) => Check(raw.sqlite3_bind_blob(_stmt, index, value));

    public void BindNull(int index) => Check(raw.sqlite3_bind_null(_stmt, index));

    public void Bind(int index, long? value)
    {
        if (value is { } v)
        {
            Bind(index, v);
        }
        else
        {
            BindNull(index);
        }
    }

    /// <summary>Binds a blob, or NULL when <paramref name="value"/> is null.</summary>
    public void BindBlobOrNull(int index, byte[]? value)
    {
        if (value is null)
        {
            BindNull(index);
        }
        else
        {
            Bind(index, value.AsSpan());
        }
    }

    public void Bind(int index, string? value, bool nullable)
    {
        if (value is null && nullable)
        {
            BindNull(index);
        }
        else
        {
            Bind(index, value!);
        }
    }

    /// <summary>Runs the statement to completion and returns the rows it changed.</summary>
    public int Execute()
    {
        var rc = raw.sqlite3_step(_stmt);
        if (rc != raw.SQLITE_DONE && rc != raw.SQLITE_ROW)
        {
            throw Failure(rc);
        }

        raw.sqlite3_reset(_stmt);
        return raw.sqlite3_changes(_db);
    }

    /// <summary>Steps a query: true with a row to read; false when it is done (the statement is then reset).</summary>
    public bool Step()
    {
        var rc = raw.sqlite3_step(_stmt);
        if (rc == raw.SQLITE_ROW)
        {
            return true;
        }

        if (rc != raw.SQLITE_DONE)
        {
            throw Failure(rc);
        }

        raw.sqlite3_reset(_stmt);
        return false;
    }

    /// <summary>Ends a query before its last row.</summary>
    public void Reset() => raw.sqlite3_reset(_stmt);

    /// <summary>Column <paramref name="index"/> (0-based) of the current row.</summary>
    public long Int64(int index) => raw.sqlite3_column_int64(_stmt, index);

    public string Text(int index) => raw.sqlite3_column_text(_stmt, index).utf8_to_string();

    public ReadOnlySpan<byte> Blob(int index) => raw.sqlite3_column_blob(_stmt, index);

    public bool IsNull(int index) => raw.sqlite3_column_type(_stmt, index) == raw.SQLITE_NULL;

    public void Dispose() => _stmt.Dispose();

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            throw new SqliteException(raw.sqlite3_errmsg(_db).utf8_to_string(), rc, raw.sqlite3_extended_errcode(_db));
        }
    }

    /// <summary>The error of a failed step, read before the reset that readies the statement for its next use.</summary>
    private SqliteException Failure(int rc)
    {
        var error = new SqliteException(raw.sqlite3_errmsg(_db).utf8_to_string(), rc, raw.sqlite3_extended_errcode(_db));
        raw.sqlite3_reset(_stmt);
        return error;
    }
}
