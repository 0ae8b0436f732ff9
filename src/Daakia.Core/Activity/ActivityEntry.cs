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
    string? Detail)
{
    /// <summary>Longest <see cref="Subject"/> and <see cref="Detail"/> kept, in UTF-16 units (longer ones are cut, with
    /// an ellipsis): an entry is at most a few KiB, so the log's size is bounded by its entry count.</summary>
    public const int MaxTextLength = 1024;

    private readonly string? _subject = Cut(Subject);
    private readonly string? _detail = Cut(Detail);

    public string? Subject { get => _subject; init => _subject = Cut(value); }

    public string? Detail { get => _detail; init => _detail = Cut(value); }

    private static string? Cut(string? text)
    {
        if (text is null || text.Length <= MaxTextLength)
        {
            return text;
        }

        var end = MaxTextLength - 1;
        if (char.IsHighSurrogate(text[end - 1]))
        {
            end--; // never half a surrogate pair
        }

        return string.Concat(text.AsSpan(0, end), "…");
    }
}

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
