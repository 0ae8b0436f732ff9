using System.Text.Json;
using Daakia.Core;
using Daakia.Server.Json;

namespace Daakia.Server.WebSockets;

/// <summary>
/// Services, workers and tasks (docs/tasks.md): a connection registers as a worker and is handed <c>task_assigned</c> /
/// <c>task_cancel</c> frames through its bounded outbox (<see cref="ITaskWorkerTarget"/>); any connection submits,
/// queries and cancels tasks of its tenant. The same core operations as <see cref="TaskService"/>, the same JSON as
/// every adapter (<see cref="TaskWire"/>).
/// </summary>
internal sealed partial class JsonApiSession : ITaskWorkerTarget
{
    private sealed record TaskCancelNotice(Guid Task, TaskState Reason);

    public bool TryAssign(TaskAssignment assignment) => TryQueueEvent(assignment, assignment.Payload.Length + assignment.Service.Length);

    public bool TryCancel(Guid task, TaskState reason) => TryQueueEvent(new TaskCancelNotice(task, reason), 0);

    protected override byte[] EncodeEvent(object item) => item switch
    {
        TaskAssignment a => FrameEncoder.Encode(a, static (w, a) =>
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "task_assigned"u8);
            TaskWire.WriteAssignmentFields(w, a);
            w.WriteEndObject();
        }),
        TaskCancelNotice c => FrameEncoder.Encode(c, static (w, c) =>
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "task_cancel"u8);
            w.WriteString("task_id"u8, c.Task.ToString("N"));
            w.WriteString("reason"u8, TaskService.StateName(c.Reason));
            w.WriteEndObject();
        }),
        _ => EncodeActivityEvent(item) ?? base.EncodeEvent(item),
    };

    /// <summary>The task requests; false for another type.</summary>
    private bool TryDispatchTask(string type, byte[] id, JsonElement root, out ValueTask task)
    {
        var operation = type switch
        {
            "worker_register" => "register",
            "worker_unregister" => "unregister",
            "worker_stats" => "stats",
            "services_list" => "services",
            "peer_services" => "peer_services",
            "workers_available" => "workers",
            "task_submit" => "submit",
            "task_get" => "get",
            "tasks_list" => "list",
            "task_cancel" => "cancel",
            "task_started" => "started",
            "task_progress" => "progress",
            "task_complete" => "complete",
            _ => null,
        };
        var running = operation is null ? null : TaskRequests.Run(Engine, Connection!, operation, root);
        if (running is null || running.IsCompletedSuccessfully)
        {
            task = running is null ? ValueTask.CompletedTask : Answer(id, running.Result);
            return running is not null;
        }

        // As a send: the answer waits for the durable write, the read loop does not (the next submits of this
        // connection join the same group commit); past the limit it waits, which pushes back on the client.
        var pending = AnswerAsync(id, type, running);
        task = Interlocked.Increment(ref _outstanding) > Context.Options.OutboxCapacity / 2 ? new ValueTask(pending) : ValueTask.CompletedTask;
        return true;
    }

    private async Task AnswerAsync(byte[] id, string type, Task<TaskAnswerWriter?> running)
    {
        try
        {
            await Answer(id, await running);
        }
        catch (Exception ex)
        {
            Fail(ex, id, type);
        }
        finally
        {
            Interlocked.Decrement(ref _outstanding);
        }
    }

    /// <summary>An ack of <paramref name="id"/> with the fields the answer adds.</summary>
    private ValueTask Answer(byte[] id, TaskAnswerWriter? write)
    {
        Send(FrameEncoder.Encode((id, write), static (w, s) =>
        {
            StartAck(w, s.id);
            s.write?.Invoke(w);
            w.WriteEndObject();
        }));
        return ValueTask.CompletedTask;
    }
}
