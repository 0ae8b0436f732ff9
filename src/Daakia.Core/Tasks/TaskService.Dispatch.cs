using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>Dispatch (waiting tasks to workers with room), the workers' side (started, progress, results), the end of a
/// task, and the timer (timeouts, cancel deadlines, retention).</summary>
public sealed partial class TaskService
{
    /// <summary>Most waiting tasks one dispatch looks at (tasks whose requirements no worker with room meets are passed
    /// over, so a big task does not hold up the small ones behind it).</summary>
    private const int DispatchScan = 1024;

    /// <summary>
    /// Hands waiting tasks of a service, in order, to workers with room that meet their requirements: the least loaded
    /// (running / capacity), round robin among equals (caller holds the lock). The assignment goes to the worker at once;
    /// its record (state, attempt, worker) and the lease on the queue entry (<see cref="ReturnOp"/>: the delivery count is
    /// the attempt) are written behind it.
    /// </summary>
    private void Dispatch(TenantState t, ServiceState s, DateTimeOffset now)
    {
        if (s.QueuedCount == 0 || s.Workers.Count == 0)
        {
            return;
        }

        List<StoreOp>? ops = null;
        HashSet<WorkerState>? blocked = null;
        var scanned = 0;
        var emptied = false;
        foreach (var list in s.Waiting.Values)
        {
            for (var i = 0; i < list.Count && scanned < DispatchScan;)
            {
                var task = list[i];
                scanned++;
                var w = PickWorker(s, task, blocked);
                if (w is null)
                {
                    if (!AnyRoom(s, blocked))
                    {
                        goto Done;
                    }

                    i++;
                    continue;
                }

                var deadline = task.Timeout is { } timeout ? now + timeout : (DateTimeOffset?)null;
                var assignment = new TaskAssignment(task.Id, task.Service, task.Submitter, task.Payload.Payload, task.Payload.ContentType, task.Attempts + 1, task.Priority, deadline);
                if (!w.Target.TryAssign(assignment))
                {
                    // Its outbox is full: not this worker for now (the task keeps its place).
                    (blocked ??= []).Add(w);
                    continue;
                }

                list.RemoveAt(i);
                emptied |= list.Count == 0;
                s.QueuedCount--;
                s.RunningCount++;
                task.State = TaskState.Assigned;
                task.Attempts++;
                task.Worker = w;
                task.WorkerClient = w.Connection.Client;
                task.AssignedAt = now;
                w.Running.Add(task.Id);
                ops ??= [];
                ops.Add(TaskRecords.Put(t.Id, task));
                ops.Add(new ReturnOp(QueueOf(t.Id, task.Service), [new ReturnedEntry(task.Id, task.Attempts)]));
                ops.Add(new ActivityOp([Activity(t.Id, now, ActivityKinds.TaskAssigned, w.Connection.Client, task, w.Connection.Id.ToString())]));
            }
        }

    Done:
        if (emptied)
        {
            foreach (var level in s.Waiting.Where(static p => p.Value.Count == 0).Select(static p => p.Key).ToList())
            {
                s.Waiting.Remove(level);
            }
        }

        if (ops is not null)
        {
            Background(ops);
        }
    }

    private static WorkerState? PickWorker(ServiceState s, TaskItem task, HashSet<WorkerState>? blocked)
    {
        WorkerState? best = null;
        var bestLoad = double.MaxValue;
        var bestIndex = 0;
        var n = s.Workers.Count;
        for (var k = 0; k < n; k++)
        {
            var i = (s.Cursor + k) % n;
            var w = s.Workers[i];
            if (!w.HasRoom || w.Connection.Removed || (blocked?.Contains(w) ?? false) || !task.Requirements.MetBy(w.Resources))
            {
                continue;
            }

            var load = (double)w.Running.Count / w.Capacity;
            if (load < bestLoad)
            {
                (best, bestLoad, bestIndex) = (w, load, i);
            }
        }

        if (best is not null)
        {
            s.Cursor = (bestIndex + 1) % n;
        }

        return best;
    }

