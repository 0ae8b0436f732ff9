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

            try
            {
                using (var transaction = _writeConnection!.BeginTransaction())
                {
                    statements.Enlist(transaction);
                    statements.BatchHighWater = 0;
                    foreach (var op in batch)
                    {
                        op.Execute(statements);
                    }

                    if (statements.BatchHighWater > 0)
                    {
                        // The sequence never goes backwards, even after every letter was acknowledged and deleted.
                        statements.SetHighWater.Bind(1, statements.BatchHighWater);
                        statements.SetHighWater.Execute();
                    }

                    transaction.Commit();
                }

                Interlocked.Increment(ref _batches);
                MarkCommitted(batch[^1].Ticket);
                foreach (var op in batch)
                {
                    op.Complete();
                }
            }
            catch (Exception ex)
            {
                SqliteLog.BatchFailed(_logger, ex, batch.Count);
                var failure = new DaakiaException(DaakiaErrorCode.Unavailable, "The store could not commit the write: " + ex.Message);
                MarkCommitted(batch[^1].Ticket);
                foreach (var op in batch)
                {
                    op.Fail(failure);
                }
            }
        }
    }

    private static bool WaitForWrites(System.Threading.Channels.ChannelReader<WriteOp> reader)
    {
        var wait = reader.WaitToReadAsync();
        return wait.IsCompleted ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }
}
