using System.Threading.Channels;
using Daakia.Core;
using Daakia.Core.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Daakia.Storage.Sqlite;

/// <summary>
/// The embedded default store: one SQLite database in WAL mode in the data directory. All writes go through one
/// writer loop that commits whatever has queued up — up to <see cref="SqliteStoreOptions.MaxBatchSize"/> writes — in
/// one transaction with one fsync (group commit), then completes every waiter of the batch. Reads use a small pool of
/// read connections and first wait until every write enqueued before them has committed (the store's order contract).
/// If the writer thread ever stops, the store faults (<see cref="IStoreHealth"/>): every waiting and later call fails
/// with <see cref="DaakiaErrorCode.Unavailable"/> instead of waiting for a commit that will never come.
/// </summary>
public sealed partial class SqliteStore : IDaakiaStore, IStoreHealth
{
    private readonly SqliteStoreOptions _options;
    private readonly ILogger _logger;
    private readonly Channel<WriteOp> _writes = Channel.CreateUnbounded<WriteOp>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _enqueueGate = new();
    private readonly Lock _commitGate = new();
    private readonly List<(long Ticket, TaskCompletionSource Done)> _commitWaiters = [];
    private long _enqueued;
    private long _committed;
    private long _batches;
    private long _committedWrites;
    private long _unwritten;
    private long _guardedReruns;
    private readonly System.Diagnostics.Metrics.Meter _meter = new(MeterName);
    private readonly System.Diagnostics.Metrics.Histogram<double> _commitSeconds;
    private readonly TaskCompletionSource _writerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // The batch the writer has taken (touched by the writer thread only), so that a fault can fail it.
    private readonly List<WriteOp> _batch = [];
    private SqliteConnection? _writeConnection;
    private volatile bool _closed = true;
    private volatile string? _fault;

    /// <exception cref="ArgumentException">A setting of <paramref name="options"/> is out of range (the message names it).</exception>
    public SqliteStore(SqliteStoreOptions options, ILogger<SqliteStore>? logger = null)
    {
        SqliteStoreOptions.Validate(options);
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _readers = new ReaderPool(ConnectionString, options);
        // Read when scraped: the writer only increments plain counters.
        _meter.CreateObservableCounter("commits", () => Interlocked.Read(ref _batches), description: "Transactions the store's writer committed (each one fsync at durability fsync).");
        _meter.CreateObservableCounter("writes", () => Interlocked.Read(ref _committedWrites), description: "Writes (appends, acks, returns, units of work, …) committed; writes per commit is the group commit's batch size.");
        _commitSeconds = Core.Storage.StoreMetrics.CommitDuration(_meter);
        _meter.CreateObservableCounter("letters.unwritten", () => Interlocked.Read(ref _unwritten), description: "Letters acknowledged by their recipient within the commit that appended them: neither the letter nor its removal was written.");
    }

    /// <summary>The store's meter: <c>daakia_store_commits</c> and <c>daakia_store_writes</c> on <c>/metrics</c>.</summary>
    public const string MeterName = "Daakia.Store";

    /// <summary>False once the writer thread has stopped; see <see cref="Fault"/>.</summary>
    public bool IsHealthy => _fault is null;

    public string? Fault => _fault;

    /// <summary>Committed batches so far (each is one transaction and one fsync).</summary>
    internal long Batches => Interlocked.Read(ref _batches);

    /// <summary>Letters appended and acknowledged within one commit, so never written (<see cref="AckPairing"/>).</summary>
    internal long Unwritten => Interlocked.Read(ref _unwritten);

    /// <summary>Batches rolled back and run again with a savepoint per op, because an op failed after changing rows.</summary>
    internal long GuardedReruns => Interlocked.Read(ref _guardedReruns);

    /// <summary>Test hook: runs on the writer connection when the store opens (e.g. to cap the database size).</summary>
    internal Action<SqliteConnection>? ConfigureWriterForTest { get; init; }

    /// <summary>Test hook: runs on the writer thread with each batch before it executes; a throw kills the writer.</summary>
    internal Action<int>? BeforeBatchForTest { get; set; }

    /// <summary>Test hook: runs on the reading thread after a committed-snapshot read has its rows, before it returns
    /// (a read that stalls while writes commit).</summary>
    internal Action? AfterCommittedReadForTest { get; set; }

    internal string DatabasePath => Path.Combine(_options.DataDirectory, "daakia.db");

    private string ConnectionString => new SqliteConnectionStringBuilder
    {
        DataSource = DatabasePath,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        // Each connection is owned for the store's lifetime; pooling would only keep file handles after dispose.
        Pooling = false,
    }.ToString();

