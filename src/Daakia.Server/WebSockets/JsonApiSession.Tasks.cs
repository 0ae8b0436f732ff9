using System.Runtime.InteropServices;
using System.Text.Json;
using Daakia.Core;
using Daakia.Server.Json;

namespace Daakia.Server.WebSockets;

/// <summary>
/// Services, workers and tasks (docs/tasks.md): a connection registers as a worker and is handed <c>task_assigned</c> /
/// <c>task_cancel</c> frames through its bounded outbox (<see cref="ITaskWorkerTarget"/>); any connection submits,
/// queries and cancels tasks of its tenant. The same core operations as <see cref="TaskService"/>.
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
            w.WriteString("task_id"u8, a.Id.ToString("N"));
            w.WriteString("service"u8, a.Service);
            w.WriteString("submitter"u8, a.Submitter.Value);
            WriteBody(w, "payload"u8, "payload_base64"u8, a.Payload, a.ContentType);
            w.WriteNumber("attempt"u8, a.Attempt);
            w.WriteNumber("level"u8, a.Priority.Level);
            w.WriteNumber("priority"u8, (int)a.Priority.Placement);
            if (a.Deadline is { } d)
            {
                WireFormat.WriteTimestamp(w, "deadline"u8, d);
            }

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
                task = RegisterWorkerAsync(id, root);
                return true;
            case "worker_unregister":
                var service = OptionalString(root, "service");
                tasks.Unregister(connection, service is null ? null : ServiceName(service));
                Ack(id);
                return true;
            case "worker_stats":
                tasks.UpdateStatistics(connection, new WorkerStatistics(OptionalNumber(root, "cpu_free"), OptionalLong(root, "memory_free_bytes"), OptionalString(root, "note")));
                Ack(id);
                return true;
            case "services_list":
                ServicesList(id);
                return true;
            case "peer_services":
                PeerServices(id, root);
                return true;
            case "workers_available":
                WorkersAvailable(id, root);
                return true;
            case "task_submit":
                task = SubmitTaskAsync(id, root);
                return true;
            case "task_get":
                var found = tasks.Get(_tenant, TaskId(root)) ?? throw new RequestException(ErrorCodes.NotFound, "There is no such task.");
                ReplyTask(id, found);
                return true;
            case "tasks_list":
                TasksList(id, root);
                return true;
            case "task_cancel":
                task = ReplyTaskAsync(id, tasks.CancelAsync(_tenant, connection.Client, TaskId(root)));
                return true;
            case "task_started":
                tasks.Started(connection, TaskId(root));
                Ack(id);
                return true;
            case "task_progress":
                tasks.ReportProgress(connection, TaskId(root), OptionalNumber(root, "progress"), OptionalString(root, "note"));
                Ack(id);
                return true;
            case "task_complete":
                task = ReplyTaskAsync(id, tasks.CompleteAsync(connection, TaskId(root), Outcome(root)));
                return true;
            default:
                return false;
        }
    }

    /// <summary><c>worker_register</c>: <c>{"services": ["name" | {"name", "description", "version"}], "capacity",
    /// "resources": {"cores", "memory_bytes", "software"}}</c>; replaces an earlier registration of this connection.</summary>
    private async ValueTask RegisterWorkerAsync(byte[] id, JsonElement root)
    {
        var list = Array(root, "services", 1, Engine.Options.MaxServicesPerWorker);
        var services = new List<ServiceOffer>(list.GetArrayLength());
        foreach (var s in list.EnumerateArray())
        {
            services.Add(s.ValueKind switch
            {
                JsonValueKind.String => new ServiceOffer(ServiceName(s.GetString()!)),
                JsonValueKind.Object => new ServiceOffer(ServiceName(RequiredString(s, "name")), OptionalString(s, "description"), OptionalString(s, "version")),
                _ => throw Invalid("'services' holds service names or objects with a 'name'."),
            });
        }

        var capacity = OptionalLong(root, "capacity") ?? 1;
        if (capacity < 1 || capacity > int.MaxValue)
        {
            throw Invalid("'capacity' is a whole number of tasks at once, 1 or more.");
        }

        var resources = WorkerResources.None;
        if (root.TryGetProperty("resources"u8, out var r) && r.ValueKind != JsonValueKind.Null)
        {
            resources = r.ValueKind == JsonValueKind.Object
                ? new WorkerResources(Int(r, "cores"), OptionalLong(r, "memory_bytes") ?? 0, SoftwareTags(r))
                : throw Invalid("'resources' must be an object: {\"cores\", \"memory_bytes\", \"software\"}.");
        }

        await Engine.Tasks.RegisterAsync(Connection!, new WorkerRegistration(services, (int)capacity, resources));
        Send(FrameEncoder.Encode((id, services, capacity), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WriteStartArray("services"u8);
            foreach (var o in s.services)
            {
                w.WriteStringValue(o.Name);
            }

            w.WriteEndArray();
            w.WriteNumber("capacity"u8, s.capacity);
            w.WriteEndObject();
        }));
    }

    /// <summary><c>task_submit</c>: <c>{"service", "payload", "priority" (1 front, 2 middle, 3 back), "level",
    /// "requirements", "timeout", "max_attempts", "wait_for_match"}</c>; the ack carries the id once the task is durable.</summary>
    private async ValueTask SubmitTaskAsync(byte[] id, JsonElement root)
    {
        var service = ServiceName(RequiredString(root, "service"));
        var payload = Payload(root);
        var placement = OptionalLong(root, "priority") ?? 3;
        if (placement is < 1 or > 3)
        {
            throw Invalid("'priority' is 1 (front), 2 (middle) or 3 (back).");
        }

        var requirements = TaskRequirements.None;
        if (root.TryGetProperty("requirements"u8, out var r) && r.ValueKind != JsonValueKind.Null)
        {
            requirements = r.ValueKind == JsonValueKind.Object
                ? new TaskRequirements(Int(r, "cores"), OptionalLong(r, "memory_bytes") ?? 0, SoftwareTags(r))
                : throw Invalid("'requirements' must be an object: {\"cores\", \"memory_bytes\", \"software\"}.");
        }

        TimeSpan? timeout = OptionalNumber(root, "timeout") is { } seconds
            ? seconds > 0 && seconds <= TimeSpan.MaxValue.TotalSeconds / 2 ? TimeSpan.FromSeconds(seconds) : throw Invalid("'timeout' must be a positive number of seconds.")
            : null;
        var maxAttempts = OptionalLong(root, "max_attempts");
        var request = new TaskRequest(service, payload)
        {
            Priority = new TaskPriority(Int(root, "level"), (TaskPlacement)placement),
            Requirements = requirements,
            Timeout = timeout,
            MaxAttempts = maxAttempts is null ? null : maxAttempts is >= 1 and <= int.MaxValue ? (int)maxAttempts : throw Invalid("'max_attempts' must be 1 or more."),
            WaitForMatch = OptionalBool(root, "wait_for_match") == true,
        };
        var info = await Engine.Tasks.SubmitAsync(_tenant, Connection!.Client, request);
        Send(FrameEncoder.Encode((id, info), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WriteString("task_id"u8, s.info.Id.ToString("N"));
            w.WriteString("state"u8, TaskService.StateName(s.info.State));
            WireFormat.WriteTimestamp(w, "submitted_at"u8, s.info.SubmittedAt);
            w.WriteEndObject();
        }));
    }

    private async ValueTask ReplyTaskAsync(byte[] id, Task<TaskInfo> pending) => ReplyTask(id, await pending);

    private void ReplyTask(byte[] id, TaskInfo info)
    {
        RequireResult(info);
        Send(FrameEncoder.Encode((id, info), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WritePropertyName("task"u8);
            WriteTask(w, s.info);
            w.WriteEndObject();
        }));
    }

    /// <summary><c>tasks_list</c>: <c>{"service", "states", "limit"}</c>; by default the running ones (assigned and running).</summary>
    private void TasksList(byte[] id, JsonElement root)
    {
        var service = OptionalString(root, "service");
        TaskState[] states = [TaskState.Assigned, TaskState.Running];
        if (root.TryGetProperty("states"u8, out var e) && e.ValueKind != JsonValueKind.Null)
        {
            states = [.. Strings(root, "states", 1, 7).Select(ParseState)];
        }

        var limit = OptionalLong(root, "limit") ?? 100;
        if (limit is < 1 or > 1000)
        {
            throw Invalid("'limit' must be 1-1000.");
        }

        var list = Engine.Tasks.List(_tenant, service is null ? null : ServiceName(service), states, (int)limit);
        foreach (var t in list)
        {
            RequireResult(t);
        }

        Send(FrameEncoder.Encode((id, list), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WriteStartArray("tasks"u8);
            foreach (var t in s.list)
            {
                WriteTask(w, t);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }));
    }

    private void ServicesList(byte[] id)
    {
        var services = Engine.Tasks.ListServices(_tenant);
        Send(FrameEncoder.Encode((id, services), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WriteStartArray("services"u8);
            foreach (var x in s.services)
            {
                w.WriteStartObject();
                WriteOffer(w, x.Name, x.Description, x.Version);
                w.WriteNumber("workers"u8, x.Workers);
                w.WriteNumber("available"u8, x.Available);
                w.WriteNumber("queued"u8, x.Queued);
                w.WriteNumber("running"u8, x.Running);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }));
    }

    /// <summary><c>peer_services</c>: <c>{"client"}</c>; the services that client's connections offer now.</summary>
    private void PeerServices(byte[] id, JsonElement root)
    {
        var client = ClientId.TryCreate(RequiredString(root, "client"), out var c) ? c : throw Invalid($"'client' must be 1-{ClientId.MaxLength} of [A-Za-z0-9._:@-].");
        var services = Engine.Tasks.ServicesOf(_tenant, client);
        Send(FrameEncoder.Encode((id, client, services), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WriteString("client"u8, s.client.Value);
            w.WriteStartArray("services"u8);
            foreach (var o in s.services)
            {
                w.WriteStartObject();
                WriteOffer(w, o.Name, o.Description, o.Version);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }));
    }

    /// <summary><c>workers_available</c>: <c>{"service"}</c>; the worker connections with room for one more task.</summary>
    private void WorkersAvailable(byte[] id, JsonElement root)
    {
        var service = ServiceName(RequiredString(root, "service"));
        var workers = Engine.Tasks.AvailableWorkers(_tenant, service);
        Send(FrameEncoder.Encode((id, service, workers), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WriteString("service"u8, s.service);
            w.WriteStartArray("workers"u8);
            foreach (var x in s.workers)
            {
                w.WriteStartObject();
                w.WriteString("client_id"u8, x.Client.Value);
                w.WriteString("connection_id"u8, x.Connection.ToString());
                w.WriteNumber("capacity"u8, x.Capacity);
                w.WriteNumber("running"u8, x.Running);
                w.WriteStartObject("resources"u8);
                w.WriteNumber("cores"u8, x.Resources.Cores);
                w.WriteNumber("memory_bytes"u8, x.Resources.MemoryBytes);
                w.WriteStartArray("software"u8);
                foreach (var tag in x.Resources.Software ?? [])
                {
                    w.WriteStringValue(tag);
                }

                w.WriteEndArray();
                w.WriteEndObject();
                if (x.Statistics is { } st)
                {
                    w.WriteStartObject("stats"u8);
                    WriteOptional(w, "cpu_free"u8, st.CpuFree);
                    if (st.MemoryFreeBytes is { } m)
                    {
                        w.WriteNumber("memory_free_bytes"u8, m);
                    }

                    if (st.Note is { } n)
                    {
                        w.WriteString("note"u8, n);
                    }

                    if (x.StatisticsAt is { } at)
                    {
                        WireFormat.WriteTimestamp(w, "at"u8, at);
                    }

                    w.WriteEndObject();
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }));
    }

    /// <summary><c>task_complete</c>'s end: <c>"result"</c> (any JSON, succeeded), <c>"error"</c> (a string, failed) or
    /// <c>"cancelled": true</c> (confirms a cancel or a timeout).</summary>
    private static TaskOutcome Outcome(JsonElement root)
    {
        var error = OptionalString(root, "error");
        var cancelled = OptionalBool(root, "cancelled") == true;
        var hasResult = root.TryGetProperty("result"u8, out var result);
        if ((error is not null ? 1 : 0) + (cancelled ? 1 : 0) + (hasResult ? 1 : 0) > 1)
        {
            throw Invalid("'task_complete' takes one of 'result', 'error' or \"cancelled\": true.");
        }

        return error is not null ? TaskOutcome.Failure(error)
            : cancelled ? TaskOutcome.Cancel
            : TaskOutcome.Success(hasResult ? JsonMarshal.GetRawUtf8Value(result).ToArray() : "null"u8.ToArray());
    }

    private static void WriteTask(Utf8JsonWriter w, TaskInfo t)
    {
        w.WriteStartObject();
        w.WriteString("task_id"u8, t.Id.ToString("N"));
        w.WriteString("service"u8, t.Service);
        w.WriteString("submitter"u8, t.Submitter.Value);
        w.WriteString("state"u8, TaskService.StateName(t.State));
        w.WriteNumber("level"u8, t.Priority.Level);
        w.WriteNumber("priority"u8, (int)t.Priority.Placement);
        w.WriteNumber("attempts"u8, t.Attempts);
        w.WriteNumber("max_attempts"u8, t.MaxAttempts);
        if (t.Worker is { } worker)
        {
            w.WriteString("worker"u8, worker.Value);
        }
        else
        {
            w.WriteNull("worker"u8);
        }

        WireFormat.WriteTimestamp(w, "submitted_at"u8, t.SubmittedAt);
        WriteOptionalTime(w, "assigned_at"u8, t.AssignedAt);
        WriteOptionalTime(w, "finished_at"u8, t.FinishedAt);
        WriteOptional(w, "progress"u8, t.Progress);
        if (t.ProgressNote is { } note)
        {
            w.WriteString("progress_note"u8, note);
        }

        w.WriteBoolean("cancel_requested"u8, t.CancelRequested);
        if (t.State == TaskState.Succeeded)
        {
            WriteBody(w, "result"u8, "result_base64"u8, t.Result.IsEmpty ? "null"u8.ToArray() : t.Result, t.ResultContentType);
        }

        if (t.Error is { } error)
        {
            w.WriteString("error"u8, error);
        }

        w.WriteEndObject();
    }

    /// <summary>A payload or result: JSON as it is; another content type (from another protocol) as base64 in
    /// <paramref name="base64Name"/> with its <c>content_type</c>, as publications are.</summary>
    private static void WriteBody(Utf8JsonWriter w, ReadOnlySpan<byte> name, ReadOnlySpan<byte> base64Name, ReadOnlyMemory<byte> body, string contentType)
    {
        if (contentType == Letter.JsonContentType)
        {
            RequireUtf8(body.Span, "task payload");
            w.WritePropertyName(name);
            w.WriteRawValue(body.Span, skipInputValidation: true);
        }
        else
        {
            w.WriteString("content_type"u8, contentType);
            w.WriteBase64String(base64Name, body.Span);
        }
    }

    private static void RequireResult(TaskInfo t)
    {
        if (t.State == TaskState.Succeeded && t.ResultContentType == Letter.JsonContentType && !t.Result.IsEmpty)
        {
            RequireUtf8(t.Result.Span, "task result");
        }
    }

    private static void WriteOffer(Utf8JsonWriter w, string name, string? description, string? version)
    {
        w.WriteString("name"u8, name);
        w.WriteString("description"u8, description);
        w.WriteString("version"u8, version);
    }

    private static void WriteOptional(Utf8JsonWriter w, ReadOnlySpan<byte> name, double? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
    }

    private static void WriteOptionalTime(Utf8JsonWriter w, ReadOnlySpan<byte> name, DateTimeOffset? value)
    {
        if (value is { } v)
        {
            WireFormat.WriteTimestamp(w, name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static TaskState ParseState(string s) => s switch
    {
        "queued" => TaskState.Queued,
        "assigned" => TaskState.Assigned,
        "running" => TaskState.Running,
        "succeeded" => TaskState.Succeeded,
        "failed" => TaskState.Failed,
        "cancelled" => TaskState.Cancelled,
        "timed_out" => TaskState.TimedOut,
        _ => throw Invalid("'states' holds queued, assigned, running, succeeded, failed, cancelled or timed_out."),
    };

    private static string ServiceName(string name) => QueueService.IsValidName(name)
        ? name
        : throw Invalid("A service name is 1 to 64 of ASCII letters, digits, '_', '-' and '.'.");

    private static Guid TaskId(JsonElement root) => Guid.TryParse(RequiredString(root, "task_id"), out var g)
        ? g
        : throw Invalid("'task_id' must be a task id (32 hex digits).");

    private static List<string>? SoftwareTags(JsonElement o) =>
        o.TryGetProperty("software"u8, out var e) && e.ValueKind != JsonValueKind.Null ? Strings(o, "software", 0, 64) : null;

    private static int Int(JsonElement o, string name) => OptionalLong(o, name) is { } n
        ? n is >= 0 and <= int.MaxValue ? (int)n : throw Invalid($"'{name}' must be 0 or more.")
        : 0;

    private static long? OptionalLong(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var n) ? n : throw Invalid($"'{name}' must be a whole number.");
    }

    private static double? OptionalNumber(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var n) ? n : throw Invalid($"'{name}' must be a number.");
    }
}
