namespace Daakia.Core;

/// <summary>A tenant's services, workers and open tasks in memory (under the tenant lock; docs/tasks-design.md).</summary>
internal sealed class TaskBoard
{
    /// <summary>Every service ever registered in the tenant, by name.</summary>
    public SortedDictionary<string, ServiceState> Services { get; } = new(StringComparer.Ordinal);

    /// <summary>Registered worker connections.</summary>
    public Dictionary<ConnectionId, WorkerState> Workers { get; } = [];

    /// <summary>Every task not yet forgotten (open ones and finished ones within their retention), by id.</summary>
    public Dictionary<Guid, TaskItem> Tasks { get; } = [];

    /// <summary>Finished tasks, oldest finish first (what retention removes first).</summary>
    public LinkedList<TaskItem> Finished { get; } = new();

    /// <summary>Tasks not final.</summary>
    public int Open { get; set; }

    /// <summary>Payload and result bytes held in memory (<see cref="DaakiaCoreOptions.MaxTenantTaskBytes"/>).</summary>
    public long Bytes { get; set; }
}

/// <summary>One service of a tenant: its description, its workers now, its waiting tasks in dispatch order.</summary>
internal sealed class ServiceState(ServiceOffer info, DateTimeOffset createdAt)
{
    public ServiceOffer Info { get; set; } = info;

    public DateTimeOffset CreatedAt { get; } = createdAt;

    public bool RecordDurable { get; set; }

    public List<WorkerState> Workers { get; } = [];

    /// <summary>Waiting tasks by level, highest first; each list in dispatch order.</summary>
    public SortedDictionary<int, List<TaskItem>> Waiting { get; } = new(Comparer<int>.Create(static (a, b) => b.CompareTo(a)));

    public int QueuedCount { get; set; }

    public int RunningCount { get; set; }

    /// <summary>Round-robin start among equally loaded workers.</summary>
    public int Cursor { get; set; }
}

/// <summary>One worker connection: what it offers, how much it runs, what it holds.</summary>
internal sealed class WorkerState(ClientConnection connection, ITaskWorkerTarget target)
{
    public ClientConnection Connection { get; } = connection;

    public ITaskWorkerTarget Target { get; } = target;

    public List<ServiceOffer> Services { get; set; } = [];

    public int Capacity { get; set; }

    public WorkerResources Resources { get; set; } = WorkerResources.None;

    public WorkerStatistics? Statistics { get; set; }

    public DateTimeOffset? StatisticsAt { get; set; }

    public HashSet<Guid> Running { get; } = [];

    public bool HasRoom => Running.Count < Capacity;

    public bool Offers(string service)
    {
        foreach (var s in Services)
        {
            if (string.Equals(s.Name, service, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>One task in memory. Its payload is the entry of its service's task queue (<see cref="QueueKind.Tasks"/>).</summary>
internal sealed class TaskItem
{
    public required Guid Id { get; init; }

    public required string Service { get; init; }

    public required ClientId Submitter { get; init; }

    public required Letter Payload { get; set; }

    public required TaskPriority Priority { get; init; }

    public required TaskRequirements Requirements { get; init; }

    public TimeSpan? Timeout { get; init; }

    public required int MaxAttempts { get; init; }

    public required DateTimeOffset SubmittedAt { get; init; }

    /// <summary>Place among the waiting tasks of its level (kept in the record so a restart keeps the order).</summary>
    public double Order { get; set; }

    public TaskState State { get; set; }

    public int Attempts { get; set; }

    public WorkerState? Worker { get; set; }

    public ClientId? WorkerClient { get; set; }

    public DateTimeOffset? AssignedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    public double? Progress { get; set; }

    public string? ProgressNote { get; set; }

    public DateTimeOffset? CancelDeadline { get; set; }

    /// <summary>What the task ends as when its worker confirms the stop or the deadline passes: cancelled or timed out.</summary>
    public TaskState StopAs { get; set; } = TaskState.Cancelled;

    /// <summary>False until its submit is durable: not found by queries, not cancellable, not timed out; it may already
    /// be assigned (the hand-out does not wait for the commit), but its end waits for <see cref="Stored"/>.</summary>
    public bool Durable { get; set; }

    /// <summary>The submit's unit of work (null for a task restored from the store).</summary>
    public Task? Stored { get; set; }

    public ReadOnlyMemory<byte> Result { get; set; }

    public string ResultContentType { get; set; } = Letter.JsonContentType;

    public string? Error { get; set; }

    /// <summary>Its node in <see cref="TaskBoard.Finished"/> once final.</summary>
    public LinkedListNode<TaskItem>? FinishedNode { get; set; }

    public bool IsFinal => State >= TaskState.Succeeded;

    public TaskInfo ToInfo() => new(Id, Service, Submitter, State, Priority, Attempts, MaxAttempts, WorkerClient, SubmittedAt, AssignedAt, FinishedAt,
        Progress, ProgressNote, CancelDeadline is not null, Result, ResultContentType, Error);
}
