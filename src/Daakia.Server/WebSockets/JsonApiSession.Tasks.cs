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
        _ => base.EncodeEvent(item),
    };

    /// <summary>The task requests; false for another type.</summary>
    private bool TryDispatchTask(string type, byte[] id, JsonElement root, out ValueTask task)
    {
        task = ValueTask.CompletedTask;
        var tasks = Engine.Tasks;
        var connection = Connection!;
        switch (type)
        {
            case "worker_register":
                task = RegisterWorkerAsync(id, TaskWire.ReadRegistration(root, Engine.Options));
                return true;
            case "worker_unregister":
                var service = OptionalString(root, "service");
                tasks.Unregister(connection, service is null ? null : TaskWire.ServiceName(service));
                Ack(id);
                return true;
            case "worker_stats":
                tasks.UpdateStatistics(connection, TaskWire.ReadStatistics(root));
                Ack(id);
                return true;
            case "services_list":
                Reply(id, tasks.ListServices(_tenant), TaskWire.WriteServices);
                return true;
            case "peer_services":
                var client = ClientId.TryCreate(RequiredString(root, "client"), out var c) ? c : throw Invalid($"'client' must be 1-{ClientId.MaxLength} of [A-Za-z0-9._:@-].");
                Reply(id, (client, tasks.ServicesOf(_tenant, client)), static (w, s) => TaskWire.WritePeerServices(w, s.client, s.Item2));
                return true;
            case "workers_available":
                var offered = TaskWire.ServiceName(RequiredString(root, "service"));
                Reply(id, (offered, tasks.AvailableWorkers(_tenant, offered)), static (w, s) => TaskWire.WriteWorkers(w, s.offered, s.Item2));
                return true;
            case "task_submit":
                task = SubmitTaskAsync(id, root);
                return true;
            case "task_get":
                var found = tasks.Get(_tenant, TaskWire.TaskId(root)) ?? throw new RequestException(ErrorCodes.NotFound, "There is no such task.");
                ReplyTask(id, found);
                return true;
            case "tasks_list":
                TasksList(id, root);
                return true;
            case "task_cancel":
                task = ReplyTaskAsync(id, tasks.CancelAsync(_tenant, connection.Client, TaskWire.TaskId(root)));
                return true;
            case "task_started":
                tasks.Started(connection, TaskWire.TaskId(root));
                Ack(id);
                return true;
            case "task_progress":
                tasks.ReportProgress(connection, TaskWire.TaskId(root), TaskWire.OptionalNumber(root, "progress"), OptionalString(root, "note"));
                Ack(id);
                return true;
            case "task_complete":
                task = ReplyTaskAsync(id, tasks.CompleteAsync(connection, TaskWire.TaskId(root), TaskWire.ReadOutcome(root)));
                return true;
            default:
                return false;
        }
    }

    /// <summary>An ack of <paramref name="id"/> with the fields <paramref name="write"/> adds.</summary>
    private void Reply<T>(byte[] id, T state, Action<Utf8JsonWriter, T> write) =>
        Send(FrameEncoder.Encode((id, state, write), static (w, s) =>
        {
            StartAck(w, s.id);
            s.write(w, s.state);
            w.WriteEndObject();
        }));

    /// <summary><c>worker_register</c>: replaces an earlier registration of this connection.</summary>
    private async ValueTask RegisterWorkerAsync(byte[] id, WorkerRegistration registration)
    {
        await Engine.Tasks.RegisterAsync(Connection!, registration);
        Reply(id, registration, static (w, r) =>
        {
            w.WriteStartArray("services"u8);
            foreach (var o in r.Services)
            {
                w.WriteStringValue(o.Name);
            }

            w.WriteEndArray();
            w.WriteNumber("capacity"u8, r.Capacity);
        });
    }

    /// <summary><c>task_submit</c>: <c>{"service", "payload", …}</c> (<see cref="TaskWire.ReadSubmit"/>); the ack
    /// carries the id once the task is durable.</summary>
    private async ValueTask SubmitTaskAsync(byte[] id, JsonElement root)
    {
        var request = TaskWire.ReadSubmit(root, RequiredString(root, "service"), Payload(root));
        var info = await Engine.Tasks.SubmitAsync(_tenant, Connection!.Client, request);
        Reply(id, info, TaskWire.WriteSubmittedFields);
    }

    private async ValueTask ReplyTaskAsync(byte[] id, Task<TaskInfo> pending) => ReplyTask(id, await pending);

    private void ReplyTask(byte[] id, TaskInfo info) => Reply(id, info, static (w, t) =>
    {
        w.WritePropertyName("task"u8);
        TaskWire.WriteTask(w, t);
    });

    /// <summary><c>tasks_list</c>: <c>{"service", "states", "limit"}</c>; by default the running ones (assigned and running).</summary>
    private void TasksList(byte[] id, JsonElement root)
    {
        var service = OptionalString(root, "service");
        var states = TaskWire.ReadStates(root.TryGetProperty("states"u8, out var e) && e.ValueKind != JsonValueKind.Null ? Strings(root, "states", 1, 7) : null);
        var limit = TaskWire.OptionalLong(root, "limit") ?? 100;
        if (limit is < 1 or > 1000)
        {
            throw Invalid("'limit' must be 1-1000.");
        }

        Reply(id, Engine.Tasks.List(_tenant, service is null ? null : TaskWire.ServiceName(service), states, (int)limit), TaskWire.WriteTasks);
    }
}
