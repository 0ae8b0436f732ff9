namespace Daakia.Core;

/// <summary>Where a task is in its life (docs/tasks-design.md). The last four are final.</summary>
public enum TaskState : byte
{
    /// <summary>Waiting in its service's task queue for a worker.</summary>
    Queued = 0,

    /// <summary>Handed to a worker, which has not said it started.</summary>
    Assigned = 1,

    /// <summary>The worker said it started (or reported progress).</summary>
    Running = 2,

    /// <summary>The worker finished it with a result.</summary>
    Succeeded = 3,

    /// <summary>The worker reported an error, or it was lost with its worker more often than its attempts allow.</summary>
    Failed = 4,

    /// <summary>Cancelled: removed while queued, or confirmed (or given up on) by its worker.</summary>
    Cancelled = 5,

    /// <summary>It ran longer than its timeout.</summary>
    TimedOut = 6,
}

/// <summary>Where a new task goes among the waiting tasks of its priority level: seed 004's priorities 1, 2 and 3.</summary>
public enum TaskPlacement : byte
{
    /// <summary>Seed priority 1: in front, run as soon as a worker frees.</summary>
    Front = 1,

    /// <summary>Seed priority 2: in the middle of the waiting tasks.</summary>
    Middle = 2,

    /// <summary>Seed priority 3: at the back (the default).</summary>
    Back = 3,
}

/// <summary>
/// A task's priority: a numeric level (0 to <see cref="DaakiaCoreOptions.MaxTaskPriorityLevel"/>,
/// higher levels are dispatched first, as RabbitMQ's message priorities) and a placement among the
/// waiting tasks of that level (seed 004's 1 front, 2 middle, 3 back).
/// </summary>
public readonly record struct TaskPriority
{
    private readonly TaskPlacement _placement;

    public TaskPriority(int level = 0, TaskPlacement placement = TaskPlacement.Back)
    {
        Level = level;
        _placement = placement;
    }

    public int Level { get; }

    /// <summary>Where it goes among its level's waiting tasks (<c>default</c> is at the back).</summary>
    public TaskPlacement Placement => _placement == 0 ? TaskPlacement.Back : _placement;

    /// <summary>Seed 004's priority: 1 front, 2 middle, 3 back, at level 0.</summary>
    public static TaskPriority FromSeed(int priority) => priority is >= 1 and <= 3
        ? new TaskPriority(0, (TaskPlacement)priority)
        : throw DaakiaException.Invalid("A task's priority is 1 (front), 2 (middle) or 3 (back).");
}

/// <summary>What a task needs of its worker: at least these cores and this memory, and every software tag.</summary>
public sealed record TaskRequirements(int Cores = 0, long MemoryBytes = 0, IReadOnlyList<string>? Software = null)
{
    public static readonly TaskRequirements None = new();

    /// <summary>Whether a worker with <paramref name="r"/> meets these.</summary>
    public bool MetBy(WorkerResources r)
    {
        if (r.Cores < Cores || r.MemoryBytes < MemoryBytes)
        {
            return false;
        }

        if (Software is { Count: > 0 })
        {
            foreach (var s in Software)
            {
                if (r.Software is null || !r.Software.Contains(s, StringComparer.Ordinal))
                {
                    return false;
                }
            }
        }

        return true;
    }
}

/// <summary>What a worker has: cores, memory and software tags (matched exactly, ordinal).</summary>
public sealed record WorkerResources(int Cores = 0, long MemoryBytes = 0, IReadOnlyList<string>? Software = null)
{
    public static readonly WorkerResources None = new();
}

/// <summary>A service a worker offers: its name (as a queue name: 1 to 64 of ASCII letters, digits, '_', '-', '.'),
/// a description and an optional version.</summary>
public sealed record ServiceOffer(string Name, string? Description = null, string? Version = null);

/// <summary>What a worker registers on one connection: its services, how many tasks it runs at once, its resources.</summary>
public sealed record WorkerRegistration(IReadOnlyList<ServiceOffer> Services, int Capacity = 1, WorkerResources? Resources = null);

/// <summary>Statistics a worker signals (REQ21): free CPU (0 to 1), free memory, and anything it wants to say.</summary>
public sealed record WorkerStatistics(double? CpuFree = null, long? MemoryFreeBytes = null, string? Note = null);

/// <summary>A task to submit.</summary>
/// <remarks>
/// <see cref="Timeout"/> bounds one attempt's run, from its assignment (null: <see cref="DaakiaCoreOptions.DefaultTaskTimeout"/>,
/// whose 0 means none). <see cref="MaxAttempts"/> bounds how often it is assigned when workers are lost (null: the
/// option). <see cref="WaitForMatch"/> lets a task whose requirements no registered worker meets wait for one instead of
/// being refused.
/// </remarks>
public sealed record TaskRequest(string Service, ReadOnlyMemory<byte> Payload)
{
    public string ContentType { get; init; } = Letter.JsonContentType;

    public TaskPriority Priority { get; init; }

    public TaskRequirements Requirements { get; init; } = TaskRequirements.None;

    public TimeSpan? Timeout { get; init; }

    public int? MaxAttempts { get; init; }

    public bool WaitForMatch { get; init; }
}

/// <summary>A task as it is now (a copy).</summary>
public sealed record TaskInfo(
    Guid Id,
    string Service,
    ClientId Submitter,
    TaskState State,
    TaskPriority Priority,
    int Attempts,
    int MaxAttempts,
    ClientId? Worker,
    DateTimeOffset SubmittedAt,
    DateTimeOffset? AssignedAt,
    DateTimeOffset? FinishedAt,
    double? Progress,
    string? ProgressNote,
    bool CancelRequested,
    ReadOnlyMemory<byte> Result,
    string ResultContentType,
    string? Error)
{
    public bool IsFinal => State >= TaskState.Succeeded;
}

/// <summary>A service of a tenant (REQ05): who offers it now, how many of them have room, what waits and runs.</summary>
public sealed record ServiceSummary(string Name, string? Description, string? Version, int Workers, int Available, int Queued, int Running);

/// <summary>A worker connection offering a service.</summary>
public sealed record WorkerInfo(ClientId Client, ConnectionId Connection, int Capacity, int Running, WorkerResources Resources, WorkerStatistics? Statistics, DateTimeOffset? StatisticsAt);

/// <summary>What a worker is handed (through <see cref="ITaskWorkerTarget.TryAssign"/>).</summary>
public sealed record TaskAssignment(Guid Id, string Service, ClientId Submitter, ReadOnlyMemory<byte> Payload, string ContentType, int Attempt, TaskPriority Priority, DateTimeOffset? Deadline);

/// <summary>How a worker ends a task.</summary>
public enum TaskOutcomeKind : byte
{
    Succeeded = 0,
    Failed = 1,

    /// <summary>The worker confirms a cancel it was asked for (or gives the task up itself).</summary>
    Cancelled = 2,
}

/// <summary>A worker's end of a task: a result (succeeded), an error (failed) or a cancel confirmation.</summary>
public sealed record TaskOutcome(TaskOutcomeKind Kind, ReadOnlyMemory<byte> Result = default, string ContentType = Letter.JsonContentType, string? Error = null)
{
    public static TaskOutcome Success(ReadOnlyMemory<byte> result, string contentType = Letter.JsonContentType) => new(TaskOutcomeKind.Succeeded, result, contentType);

    public static TaskOutcome Failure(string error) => new(TaskOutcomeKind.Failed, Error: error);

    public static readonly TaskOutcome Cancel = new(TaskOutcomeKind.Cancelled);
}
