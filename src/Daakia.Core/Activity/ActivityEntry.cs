namespace Daakia.Core;

/// <summary>
/// One line of the append-only activity log (the Swarm "logger"). <see cref="Id"/> is assigned by the store
/// (0 before it is appended) and increases with time, so a reader can resume after the last id it saw.
/// </summary>
public sealed record ActivityEntry(
    long Id,
    TenantId Tenant,
    DateTimeOffset At,
    string Kind,
    ClientId? Actor,
    string? Subject,
    string? Detail);

/// <summary>The kinds of activity the core records.</summary>
public static class ActivityKinds
{
    public const string Connect = "connect";
    public const string Sent = "sent";
    public const string Acked = "acked";
    public const string Disconnect = "disconnect";
    public const string Expired = "expired";
    public const string DeadLettered = "dead_lettered";
    public const string WorkerRegistered = "worker_registered";
    public const string WorkerUnregistered = "worker_unregistered";
    public const string TaskSubmitted = "task_submitted";
    public const string TaskAssigned = "task_assigned";
    public const string TaskRequeued = "task_requeued";
    public const string TaskCancelRequested = "task_cancel_requested";
    public const string TaskSucceeded = "task_succeeded";
    public const string TaskFailed = "task_failed";
    public const string TaskCancelled = "task_cancelled";
    public const string TaskTimedOut = "task_timed_out";
}
