using SQLitePCL;

namespace Daakia.Storage.Sqlite;

/// <summary>
/// The writer thread's view of the <c>queues</c> table: each queue's integer key, what it holds (entries, bytes) and
/// the last position it gave out, and each tenant's totals (kind <see cref="Schema.TenantTotalsKind"/>, name
/// <c>''</c>) and its named queues' totals (kind <see cref="Schema.TenantQueueTotalsKind"/>), for the quota checks and the position allocation. It caches committed rows and overlays the current
/// batch's changes; one update per queue touched is written per batch, not per entry. Changes of an op that fails are
/// undone here as its savepoint undoes them in SQLite, and a batch that does not commit leaves no trace (so a position
/// handed to a write that did not commit is given out again: nobody saw it).
/// </summary>
internal sealed class QueueLedger(sqlite3 db, RawStatement select, RawStatement insert, RawStatement update, int maxCached)
{
    private readonly Dictionary<QueueName, QueueRow> _committed = [];
    private readonly Dictionary<QueueName, QueueRow> _batch = [];
    private readonly List<(QueueName Key, QueueRow? Before)> _undo = [];

    /// <summary>The queue's row including this batch's changes, or null when it does not exist.</summary>
    public QueueRow? Find(QueueName key)
    {
        if (_batch.TryGetValue(key, out var row) || _committed.TryGetValue(key, out row))
        {
            return row;
        }

        select.Bind(1, key.Tenant);
        select.Bind(2, key.Kind);
        select.Bind(3, key.Name);
        try
        {
            if (!select.Step())
            {
                return null;
            }

            row = new QueueRow(select.Int64(0), select.Int64(1), select.Int64(2), select.Int64(3));
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
    public QueueRow GetOrCreate(QueueName key)
    {
        if (Find(key) is { } row)
        {
            return row;
        }

        insert.Bind(1, key.Tenant);
        insert.Bind(2, key.Kind);
        insert.Bind(3, key.Name);
        insert.Execute();
        row = new QueueRow(raw.sqlite3_last_insert_rowid(db), 0, 0, 0);
        Set(key, row);
        return row;
    }

    /// <summary>Changes what a totals row holds, making it first if it is missing.</summary>
    public void AddOrCreate(QueueName key, long entries, long bytes)
    {
        GetOrCreate(key);
        Add(key, entries, bytes);
    }

    /// <summary>Changes what a queue holds (it must exist).</summary>
    public void Add(QueueName key, long entries, long bytes)
    {
        var row = Find(key) ?? throw new InvalidOperationException($"Queue {key} does not exist.");
        Set(key, row with { Entries = row.Entries + entries, Bytes = row.Bytes + bytes });
    }

    /// <summary>
    /// Gives out the queue's next position and books one more entry of <paramref name="bytes"/> (it must exist).
    /// Returns the queue's row after it: its <see cref="QueueRow.LastPosition"/> is the position given out.
    /// </summary>
    public QueueRow Push(QueueName key, long bytes)
    {
        var row = Find(key) ?? throw new InvalidOperationException($"Queue {key} does not exist.");
        row = new QueueRow(row.Qid, row.Entries + 1, row.Bytes + bytes, row.LastPosition + 1);
        Set(key, row);
        return row;
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
            update.Bind(1, row.Entries);
            update.Bind(2, row.Bytes);
            update.Bind(3, row.LastPosition);
            update.Bind(4, row.Qid);
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

    private void Set(QueueName key, QueueRow row)
    {
        _undo.Add((key, _batch.TryGetValue(key, out var before) ? before : null));
        _batch[key] = row;
    }
}

/// <summary>A queue's key as the <c>queues</c> table spells it (a tenant's totals: <see cref="Schema.TenantTotalsKind"/>,
/// <c>''</c>; its named queues' totals: <see cref="Schema.TenantQueueTotalsKind"/>, <c>''</c>).</summary>
internal readonly record struct QueueName(string Tenant, int Kind, string Name)
{
    public static QueueName Of(Core.QueueKey key) => new(key.Tenant.Value, (int)key.Kind, key.Name);

    public static QueueName TotalsOf(string tenant) => new(tenant, Schema.TenantTotalsKind, "");

    /// <summary>The row of what the tenant's named queues hold together.</summary>
    public static QueueName NamedQueueTotalsOf(string tenant) => new(tenant, Schema.TenantQueueTotalsKind, "");

    /// <summary>Whether this is a named queue (its entries count in <see cref="NamedQueueTotalsOf"/>).</summary>
    public bool IsNamedQueue => Kind == (int)Core.QueueKind.Queue;

    public override string ToString() => $"{Tenant}/{Kind}/{Name}";
}

/// <summary>A queue's integer key, what it holds, and the last position it gave out.</summary>
internal readonly record struct QueueRow(long Qid, long Entries, long Bytes, long LastPosition);
