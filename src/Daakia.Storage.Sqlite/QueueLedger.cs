using SQLitePCL;

namespace Daakia.Storage.Sqlite;

/// <summary>
/// The writer thread's view of the <c>queues</c> table: each inbox's integer key and what it holds (letters, bytes),
/// and each tenant's totals (the queue named <c>''</c>), for the quota checks. It caches committed rows and overlays
/// the current batch's changes; one update per queue touched is written per batch, not per letter. Changes of an op
/// that fails are undone here as its savepoint undoes them in SQLite, and a batch that does not commit leaves no trace.
/// </summary>
internal sealed class QueueLedger(sqlite3 db, RawStatement select, RawStatement insert, RawStatement update, int maxCached)
{
    private readonly Dictionary<(string Tenant, string Name), QueueRow> _committed = [];
    private readonly Dictionary<(string Tenant, string Name), QueueRow> _batch = [];
    private readonly List<((string, string) Key, QueueRow? Before)> _undo = [];

    /// <summary>The queue's row including this batch's changes, or null when it does not exist.</summary>
    public QueueRow? Find(string tenant, string name)
    {
        var key = (tenant, name);
        if (_batch.TryGetValue(key, out var row) || _committed.TryGetValue(key, out row))
        {
            return row;
        }

        select.Bind(1, tenant);
        select.Bind(2, name);
        try
        {
            if (!select.Step())
            {
                return null;
            }

            row = new QueueRow(select.Int64(0), select.Int64(1), select.Int64(2));
        }
        finally
        {
            select.Reset();
        }

        if (_committed.Count >= maxCached)
        {
            _committed.Clear();
        }

        _committed[key] = row;
        return row;
    }

    /// <summary>The queue's row, creating the queue (in this batch) when it does not exist.</summary>
    public QueueRow GetOrCreate(string tenant, string name)
    {
        if (Find(tenant, name) is { } row)
        {
            return row;
        }

        insert.Bind(1, tenant);
        insert.Bind(2, name);
        insert.Execute();
        row = new QueueRow(raw.sqlite3_last_insert_rowid(db), 0, 0);
        Set((tenant, name), row);
        return row;
    }

    /// <summary>Changes what a queue holds (it must exist).</summary>
    public void Add(string tenant, string name, long letters, long bytes)
    {
        var row = Find(tenant, name) ?? throw new InvalidOperationException($"Queue {tenant}/{name} does not exist.");
        Set((tenant, name), row with { Letters = row.Letters + letters, Bytes = row.Bytes + bytes });
    }

    /// <summary>An op starts: what it changes can be undone until it ends.</summary>
    public void OpStarted() => _undo.Clear();

    /// <summary>The op failed and SQLite undid its statements: undo its changes here too.</summary>
    public void OpFailed()
    {
        for (var i = _undo.Count - 1; i >= 0; i--)
        {
            var (key, before) = _undo[i];
            if (before is { } b)
            {
                _batch[key] = b;
            }
            else
            {
                _batch.Remove(key);
            }
        }

        _undo.Clear();
    }

    /// <summary>Writes this batch's rows (inside its transaction, before the commit).</summary>
    public void Flush()
    {
        foreach (var row in _batch.Values)
        {
            update.Bind(1, row.Letters);
            update.Bind(2, row.Bytes);
            update.Bind(3, row.Qid);
            update.Execute();
        }
    }

    /// <summary>The batch committed: its rows become the cached committed state (the cache stays bounded).</summary>
    public void Committed()
    {
        if (_committed.Count + _batch.Count > maxCached)
        {
            _committed.Clear();
        }

        foreach (var (key, row) in _batch)
        {
            _committed[key] = row;
        }

        _batch.Clear();
        _undo.Clear();
    }

    /// <summary>The batch did not commit: its changes, and the queues it created, never happened.</summary>
    public void RolledBack()
    {
        _batch.Clear();
        _undo.Clear();
    }

    private void Set((string, string) key, QueueRow row)
    {
        _undo.Add((key, _batch.TryGetValue(key, out var before) ? before : null));
        _batch[key] = row;
    }
}

/// <summary>A queue's integer key and what it holds.</summary>
internal readonly record struct QueueRow(long Qid, long Letters, long Bytes);
