namespace Daakia.Storage.Sqlite;

/// <summary>One write waiting for the group-commit writer. Its task completes after the batch it joined commits.</summary>
internal abstract class WriteOp
{
    /// <summary>The op's place in the store's order (assigned at enqueue).</summary>
    public long Ticket { get; set; }

    /// <summary>Why <see cref="Execute"/> failed, if it did.</summary>
    public abstract Exception? Error { get; }

    /// <summary>
    /// Runs inside the batch's transaction. Returns false when the op failed; its own changes are then undone (SQLite
    /// rolls back the one failing statement, a savepoint undoes a multi-statement op) and the rest of the batch goes
    /// on — unless the failure ended the whole transaction, which the writer checks after every failed op.
    /// </summary>
    /// <remarks>A throw means the transaction is in an unknown state; the writer then fails the whole batch.</remarks>
    public abstract bool Execute(WriterStatements statements);

    public abstract void Complete();

    public abstract void Fail(Exception exception);
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

    public sealed override bool Execute(WriterStatements statements)
    {
        statements.Queues.OpStarted();
        if (!IsMultiStatement)
        {
            try
            {
                Run(statements);
                return true;
            }
            catch (Exception ex)
            {
                _error = ex;
                statements.Queues.OpFailed();
                return false;
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

            return false;
        }

        statements.ReleaseSavepoint.Execute();
        return true;
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
