using System.Runtime.InteropServices;
using System.Text.Json;
using Daakia.Core;

namespace Daakia.Server.Json;

/// <summary>
/// The JSON of services, workers and tasks (docs/tasks.md), one for every adapter: the WebSocket API's frames, the REST
/// API's bodies and the MQTT <c>$tasks/…</c> payloads read and write the same fields with the same rules. Bad input
/// throws <see cref="DaakiaException"/> (<see cref="DaakiaErrorCode.InvalidArgument"/>), which each adapter answers in
/// its own way.
/// </summary>
public static class TaskWire
{
    /// <summary>A worker's registration: <c>{"services": ["name" | {"name", "description", "version"}], "capacity",
    /// "resources": {"cores", "memory_bytes", "software"}}</c>.</summary>
    public static WorkerRegistration ReadRegistration(JsonElement root, DaakiaCoreOptions options)
    {
        if (!root.TryGetProperty("services"u8, out var list) || list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
        {
            throw Invalid("'services' is required: an array of service names or objects with a 'name'.");
        }

        if (list.GetArrayLength() > options.MaxServicesPerWorker)
        {
            throw new DaakiaException(DaakiaErrorCode.LimitExceeded, $"'services' may have at most {options.MaxServicesPerWorker} items.");
        }

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
                ? new WorkerResources(NonNegative(r, "cores"), OptionalLong(r, "memory_bytes") ?? 0, SoftwareTags(r))
                : throw Invalid("'resources' must be an object: {\"cores\", \"memory_bytes\", \"software\"}.");
        }

        return new WorkerRegistration(services, (int)capacity, resources);
    }

    /// <summary>A worker's statistics: <c>{"cpu_free", "memory_free_bytes", "note"}</c>.</summary>
    public static WorkerStatistics ReadStatistics(JsonElement root) =>
        new(OptionalNumber(root, "cpu_free"), OptionalLong(root, "memory_free_bytes"), OptionalString(root, "note"));

    /// <summary>
    /// A submit's options for <paramref name="service"/> with <paramref name="payload"/>: <c>"priority"</c> (1 front,
    /// 2 middle, 3 back), <c>"level"</c>, <c>"requirements"</c>, <c>"timeout"</c> (seconds), <c>"max_attempts"</c>,
    /// <c>"wait_for_match"</c>.
    /// </summary>
    public static TaskRequest ReadSubmit(JsonElement root, string service, ReadOnlyMemory<byte> payload, string contentType = Letter.JsonContentType)
    {
        var placement = OptionalLong(root, "priority") ?? 3;
        if (placement is < 1 or > 3)
        {
            throw Invalid("'priority' is 1 (front), 2 (middle) or 3 (back).");
        }

        var requirements = TaskRequirements.None;
        if (root.TryGetProperty("requirements"u8, out var r) && r.ValueKind != JsonValueKind.Null)
        {
            requirements = r.ValueKind == JsonValueKind.Object
                ? new TaskRequirements(NonNegative(r, "cores"), OptionalLong(r, "memory_bytes") ?? 0, SoftwareTags(r))
                : throw Invalid("'requirements' must be an object: {\"cores\", \"memory_bytes\", \"software\"}.");
        }

        TimeSpan? timeout = OptionalNumber(root, "timeout") is { } seconds
            ? seconds > 0 && seconds <= TimeSpan.MaxValue.TotalSeconds / 2 ? TimeSpan.FromSeconds(seconds) : throw Invalid("'timeout' must be a positive number of seconds.")
            : null;
        var maxAttempts = OptionalLong(root, "max_attempts");
        return new TaskRequest(ServiceName(service), payload)
        {
            ContentType = contentType,
            Priority = new TaskPriority(NonNegative(root, "level"), (TaskPlacement)placement),
            Requirements = requirements,
            Timeout = timeout,
            MaxAttempts = maxAttempts is null ? null : maxAttempts is >= 1 and <= int.MaxValue ? (int)maxAttempts : throw Invalid("'max_attempts' must be 1 or more."),
            WaitForMatch = OptionalBool(root, "wait_for_match") == true,
        };
    }

    /// <summary>A task's end from its worker: <c>"result"</c> (any JSON: succeeded), <c>"error"</c> (a string: failed) or
    /// <c>"cancelled": true</c> (confirms a cancel or a timeout); none of them is a success without a result.</summary>
    public static TaskOutcome ReadOutcome(JsonElement root)
    {
        var error = OptionalString(root, "error");
        var cancelled = OptionalBool(root, "cancelled") == true;
        var hasResult = root.TryGetProperty("result"u8, out var result);
        if ((error is not null ? 1 : 0) + (cancelled ? 1 : 0) + (hasResult ? 1 : 0) > 1)
        {
            throw Invalid("A task's end takes one of 'result', 'error' or \"cancelled\": true.");
        }

        return error is not null ? TaskOutcome.Failure(error)
            : cancelled ? TaskOutcome.Cancel
            : TaskOutcome.Success(hasResult ? JsonMarshal.GetRawUtf8Value(result).ToArray() : "null"u8.ToArray());
    }

    /// <summary>The states of a list filter (<c>queued</c>, <c>assigned</c>, …); the running ones (assigned and
    /// running) when none is given.</summary>
    public static TaskState[] ReadStates(IEnumerable<string>? names)
    {
        var states = names?.Select(ParseState).Distinct().ToArray() ?? [];
        return states.Length == 0 ? [TaskState.Assigned, TaskState.Running] : states;
    }

