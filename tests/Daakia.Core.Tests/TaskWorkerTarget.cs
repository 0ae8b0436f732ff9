using System.Collections.Concurrent;

namespace Daakia.Core.Tests;

/// <summary>A test double of a worker's connection: records the assignments and cancels the core hands it, and the
/// letters (a submitter's results).</summary>
internal sealed class TaskWorkerTarget : ITaskWorkerTarget
{
    public ConcurrentQueue<TaskAssignment> Assignments { get; } = new();

    public ConcurrentQueue<(Guid Task, TaskState Reason)> Cancels { get; } = new();

    public ConcurrentQueue<Letter> Letters { get; } = new();

    /// <summary>While true the outbox plays full: assignments are refused.</summary>
    public bool Full { get; set; }

    public bool TryAssign(TaskAssignment assignment)
    {
        if (Full)
        {
            return false;
        }

        Assignments.Enqueue(assignment);
        return true;
    }

    public bool TryCancel(Guid task, TaskState reason)
    {
        Cancels.Enqueue((task, reason));
        return true;
    }

    public bool TryDeliver(Letter letter, int deliveries)
    {
        Letters.Enqueue(letter);
        return true;
    }

    public bool TryPublish(Publication publication) => true;

    public void Close(CloseReason reason)
    {
    }
}
