namespace Daakia.Core;

/// <summary>
/// A delivery target that can take tasks: what a worker's connection implements to register services
/// (<see cref="TaskService.RegisterAsync"/> refuses a connection whose target does not).
/// </summary>
/// <remarks>
/// Called under the tenant lock like <see cref="IDeliveryTarget.TryDeliver"/>: queue into the connection's bounded outbox,
/// never block, never call back into the engine. An assignment is handed out before its durable record commits (as a
/// letter is delivered before its append commits): a crash in between yields at most the task assigned again.
/// </remarks>
public interface ITaskWorkerTarget : IDeliveryTarget
{
    /// <summary>Queues an assignment for the wire. False when the outbox is full: the task stays queued (in its place)
    /// and is offered again when the worker next frees or at the next dispatch tick.</summary>
    bool TryAssign(TaskAssignment assignment);

    /// <summary>Tells the worker to stop a task it holds (cancelled by its submitter, or timed out). False when the
    /// outbox is full; the cancel deadline holds either way.</summary>
    bool TryCancel(Guid task, TaskState reason);
}
