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
    private void WriterLoop(object? state)
    {
        var statements = (WriterStatements)state!;
        try
        {
            RunBatches(statements);
        }
        catch (Exception ex)
        {
            // Whatever stopped the loop (a rollback that failed, a bug), nothing queued will ever commit now.
            EnterFaultedState(ex);
        }
        finally
        {
            statements.Dispose();
            _writerDone.TrySetResult();
        }
    }

    /// <summary>
    /// Puts the store into its faulted state: the batch in hand, every queued write and every read waiting for them fail
    /// now with <see cref="DaakiaErrorCode.Unavailable"/>, and so does every later call.
    /// </summary>
    private void EnterFaultedState(Exception cause)
    {
        var reason = "The store's writer stopped: " + cause.Message;
        lock (_enqueueGate)
        {
            _fault = reason;
            _writes.Writer.TryComplete();
        }

        SqliteLog.WriterFaulted(_logger, cause, reason);
        var failure = Faulted(reason);
        foreach (var op in _batch)
        {
            op.Fail(failure);
        }

        _batch.Clear();
        while (_writes.Reader.TryRead(out var queued))
        {
            queued.Fail(failure);
        }

        lock (_commitGate)
        {
            foreach (var (_, done) in _commitWaiters)
            {
                done.TrySetException(failure);
            }

            _commitWaiters.Clear();
        }
    }

    private void RunBatches(WriterStatements statements)
    {
        var reader = _writes.Reader;
        var batch = _batch;
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
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var failure = CommitBatch(statements, batch);
            _commitSeconds.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
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

            batch.Clear();
        }
    }

    /// <summary>Runs a batch in one transaction and commits it: null when it did, else why none of it is durable.</summary>
    /// <remarks>
    /// The ops first run without savepoints. An op that fails after some of its statements changed rows cannot be
    /// undone alone then, so the batch is rolled back and run again with a savepoint around every multi-statement op
    /// (the failing op is undone by its savepoint and the rest commits, as if it had been guarded from the start).
    /// </remarks>
    private DaakiaException? CommitBatch(WriterStatements statements, List<WriteOp> batch)
    {
        var guarded = false;
        try
        {
            while (true)
            {
                statements.Unwritten = 0;
                if (!guarded && _options.PairAcks)
                {
                    AckPairing.Plan(batch, statements.PairingScratch);
                }

                statements.Begin.Execute();
                var rerun = false;
                foreach (var op in batch)
                {
                    var outcome = op.Execute(statements, guarded);
                    if (outcome == OpOutcome.Done)
                    {
                        continue;
                    }

                    if (!statements.InTransaction)
                    {
                        // The failure rolled back the whole transaction, not just its statement (SQLITE_FULL, I/O,
                        // out-of-memory, busy): what ran before it is undone, and what ran after it would autocommit one
                        // statement at a time. So nothing of the batch is durable, and the rest of it must not run.
                        statements.Queues.RolledBack();
                        return BatchFailed(batch.Count, op.Error!);
                    }

                    if (outcome == OpOutcome.FailedWithChanges)
                    {
                        rerun = true;
                        break;
                    }
                }

                // A paired entry still booked but not taken (its delete failed before reaching it) would commit as
                // counted and never written: the batch runs again without pairing.
                rerun = rerun || AckPairing.AnyLeft(batch);
                if (rerun)
                {
                    statements.Rollback.Execute();
                    statements.Queues.RolledBack();
                    AckPairing.Clear(batch);
                    foreach (var op in batch)
                    {
                        op.Reset();
                    }

                    guarded = true;
                    Interlocked.Increment(ref _guardedReruns);
                    continue;
                }

                // Usage and last positions, one update per queue touched: positions never go backwards, even after every
                // entry of a queue was acknowledged and deleted.
                statements.Queues.Flush();
                statements.Commit.Execute();
                statements.Queues.Committed();
                Interlocked.Increment(ref _batches);
                Interlocked.Add(ref _committedWrites, batch.Count);
                Interlocked.Add(ref _unwritten, statements.Unwritten);
                return null;
            }
        }
        catch (Exception ex)
        {
            var failure = BatchFailed(batch.Count, ex);
            statements.Queues.RolledBack();
            // COMMIT can fail and leave the transaction open (busy); other failures may already have ended it. A
            // rollback that fails leaves the connection in an unknown state, so it escapes and stops the writer.
            if (statements.InTransaction)
            {
                statements.Rollback.Execute();
            }

            return failure;
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
