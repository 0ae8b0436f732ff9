namespace Daakia.Storage.Sqlite;

/// <summary>One write waiting for the group-commit writer. Its task completes after the batch it joined commits.</summary>
internal abstract class WriteOp
{
    /// <summary>The op's place in the store's order (assigned at enqueue).</summary>
    public long Ticket { get; set; }

    /// <summary>Why <see cref="Execute"/> failed, if it did.</summary>
    public abstract Exception? Error { get; }

    /// <summary>
    /// Runs inside the batch's transaction. <paramref name="guarded"/>: under its own savepoint when it runs more than
    /// one statement, so that a failure undoes exactly its own changes and the rest of the batch goes on. Unguarded
    /// (the writer's first attempt at every batch), a failure that left some of its statements' changes in the
    /// transaction is reported as <see cref="OpOutcome.FailedWithChanges"/>: the writer then rolls the batch back and
    /// runs it again guarded.
    /// </summary>
    /// <remarks>A throw means the transaction is in an unknown state; the writer then fails the whole batch.</remarks>
    public abstract OpOutcome Execute(WriterStatements statements, bool guarded);

    /// <summary>Forgets the outcome of a run the writer rolled back, before it runs the op again.</summary>
    public abstract void Reset();

    public abstract void Complete();

    public abstract void Fail(Exception exception);
}

/// <summary>How one op's run inside a batch's transaction went.</summary>
internal enum OpOutcome
{
    Done,

    /// <summary>It failed and nothing of it is left in the transaction.</summary>
    Failed,

    /// <summary>It failed, unguarded, after some of its statements changed rows: only a rollback undoes them.</summary>
    FailedWithChanges,
}

/// <summary>A write with a result.</summary>
internal abstract class WriteOp<T> : WriteOp
{
    private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _error;

    protected T Result { get; set; } = default!;

    public ValueTask<T> Task => new(_done.Task);

    public sealed override Exception? Error => _error;

    /// <summary>
    /// Whether this op may run more than one statement, and so needs a savepoint to be all-or-nothing. A single
    /// statement is atomic by itself, and the hot path (a one-recipient append) skips the savepoint's two statements.
    /// </summary>
    protected abstract bool IsMultiStatement { get; }

    public sealed override OpOutcome Execute(WriterStatements statements, bool guarded)
    {
        statements.Queues.OpStarted();
        if (!guarded || !IsMultiStatement)
        {
            // A savepoint costs a copy of every page the op touches (SQLite's sub-journal), more than the op's own
            // inserts; so the writer first runs without one and tells a failure that changed nothing (a refused quota
            // is checked before the first statement) from one that left changes behind.
            var before = statements.TotalChanges;
            var pairedBefore = statements.PairedChanges;
            try
            {
                Run(statements);
                return OpOutcome.Done;
            }
            catch (Exception ex)
            {
                _error = ex;
                // A failing statement's own changes are undone by SQLite (or the whole transaction is); what counts
                // here is the statements before it, which completed and are counted in the connection's total changes.
                if (IsMultiStatement && statements.InTransaction && (statements.TotalChanges != before || statements.PairedChanges != pairedBefore))
                {
                    return OpOutcome.FailedWithChanges;
                }

                statements.Queues.OpFailed();
                return OpOutcome.Failed;
            }
        }

        statements.Savepoint.Execute();
        try
        {
            Run(statements);
        }
        catch (Exception ex)
        {
            _error = ex;
            statements.Queues.OpFailed();
            // If the failure ended the transaction the savepoint went with it; the writer sees that and fails the batch.
            if (statements.InTransaction)
            {
                statements.RollbackToSavepoint.Execute();
                statements.ReleaseSavepoint.Execute();
            }

            return OpOutcome.Failed;
        }

        statements.ReleaseSavepoint.Execute();
        return OpOutcome.Done;
    }

    public sealed override void Reset()
    {
        _error = null;
        Result = default!;
    }

    protected abstract void Run(WriterStatements statements);

    public sealed override void Complete()
    {
        if (_error is not null)
        {
            _done.TrySetException(_error);
        }
        else
        {
            _done.TrySetResult(Result);
        }
    }

    public sealed override void Fail(Exception exception) => _done.TrySetException(exception);
}
