using Daakia.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Daakia.Core;

/// <summary>
/// Services, workers and tasks (seed 004's Swarm; docs/tasks-design.md), reached as <see cref="DaakiaEngine.Tasks"/>.
/// A worker connection registers services with a capacity and resources (TaskService.Workers.cs); a submitter's task
/// waits in its service's task queue (<see cref="QueueKind.Tasks"/>, one of the delivery engine's queues) in priority
/// order and is assigned — a lease — to an available matching worker (TaskService.Dispatch.cs); the result goes to the
/// submitter's inbox as a letter and stays queryable. Every change is a store unit of work; a restart restores
/// (TaskService.Restore.cs).
/// </summary>
public sealed partial class TaskService : IDisposable
{
    private const int MaxTags = 64;
    private const int MaxTagLength = 128;
    private const int MaxTextLength = 1024;

    private readonly DaakiaEngine _engine;
    private readonly IDaakiaStore _store;
    private readonly DaakiaCoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private ITimer? _timer;

    internal TaskService(DaakiaEngine engine, IDaakiaStore store, DaakiaCoreOptions options, TimeProvider time, ILogger logger)
    {
        _engine = engine;
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
    }

    internal static QueueKey QueueOf(TenantId tenant, string service) => new(tenant, QueueKind.Tasks, service);

    /// <summary>
    /// Submits a task; completes with its id (and state) once it is durable: its record and its queue entry in one
    /// unit of work. Then it is dispatched at once if a matching worker has room, else it waits in priority order.
    /// </summary>
    /// <exception cref="DaakiaException">The service is unknown (<see cref="DaakiaErrorCode.NotFound"/>), the payload too
    /// large, the priority, timeout or attempts out of range, no registered worker meets the requirements (unless
    /// <see cref="TaskRequest.WaitForMatch"/>), or the tenant holds as many tasks as it may
    /// (<see cref="DaakiaErrorCode.QuotaExceeded"/>).</exception>
    public async Task<TaskInfo> SubmitAsync(TenantId tenant, ClientId submitter, TaskRequest request)
    {
        _engine.EnsureAccepting();
        ArgumentNullException.ThrowIfNull(request);
        Validate(request);
        var now = _time.GetUtcNow();
        var t = _engine.Tenant(tenant);
        TaskItem item;
        Task<IReadOnlyList<StoreOpResult>> write;
        lock (t.Gate)
        {
            var b = t.Tasks;
            if (b is null || !b.Services.TryGetValue(request.Service, out var s))
            {
                throw new DaakiaException(DaakiaErrorCode.NotFound, $"No worker has offered service '{request.Service}'.");
            }

            if (b.Open >= _options.MaxOpenTasksPerTenant)
            {
                throw new DaakiaException(DaakiaErrorCode.QuotaExceeded, $"The tenant has {b.Open} unfinished tasks (limit {_options.MaxOpenTasksPerTenant}).");
            }

            if (b.Bytes + request.Payload.Length > _options.MaxTenantTaskBytes)
            {
                ForgetFinished(t, b, now, request.Payload.Length);
                if (b.Bytes + request.Payload.Length > _options.MaxTenantTaskBytes)
                {
                    throw new DaakiaException(DaakiaErrorCode.QuotaExceeded, $"The tenant's tasks hold {b.Bytes} bytes (limit {_options.MaxTenantTaskBytes}).");
                }
            }

            if (!request.WaitForMatch && !ReferenceEquals(request.Requirements, TaskRequirements.None) && !AnyMeets(s, request.Requirements))
            {
                throw DaakiaException.Invalid($"No worker of service '{request.Service}' meets the task's requirements (submit with wait-for-match to wait for one).");
            }

            var id = MessageIds.New(now);
            item = new TaskItem
            {
                Id = id,
                Service = request.Service,
                Submitter = submitter,
                Payload = new Letter
                {
                    Id = id,
                    Tenant = tenant,
                    Author = submitter,
                    Recipients = [],
                    Payload = request.Payload.ToArray(),
                    ContentType = request.ContentType,
                    Timestamp = now,
                },
                Priority = request.Priority,
                Requirements = request.Requirements,
                Timeout = request.Timeout ?? (_options.DefaultTaskTimeout > TimeSpan.Zero ? _options.DefaultTaskTimeout : null),
                MaxAttempts = request.MaxAttempts ?? _options.TaskMaxAttempts,
                SubmittedAt = now,
            };
            Wait(s, item, item.Priority.Placement);
            b.Tasks[id] = item;
            b.Open++;
            b.Bytes += request.Payload.Length;
            write = _store.WriteAsync(
            [
                new AppendOp(item.Payload, [QueueOf(tenant, item.Service)]),
                TaskRecords.Put(tenant, item),
                new ActivityOp([Activity(tenant, now, ActivityKinds.TaskSubmitted, submitter, item, null)]),
            ]).AsTask();
            item.Stored = write;

            // Handed out at once, while the submit commits: the assignment's unit of work is started after the submit's,
            // so it takes effect after it; the submitter's answer still waits for the commit, and so does the task's end
            // (CompleteAsync). A crash before the commit loses a task nobody was told exists (its worker may have begun).
            Dispatch(t, s, now);
        }

        try
        {
            await write;
        }
        catch
        {
            lock (t.Gate)
            {
                Withdraw(t, item, now);
            }

            throw;
        }

        lock (t.Gate)
        {
            item.Durable = true;
            return item.ToInfo();
        }
    }