    public ValueTask OpenAsync(CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(_options.DataDirectory);
        var connection = new SqliteConnection(ConnectionString);
        WriterStatements statements;
        try
        {
            connection.Open();
            Schema.Configure(connection, _options.Durability);
            Schema.Create(connection);
            ConfigureWriterForTest?.Invoke(connection);
            // Prepared here so that a store that cannot write fails to open, rather than faulting right after.
            statements = new WriterStatements(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }

        _writeConnection = connection;
        _closed = false;
        new Thread(WriterLoop) { IsBackground = true, Name = "daakia-store-writer" }.Start(statements);
        SqliteLog.Opened(_logger, DatabasePath, _options.Durability.ToString());
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) =>
        _closed ? ValueTask.CompletedTask : new ValueTask(Enqueue(new FlushOp()).AsTask());

    public async ValueTask DisposeAsync()
    {
        if (_closed)
        {
            _meter.Dispose();
            return;
        }

        _closed = true;
        lock (_enqueueGate)
        {
            _writes.Writer.TryComplete();
        }

        await _writerDone.Task;
        _writeConnection?.Dispose();
        _readers.Dispose();
        _meter.Dispose();
    }

    public ValueTask<IReadOnlyList<long>> AppendAsync(Letter message, IReadOnlyList<QueueKey> queues, InboxQuota? quota = null, CancellationToken cancellationToken = default) =>
        Enqueue(new QueueAppendOp(message, queues, quota ?? InboxQuota.None));

    public ValueTask<int> DeleteAsync(QueueKey queue, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default) =>
        Enqueue(new QueueDeleteOp(queue, messageIds));

    public ValueTask<int> ReturnAsync(QueueKey queue, IReadOnlyList<ReturnedEntry> entries, CancellationToken cancellationToken = default) =>
        Enqueue(new QueueReturnOp(queue, entries));

    public ValueTask<int> DeadLetterAsync(QueueKey from, QueueKey to, IReadOnlyList<Guid> messageIds, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        Enqueue(new DeadLetterOp(from, to, messageIds, at));

    public ValueTask<IReadOnlyList<StoreOpResult>> WriteAsync(IReadOnlyList<StoreOp> ops, CancellationToken cancellationToken = default) =>
        Enqueue(new UnitOfWorkOp(ops));

    public ValueTask<IReadOnlyList<ExpiredEntry>> RemoveExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default) =>
        Enqueue(new RemoveExpiredOp(now, limit));

    public ValueTask RecordSeenAsync(TenantId tenant, ClientId client, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        new(Enqueue(new RecordSeenOp(tenant, client, at)).AsTask());

    public ValueTask<int> PruneActivityAsync(DateTimeOffset olderThan, long keepEntries, int limit, CancellationToken cancellationToken = default) =>
        Enqueue(new PruneActivityOp(olderThan, keepEntries, limit));

    public ValueTask AppendActivityAsync(IReadOnlyList<ActivityEntry> entries, CancellationToken cancellationToken = default) =>
        new(Enqueue(new AppendActivityOp(entries)).AsTask());

    /// <summary>Queues a write; its place in the store's order is fixed before this returns.</summary>
    private ValueTask<T> Enqueue<T>(WriteOp<T> op)
    {
        lock (_enqueueGate)
        {
            ThrowIfUnavailable();
            // Ticket and channel position are assigned together, so "committed through ticket N" means every earlier op.
            op.Ticket = ++_enqueued;
            if (!_writes.Writer.TryWrite(op))
            {
                _enqueued--;
                throw new DaakiaException(DaakiaErrorCode.Unavailable, "The store is closed.");
            }
        }

        return op.Task;
    }

    /// <summary>Completes when every write enqueued before this call has committed.</summary>
    private ValueTask WaitForPriorWritesAsync()
    {
        var ticket = Volatile.Read(ref _enqueued);
        if (Volatile.Read(ref _committed) >= ticket)
        {
            return ValueTask.CompletedTask;
        }

        lock (_commitGate)
        {
            if (_committed >= ticket)
            {
                return ValueTask.CompletedTask;
            }

            // Checked under the gate the fault takes to fail the waiters, so no waiter is added after that.
            if (_fault is { } fault)
            {
                return ValueTask.FromException(Faulted(fault));
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _commitWaiters.Add((ticket, done));
            return new ValueTask(done.Task);
        }
    }

    private void MarkCommitted(long ticket)
    {
        lock (_commitGate)
        {
            _committed = ticket;
            for (var i = _commitWaiters.Count - 1; i >= 0; i--)
            {
                if (_commitWaiters[i].Ticket <= ticket)
                {
                    _commitWaiters[i].Done.TrySetResult();
                    _commitWaiters.RemoveAt(i);
                }
            }
        }
    }

    private void ThrowIfUnavailable()
    {
        if (_fault is { } fault)
        {
            throw Faulted(fault);
        }

        if (_closed)
        {
            throw new DaakiaException(DaakiaErrorCode.Unavailable, "The store is closed.");
        }
    }

    private static DaakiaException Faulted(string fault) => new(DaakiaErrorCode.Unavailable, fault);
}
