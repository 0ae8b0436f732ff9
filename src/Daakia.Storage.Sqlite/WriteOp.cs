namespace Daakia.Storage.Sqlite;

/// <summary>One write waiting for the group-commit writer. Its task completes after the batch it joined commits.</summary>
internal abstract class WriteOp
{
    /// <summary>The op's place in the store's order (assigned at enqueue).</summary>
    public long Ticket { get; set; }

    /// <summary>Runs inside the batch's transaction. A throw fails this op only (SQLite rolls back just the statement).</summary>
    public abstract void Execute(WriterStatements statements);

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

    public sealed override void Execute(WriterStatements statements)
    {
        try
        {
            Run(statements);
        }
        catch (Exception ex)
        {
            _error = ex;
        }
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