    /// <summary>
    /// A task whose submit was not stored never existed (caller holds the lock): it leaves the waiting tasks, or its
    /// worker's slot is freed and the worker told to stop (<c>cancelled</c>; whatever it sends about the task after
    /// that is refused). What was written behind it about the task (an assignment, a re-queue) left an open record
    /// without its queue entry, which a restart removes.
    /// </summary>
    private void Withdraw(TenantState t, TaskItem item, DateTimeOffset now)
    {
        var b = t.Tasks!;
        if (!b.Tasks.Remove(item.Id) || !b.Services.TryGetValue(item.Service, out var s))
        {
            return;
        }

        if (item.Worker is { } w)
        {
            w.Running.Remove(item.Id);
            s.RunningCount--;
            item.Worker = null;
            w.Target.TryCancel(item.Id, TaskState.Cancelled);
        }
        else
        {
            Unwait(s, item);
        }

        item.State = TaskState.Cancelled;
        b.Open--;
        b.Bytes -= item.Payload.Payload.Length;
        Dispatch(t, s, now);
    }

    private void Validate(TaskRequest request)
    {
        if (!QueueService.IsValidName(request.Service))
        {
            throw DaakiaException.Invalid("A service name is 1 to 64 of ASCII letters, digits, '_', '-' and '.'.");
        }

        if (request.Payload.Length > _options.MaxTaskPayloadBytes)
        {
            throw new DaakiaException(DaakiaErrorCode.PayloadTooLarge, $"A task's payload may be at most {_options.MaxTaskPayloadBytes} bytes.");
        }

        if (request.Priority.Level < 0 || request.Priority.Level > _options.MaxTaskPriorityLevel || !Enum.IsDefined(request.Priority.Placement))
        {
            throw DaakiaException.Invalid($"A task's priority level is 0 to {_options.MaxTaskPriorityLevel}, its placement 1 (front), 2 (middle) or 3 (back).");
        }

        if (request.Timeout is { } timeout && (timeout <= TimeSpan.Zero || timeout > _options.MaxTaskTimeout))
        {
            throw DaakiaException.Invalid($"A task's timeout is more than 0 and at most {_options.MaxTaskTimeout}.");
        }

        if (request.MaxAttempts is { } attempts && (attempts < 1 || attempts > _options.TaskMaxAttempts))
        {
            throw DaakiaException.Invalid($"A task's attempts are 1 to {_options.TaskMaxAttempts}.");
        }

        if (string.IsNullOrEmpty(request.ContentType) || request.ContentType.Length > 255)
        {
            throw DaakiaException.Invalid("A task's content type is 1 to 255 characters.");
        }

        var r = request.Requirements ?? throw DaakiaException.Invalid("Requirements may not be null.");
        if (r.Cores < 0 || r.MemoryBytes < 0)
        {
            throw DaakiaException.Invalid("Required cores and memory are not negative.");
        }

        ValidateTags(r.Software);
    }

    private static void ValidateTags(IReadOnlyList<string>? tags)
    {
        if (tags is null)
        {
            return;
        }

        if (tags.Count > MaxTags)
        {
            throw DaakiaException.Invalid($"At most {MaxTags} software tags.");
        }

        foreach (var tag in tags)
        {
            if (string.IsNullOrEmpty(tag) || tag.Length > MaxTagLength)
            {
                throw DaakiaException.Invalid($"A software tag is 1 to {MaxTagLength} characters.");
            }
        }
    }

