using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite;

/// <summary>A few read connections, opened on first use. In WAL mode they read a consistent snapshot without blocking the writer.</summary>
internal sealed class ReaderPool(string connectionString, SqliteStoreOptions options) : IDisposable
{
    private readonly ConcurrentBag<SqliteConnection> _idle = [];
    private readonly ConcurrentBag<SqliteConnection> _all = [];
    private readonly SemaphoreSlim _slots = new(options.ReaderPoolSize, options.ReaderPoolSize);

    // The hot reads' commands, one per connection and SQL text: a command keeps its statement prepared between runs,
    // so those reads are not parsed and planned again each time (a connection is used by one lease at a time).
    private readonly ConcurrentDictionary<(SqliteConnection, string), SqliteCommand> _prepared = new();

    public async ValueTask<Lease> RentAsync(CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (!_idle.TryTake(out var connection))
        {
            try
            {
                connection = new SqliteConnection(connectionString);
                connection.Open();
                Schema.Configure(connection, options.Durability);
                _all.Add(connection);
            }
            catch
            {
                _slots.Release();
                throw;
            }
        }

        return new Lease(this, connection);
    }

    public void Dispose()
    {
        foreach (var command in _prepared.Values)
        {
            command.Dispose();
        }

        foreach (var c in _all)
        {
            c.Dispose();
        }

        _slots.Dispose();
    }

    internal readonly struct Lease(ReaderPool pool, SqliteConnection connection) : IDisposable
    {
        public SqliteConnection Connection => connection;

        /// <summary>
        /// This connection's command for <paramref name="sql"/>, made (with the parameters <paramref name="declare"/>
        /// adds) on first use and kept prepared: the caller sets the parameters' values and disposes its readers, never
        /// the command.
        /// </summary>
        public SqliteCommand Prepared(string sql, Action<SqliteParameterCollection> declare)
        {
            if (pool._prepared.TryGetValue((connection, sql), out var command))
            {
                return command;
            }

            command = connection.CreateCommand();
            command.CommandText = sql;
            declare(command.Parameters);
            pool._prepared[(connection, sql)] = command;
            return command;
        }

        public void Dispose()
        {
            pool._idle.Add(connection);
            pool._slots.Release();
        }
    }
}
