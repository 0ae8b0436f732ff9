using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite;

/// <summary>A few read connections, opened on first use. In WAL mode they read a consistent snapshot without blocking the writer.</summary>
internal sealed class ReaderPool(string connectionString, SqliteStoreOptions options) : IDisposable
{
    private readonly ConcurrentBag<SqliteConnection> _idle = [];
    private readonly ConcurrentBag<SqliteConnection> _all = [];
    private readonly SemaphoreSlim _slots = new(options.ReaderPoolSize, options.ReaderPoolSize);

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
        foreach (var c in _all)
        {
            c.Dispose();
        }

        _slots.Dispose();
    }

    internal readonly struct Lease(ReaderPool pool, SqliteConnection connection) : IDisposable
    {
        public SqliteConnection Connection => connection;

        public void Dispose()
        {
            pool._idle.Add(connection);
            pool._slots.Release();
        }
    }
}