    public static TaskState ParseState(string s) => s switch
    {
        "queued" => TaskState.Queued,
        "assigned" => TaskState.Assigned,
        "running" => TaskState.Running,
        "succeeded" => TaskState.Succeeded,
        "failed" => TaskState.Failed,
        "cancelled" => TaskState.Cancelled,
        "timed_out" => TaskState.TimedOut,
        _ => throw Invalid("A task state is one of queued, assigned, running, succeeded, failed, cancelled or timed_out."),
    };

    public static string ServiceName(string name) => QueueService.IsValidName(name)
        ? name
        : throw Invalid("A service name is 1 to 64 of ASCII letters, digits, '_', '-' and '.'.");

    public static Guid TaskId(string? value) => Guid.TryParse(value, out var g)
        ? g
        : throw Invalid("A task id is 32 hex digits.");

    /// <summary>The <c>"task_id"</c> of a request.</summary>
    public static Guid TaskId(JsonElement root) => TaskId(RequiredString(root, "task_id"));

    /// <summary>An assignment's fields (inside an object the caller opened): <c>task_id</c>, <c>service</c>,
    /// <c>submitter</c>, the payload, <c>attempt</c>, <c>level</c>, <c>priority</c>, <c>deadline</c>.</summary>
    public static void WriteAssignmentFields(Utf8JsonWriter w, TaskAssignment a)
    {
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
    }

    /// <summary>A submit's answer's fields: <c>task_id</c>, <c>state</c>, <c>submitted_at</c>.</summary>
    public static void WriteSubmittedFields(Utf8JsonWriter w, TaskInfo t)
    {
        w.WriteString("task_id"u8, t.Id.ToString("N"));
        w.WriteString("state"u8, TaskService.StateName(t.State));
        WireFormat.WriteTimestamp(w, "submitted_at"u8, t.SubmittedAt);
    }

    /// <summary>A task as an object: its service, submitter, state, priority, attempts, worker, times, progress, and
    /// its result or error once it has one.</summary>
    public static void WriteTask(Utf8JsonWriter w, TaskInfo t)
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

    /// <summary><c>"tasks": [task, …]</c>.</summary>
    public static void WriteTasks(Utf8JsonWriter w, IReadOnlyList<TaskInfo> tasks)
    {
        w.WriteStartArray("tasks"u8);
        foreach (var t in tasks)
        {
            WriteTask(w, t);
        }

        w.WriteEndArray();
    }

    /// <summary><c>"services": [{name, description, version, workers, available, queued, running}, …]</c>.</summary>
    public static void WriteServices(Utf8JsonWriter w, IReadOnlyList<ServiceSummary> services)
    {
        w.WriteStartArray("services"u8);
        foreach (var x in services)
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
    }

    /// <summary><c>"client": …, "services": [{name, description, version}, …]</c>: what one peer offers now.</summary>
    public static void WritePeerServices(Utf8JsonWriter w, ClientId client, IReadOnlyList<ServiceOffer> services)
    {
        w.WriteString("client"u8, client.Value);
        w.WriteStartArray("services"u8);
        foreach (var o in services)
        {
            w.WriteStartObject();
            WriteOffer(w, o.Name, o.Description, o.Version);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    /// <summary><c>"service": …, "workers": [{client_id, connection_id, capacity, running, resources, stats}, …]</c>.</summary>
    public static void WriteWorkers(Utf8JsonWriter w, string service, IReadOnlyList<WorkerInfo> workers)
    {
        w.WriteString("service"u8, service);
        w.WriteStartArray("workers"u8);
        foreach (var x in workers)
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
    }

    /// <summary>
    /// A payload or result: JSON as it is; another content type (from another protocol), or bytes that are not UTF-8,
    /// as base64 in <paramref name="base64Name"/> with its <c>content_type</c>, as publications are.
    /// </summary>
    private static void WriteBody(Utf8JsonWriter w, ReadOnlySpan<byte> name, ReadOnlySpan<byte> base64Name, ReadOnlyMemory<byte> body, string contentType)
    {
        if (contentType == Letter.JsonContentType && System.Text.Unicode.Utf8.IsValid(body.Span))
        {
            w.WritePropertyName(name);
            w.WriteRawValue(body.Span, skipInputValidation: true);
        }
        else
        {
            w.WriteString("content_type"u8, contentType);
            w.WriteBase64String(base64Name, body.Span);
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

    private static DaakiaException Invalid(string message) => DaakiaException.Invalid(message);

    private static List<string>? SoftwareTags(JsonElement o)
    {
        if (!o.TryGetProperty("software"u8, out var e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() > 64)
        {
            throw Invalid("'software' must be an array of at most 64 tags.");
        }

        var tags = new List<string>(e.GetArrayLength());
        foreach (var t in e.EnumerateArray())
        {
            tags.Add(t.ValueKind == JsonValueKind.String ? t.GetString()! : throw Invalid("'software' must contain only strings."));
        }

        return tags;
    }

    private static int NonNegative(JsonElement o, string name) => OptionalLong(o, name) is { } n
        ? n is >= 0 and <= int.MaxValue ? (int)n : throw Invalid($"'{name}' must be 0 or more.")
        : 0;

    /// <summary>An optional string field (absent or null: null).</summary>
    public static string? OptionalString(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return e.ValueKind == JsonValueKind.String ? e.GetString() : throw Invalid($"'{name}' must be a string.");
    }

    public static string RequiredString(JsonElement o, string name) =>
        OptionalString(o, name) ?? throw Invalid($"'{name}' is required and must be a string.");

    public static long? OptionalLong(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var n) ? n : throw Invalid($"'{name}' must be a whole number.");
    }

    public static double? OptionalNumber(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var n) ? n : throw Invalid($"'{name}' must be a number.");
    }

    private static bool? OptionalBool(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Invalid($"'{name}' must be true or false."),
        };
    }
}
