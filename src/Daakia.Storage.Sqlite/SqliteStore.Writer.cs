using Daakia.Core;

namespace Daakia.Storage.Sqlite;

public sealed partial class SqliteStore
{
    /// <summary>
    /// The single writer: takes everything queued (up to the batch size), runs it in one transaction, commits once
    /// (one fsync at <see cref="SqliteDurability.Fsync"/>), then completes the batch's waiters. While a batch commits,
    /// the next one queues up, so the batch size follows the load by itself.
    /// </summary>
    /// <remarks>A dedicated thread: commits block on fsync, which must not hold a thread-pool thread.</remarks>
    private void WriterLoop()
    {
        try
        {
            RunBatches();
            _writerDone.TrySetResult();
        }
        catch (Exception ex)
        {
            _writerDone.TrySetException(ex);
        }
    }

    private void RunBatches()
    {
        var reader = _writes.Reader;
        var batch = new List<WriteOp>(_options.MaxBatchSize);
        using var statements = new WriterStatements(_writeConnection!);
        while (WaitForWrites(reader))
        {
            batch.Clear();
            while (batch.Count < _options.MaxBatchSize && reader.TryRead(out var op))
            {
                batch.Add(op);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            BeforeBatchForTest?.Invoke(batch.Count);
            var failure = CommitBatch(statements, batch);
            MarkCommitted(batch[^1].Ticket);
            foreach (var op in batch)
            {
                if (failure is null)
                {
                    op.Complete();
                }
                else
                {
                    op.Fail(failure);
                }
            }
        }
    }

    /// <summary>Runs a batch in one transaction and commits it: null when it did, else why none of it is durable.</summary>
    private DaakiaException? CommitBatch(WriterStatements statements, List<WriteOp> batch)
    {
        try
        {
            statements.Begin.Execute();
            statements.BatchHighWater = 0;
            foreach (var op in batch)
            {
                if (!op.Execute(statements) && !statements.InTransaction)
                {
                    // The failure rolled back the whole transaction, not just its statement (SQLITE_FULL, I/O,
                    // out-of-memory, busy): what ran before it is undone, and what ran after it would autocommit one
                    // statement at a time. So nothing of the batch is durable, and the rest of it must not run.
                    return BatchFailed(batch.Count, op.Error!);
                }
            }

            if (statements.BatchHighWater > 0)
            {
                // The sequence never goes backwards, even after every letter was acknowledged and deleted.
                statements.SetHighWater.Bind(1, statements.BatchHighWater);
                statements.SetHighWater.Execute();
            }

            statements.Commit.Execute();
            Interlocked.Increment(ref _batches);
            return null;
        }
        catch (Exception ex)
        {
            // COMMIT can fail and leave the transaction open (busy); other failures may already have ended it.
            if (statements.InTransaction)
            {
                statements.Rollback.Execute();
            }

            return BatchFailed(batch.Count, ex);
        }
    }

    private DaakiaException BatchFailed(int count, Exception cause)
    {
        SqliteLog.BatchFailed(_logger, cause, count);
        return new DaakiaException(DaakiaErrorCode.Unavailable, "The store could not commit the write: " + cause.Message);
    }

    private static bool WaitForWrites(System.Threading.Channels.ChannelReader<WriteOp> reader)
    {
        var wait = reader.WaitToReadAsync();
        return wait.IsCompleted ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }
}