    private static bool AnyRoom(ServiceState s, HashSet<WorkerState>? blocked)
    {
        foreach (var w in s.Workers)
        {
            if (w.HasRoom && !w.Connection.Removed && !(blocked?.Contains(w) ?? false))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Ends a task (caller holds the lock): its worker's slot is freed, and into <paramref name="ops"/> go the delete of
    /// its queue entry, its final record, the activity entry, and the result letter to the submitter's inbox (headers
    /// <c>task-id</c>, <c>task-state</c>, <c>task-service</c>, <c>task-error</c>; the result as the payload, JSON
    /// <c>null</c> when there is none).
    /// </summary>
    private void Finish(TenantState t, TaskBoard b, TaskItem item, TaskState state, ReadOnlyMemory<byte> result, string contentType, string? error, ClientId? actor, DateTimeOffset now, List<StoreOp> ops)
    {
        if (item.Worker is { } w)
        {
            w.Running.Remove(item.Id);
            if (b.Services.TryGetValue(item.Service, out var s))
            {
                s.RunningCount--;
            }

            item.Worker = null;
        }

        item.State = state;
        item.FinishedAt = now;
        item.Result = result.ToArray();
        item.ResultContentType = contentType;
        item.Error = error;
        b.Open--;
        b.Bytes += item.Result.Length - item.Payload.Payload.Length;
        item.Payload = new Letter { Id = item.Id, Tenant = t.Id, Author = item.Submitter, Recipients = [], Payload = ReadOnlyMemory<byte>.Empty, Timestamp = item.SubmittedAt };
        item.FinishedNode = b.Finished.AddLast(item);

        var headers = new List<KeyValuePair<string, string>>(4)
        {
            new("task-id", TaskRecords.Key(item.Id)),
            new("task-state", StateName(state)),
            new("task-service", item.Service),
        };
        if (error is not null)
        {
            headers.Add(new("task-error", error));
        }

        var letter = new Letter
        {
            Id = MessageIds.New(now),
            Tenant = t.Id,
            Author = item.WorkerClient ?? item.Submitter,
            Recipients = [item.Submitter],
            Payload = result.Length > 0 ? item.Result : "null"u8.ToArray(),
            ContentType = result.Length > 0 ? contentType : Letter.JsonContentType,
            Headers = headers,
            Timestamp = now,
            ExpiresAt = _options.DefaultLetterTtl > TimeSpan.Zero ? now + _options.DefaultLetterTtl : null,
        };
        ops.Add(new DeleteOp(QueueOf(t.Id, item.Service), [item.Id]));
        ops.Add(TaskRecords.Put(t.Id, item));
        ops.Add(new ActivityOp([Activity(t.Id, now, FinalKind(state), actor, item, error)]));

        // The result is bounded by the task limits, not the inbox quota: a full inbox must not lose a finished task's end.
        ops.Add(new AppendOp(letter, [QueueKey.Inbox(t.Id, item.Submitter)]));
        if (b.Finished.Count > _options.MaxFinishedTasksPerTenant)
        {
            ForgetFinished(t, b, now, 0);
        }
    }

    /// <summary>A task's state as the adapters and letters name it.</summary>
    public static string StateName(TaskState state) => state switch
    {
        TaskState.Queued => "queued",
        TaskState.Assigned => "assigned",
        TaskState.Running => "running",
        TaskState.Succeeded => "succeeded",
        TaskState.Failed => "failed",
        TaskState.Cancelled => "cancelled",
        _ => "timed_out",
    };

    private static string FinalKind(TaskState state) => state switch
    {
        TaskState.Succeeded => ActivityKinds.TaskSucceeded,
        TaskState.Failed => ActivityKinds.TaskFailed,
        TaskState.Cancelled => ActivityKinds.TaskCancelled,
        _ => ActivityKinds.TaskTimedOut,
    };

    /// <summary>Puts a task whose worker was lost back in front of its level (caller holds the lock); the lease ends
    /// with its attempt counted (<see cref="ReturnOp"/>).</summary>
    private static void Requeue(TenantState t, ServiceState s, TaskItem item, DateTimeOffset now, List<StoreOp> ops)
    {
        item.Worker?.Running.Remove(item.Id);
        s.RunningCount--;
        item.Worker = null;
        item.WorkerClient = null;
        item.AssignedAt = null;
        item.Progress = null;
        item.ProgressNote = null;
        Wait(s, item, TaskPlacement.Front);
        ops.Add(TaskRecords.Put(t.Id, item));
        ops.Add(new ReturnOp(QueueOf(t.Id, item.Service), [new ReturnedEntry(item.Id, item.Attempts)]));
        ops.Add(new ActivityOp([Activity(t.Id, now, ActivityKinds.TaskRequeued, null, item, $"attempt {item.Attempts}")]));
    }

    /// <summary>Forgets finished tasks past their retention, past the count bound, or to free <paramref name="bytes"/>
    /// (caller holds the lock); their records' deletes are written behind.</summary>
    private void ForgetFinished(TenantState t, TaskBoard b, DateTimeOffset now, long bytes)
    {
        List<StoreOp>? ops = null;
        while (b.Finished.First is { } first)
        {
            var item = first.Value;
            var old = item.FinishedAt + _options.FinishedTaskRetention <= now;
            if (!old && b.Finished.Count <= _options.MaxFinishedTasksPerTenant && (bytes == 0 || b.Bytes + bytes <= _options.MaxTenantTaskBytes))
            {
                break;
            }

            b.Finished.RemoveFirst();
            b.Tasks.Remove(item.Id);
            b.Bytes -= item.Result.Length;
            (ops ??= []).Add(TaskRecords.Delete(t.Id, item.Id));
        }

        if (ops is not null)
        {
            Background(ops);
        }
    }

    /// <summary>A unit of work nobody waits for (started under the lock: its place in store order is fixed now).</summary>
    private void Background(List<StoreOp> ops) =>
        _engine.RunInBackground(() => new ValueTask(_store.WriteAsync(ops).AsTask()), "tasks");

    /// <summary>Starts a unit of work (caller holds the lock) and lets the windows of submitters whose inbox it appends to
    /// read the result letters once stored.</summary>
    private Task Commit(TenantState t, List<StoreOp> ops, bool background, ref List<ClientConnection>? toClose)
    {
        Task write;
        if (background)
        {
            Background(ops);
            write = Task.CompletedTask;
        }
        else
        {
            write = _store.WriteAsync(ops).AsTask();
        }

        foreach (var op in ops)
        {
            if (op is AppendOp { Queues: [{ Kind: QueueKind.Inbox } inbox] })
            {
                _engine.LetterStored(t, ClientId.Parse(inbox.Name), ref toClose);
            }
        }

        return write;
    }

    /// <summary>The task <paramref name="worker"/> holds (caller holds the lock; its submit may not be durable yet), else
    /// refused.</summary>
    private static TaskItem Owned(TenantState t, ClientConnection worker, Guid id)
    {
        if (t.Tasks is not { } b || !b.Tasks.TryGetValue(id, out var item))
        {
            throw new DaakiaException(DaakiaErrorCode.NotFound, $"No task '{id:N}'.");
        }

        if (item.IsFinal || item.Worker is null || !ReferenceEquals(item.Worker.Connection, worker))
        {
            throw new DaakiaException(DaakiaErrorCode.Forbidden, $"Task '{id:N}' is not assigned to this connection (it finished, was re-queued or went to another worker).");
        }

        return item;
    }

    /// <summary>A worker says it started a task it was assigned (assigned → running).</summary>
    public void Started(ClientConnection worker, Guid id) => ReportProgress(worker, id, null, null);

    /// <summary>A worker's progress on a task it holds (0 to 1, and a note); the task is running from then on. Progress
    /// is kept in memory only; the change to running is written.</summary>
    public void ReportProgress(ClientConnection worker, Guid id, double? progress, string? note)
    {
        ArgumentNullException.ThrowIfNull(worker);
        if (progress is { } p && (double.IsNaN(p) || p < 0 || p > 1))
        {
            throw DaakiaException.Invalid("Progress is between 0 and 1.");
        }

        if (note is { Length: > MaxTextLength })
        {
            throw DaakiaException.Invalid($"A progress note is at most {MaxTextLength} characters.");
        }

        var t = _engine.Tenant(worker.Tenant);
        lock (t.Gate)
        {
            var item = Owned(t, worker, id);
            item.Progress = progress ?? item.Progress;
            item.ProgressNote = note ?? item.ProgressNote;
            if (item.State == TaskState.Assigned)
            {
                item.State = TaskState.Running;
                Background([TaskRecords.Put(t.Id, item)]);
            }
        }
    }

    /// <summary>
    /// A worker ends a task it holds: succeeded with a result, failed with an error, or cancelled (confirming a cancel or
    /// a timeout: the task ends as what was asked). Refused (<see cref="DaakiaErrorCode.Forbidden"/>) from a connection
    /// that does not hold the task. Completes once the end is durable, with the result letter in the submitter's inbox.
    /// </summary>
    public async Task<TaskInfo> CompleteAsync(ClientConnection worker, Guid id, TaskOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(outcome);
        _engine.EnsureAccepting();
        if (outcome.Result.Length > _options.MaxTaskResultBytes)
        {
            throw new DaakiaException(DaakiaErrorCode.PayloadTooLarge, $"A task's result may be at most {_options.MaxTaskResultBytes} bytes.");
        }

        if (outcome.Error is { Length: > MaxTextLength })
        {
            throw DaakiaException.Invalid($"A task's error is at most {MaxTextLength} characters.");
        }

        var t = _engine.Tenant(worker.Tenant);
        List<ClientConnection>? toClose = null;
        Task write;
        TaskInfo info;
        Task? submit;
        lock (t.Gate)
        {
            var item = Owned(t, worker, id);
            submit = item.Durable ? null : item.Stored;
        }

        if (submit is not null)
        {
            // Assigned before its submit committed: its end is written only after the submit (a failed submit withdraws
            // the task, and Owned below refuses it).
            await submit.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        var now = _time.GetUtcNow();
        lock (t.Gate)
        {
            var item = Owned(t, worker, id);
            if (submit is not null)
            {
                if (!submit.IsCompletedSuccessfully)
                {
                    throw new DaakiaException(DaakiaErrorCode.NotFound, $"No task '{id:N}' (its submit was not stored).");
                }

                item.Durable = true;
            }

            var b = t.Tasks!;
            var state = outcome.Kind switch
            {
                TaskOutcomeKind.Succeeded => TaskState.Succeeded,
                TaskOutcomeKind.Failed => TaskState.Failed,
                _ => item.CancelDeadline is null ? TaskState.Cancelled : item.StopAs,
            };
            var ops = new List<StoreOp>(4);
            Finish(t, b, item, state, outcome.Result, outcome.ContentType, outcome.Error, worker.Client, now, ops);
            write = Commit(t, ops, background: false, ref toClose);
            Dispatch(t, b.Services[item.Service], now);
            info = item.ToInfo();
        }

        _engine.CloseAll(toClose, CloseReason.SlowConsumer);
        await write;
        return info;
    }

    /// <summary>Starts the timer (the engine started).</summary>
    internal void Start() => _timer = _time.CreateTimer(_ => Tick(), null, _options.TaskCheckInterval, _options.TaskCheckInterval);

    /// <summary>Timeouts (the worker is told; the task ends timed out when it confirms or after the grace), cancel
    /// deadlines, retention of finished tasks, and waiting tasks offered again (to workers whose outbox was full).</summary>
    internal void Tick()
    {
        var now = _time.GetUtcNow();
        foreach (var t in _engine.AllTenants)
        {
            List<ClientConnection>? toClose = null;
            lock (t.Gate)
            {
                if (t.Tasks is not { } b || (b.Open == 0 && b.Finished.Count == 0))
                {
                    continue;
                }

                var ops = new List<StoreOp>();
                List<TaskItem>? due = null;
                foreach (var item in b.Tasks.Values)
                {
                    if (item.State is not (TaskState.Assigned or TaskState.Running) || !item.Durable)
                    {
                        continue;
                    }

                    if (item.CancelDeadline is { } d)
                    {
                        if (d <= now)
                        {
                            (due ??= []).Add(item);
                        }
                    }
                    else if (item.Timeout is { } timeout && item.AssignedAt + timeout <= now)
                    {
                        item.CancelDeadline = now + _options.TaskCancelGrace;
                        item.StopAs = TaskState.TimedOut;
                        item.Worker?.Target.TryCancel(item.Id, TaskState.TimedOut);
                        ops.Add(TaskRecords.Put(t.Id, item));
                    }
                }

                foreach (var item in due ?? [])
                {
                    var error = item.StopAs == TaskState.TimedOut ? "The task ran longer than its timeout." : null;
                    Finish(t, b, item, item.StopAs, default, Letter.JsonContentType, error, null, now, ops);
                }

                if (ops.Count > 0)
                {
                    Commit(t, ops, background: true, ref toClose);
                }

                ForgetFinished(t, b, now, 0);
                foreach (var s in b.Services.Values)
                {
                    Dispatch(t, s, now);
                }
            }

            _engine.CloseAll(toClose, CloseReason.SlowConsumer);
        }
    }
}