    private static bool AnyMeets(ServiceState s, TaskRequirements requirements)
    {
        foreach (var w in s.Workers)
        {
            if (requirements.MetBy(w.Resources))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A task by id, or null (unknown, not yet durable, of another tenant, or forgotten after its retention).</summary>
    public TaskInfo? Get(TenantId tenant, Guid id)
    {
        var t = _engine.TryTenant(tenant);
        if (t is null)
        {
            return null;
        }

        lock (t.Gate)
        {
            return t.Tasks is { } b && b.Tasks.TryGetValue(id, out var item) && item.Durable ? item.ToInfo() : null;
        }
    }

    /// <summary>
    /// Tasks of a tenant (REQ17), oldest submit first, at most <paramref name="limit"/>: of one service (null: all),
    /// in the given states (null: the running ones — assigned and running).
    /// </summary>
    public IReadOnlyList<TaskInfo> List(TenantId tenant, string? service = null, IReadOnlyCollection<TaskState>? states = null, int limit = 100)
    {
        var t = _engine.TryTenant(tenant);
        var result = new List<TaskInfo>();
        if (t is null)
        {
            return result;
        }

        lock (t.Gate)
        {
            if (t.Tasks is not { } b)
            {
                return result;
            }

            foreach (var item in b.Tasks.Values)
            {
                if (!item.Durable || (service is not null && !string.Equals(item.Service, service, StringComparison.Ordinal)))
                {
                    continue;
                }

                if (states is null ? item.State is TaskState.Assigned or TaskState.Running : states.Contains(item.State))
                {
                    result.Add(item.ToInfo());
                }
            }
        }

        result.Sort(static (a, b) => a.Id.CompareTo(b.Id)); // ids are time-ordered
        return result.Count > limit ? result[..Math.Max(0, limit)] : result;
    }

    /// <summary>
    /// Cancels a task (REQ18), by its submitter. Queued: removed, it ends cancelled at once. Assigned or running: its
    /// worker is told, and it ends cancelled when the worker confirms or after <see cref="DaakiaCoreOptions.TaskCancelGrace"/>.
    /// Finished: nothing changes. Returns the task as it is then, once what changed is durable.
    /// </summary>
    public async Task<TaskInfo> CancelAsync(TenantId tenant, ClientId requester, Guid id)
    {
        _engine.EnsureAccepting();
        var now = _time.GetUtcNow();
        var t = _engine.TryTenant(tenant) ?? throw new DaakiaException(DaakiaErrorCode.NotFound, $"No task '{id:N}'.");
        Task? write = null;
        TaskInfo info;
        lock (t.Gate)
        {
            if (t.Tasks is not { } b || !b.Tasks.TryGetValue(id, out var item) || !item.Durable)
            {
                throw new DaakiaException(DaakiaErrorCode.NotFound, $"No task '{id:N}'.");
            }

            if (item.Submitter != requester)
            {
                throw new DaakiaException(DaakiaErrorCode.Forbidden, "Only a task's submitter may cancel it.");
            }

            if (item.State == TaskState.Queued)
            {
                var ops = new List<StoreOp>();
                var s = b.Services[item.Service];
                Unwait(s, item);
                Finish(t, b, item, TaskState.Cancelled, default, Letter.JsonContentType, null, requester, now, ops);
                write = _store.WriteAsync(ops).AsTask();
            }
            else if (!item.IsFinal && item.CancelDeadline is null)
            {
                item.CancelDeadline = now + _options.TaskCancelGrace;
                item.StopAs = TaskState.Cancelled;
                item.Worker?.Target.TryCancel(item.Id, TaskState.Cancelled);
                write = _store.WriteAsync(
                [
                    TaskRecords.Put(tenant, item),
                    new ActivityOp([Activity(tenant, now, ActivityKinds.TaskCancelRequested, requester, item, null)]),
                ]).AsTask();
            }

            info = item.ToInfo();
        }

        if (write is not null)
        {
            await write;
        }

        return info;
    }

    /// <summary>Puts a task among its service's waiting tasks at <paramref name="placement"/> in its level (caller holds the lock).</summary>
    private static void Wait(ServiceState s, TaskItem item, TaskPlacement placement)
    {
        if (!s.Waiting.TryGetValue(item.Priority.Level, out var list))
        {
            s.Waiting[item.Priority.Level] = list = [];
        }

        item.State = TaskState.Queued;
        s.QueuedCount++;
        if (list.Count == 0)
        {
            item.Order = 0;
            list.Add(item);
            return;
        }

        switch (placement)
        {
            case TaskPlacement.Front:
                item.Order = list[0].Order - 1;
                list.Insert(0, item);
                break;
            case TaskPlacement.Middle:
                var at = list.Count / 2;
                item.Order = at == 0 ? list[0].Order - 1 : (list[at - 1].Order + list[at].Order) / 2;
                list.Insert(at, item);
                break;
            default:
                item.Order = list[^1].Order + 1;
                list.Add(item);
                break;
        }
    }

    /// <summary>Takes a task out of the waiting ones (caller holds the lock).</summary>
    private static void Unwait(ServiceState s, TaskItem item)
    {
        if (s.Waiting.TryGetValue(item.Priority.Level, out var list) && list.Remove(item))
        {
            s.QueuedCount--;
            if (list.Count == 0)
            {
                s.Waiting.Remove(item.Priority.Level);
            }
        }
    }

    private static ActivityEntry Activity(TenantId tenant, DateTimeOffset now, string kind, ClientId? actor, TaskItem item, string? more) =>
        new(0, tenant, now, kind, actor, item.Service, more is null ? TaskRecords.Key(item.Id) : TaskRecords.Key(item.Id) + " " + more);

    /// <summary>Stops the timer (the engine stops).</summary>
    internal void Stop()
    {
        _timer?.Dispose();
        _timer = null;
    }

    public void Dispose() => Stop();
}
