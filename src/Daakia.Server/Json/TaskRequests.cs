using System.Runtime.InteropServices;
using System.Text.Json;
using Daakia.Core;

namespace Daakia.Server.Json;

/// <summary>The fields a task request's answer adds to the adapter's own envelope (none for a bare ack).</summary>
internal delegate void TaskAnswerWriter(Utf8JsonWriter writer);

/// <summary>
/// The task requests of every connection-holding adapter (the WebSocket API's <c>worker_register</c>, …, MQTT's
/// <c>$tasks/register</c>, …): one operation per name, the same fields in and out (<see cref="TaskWire"/>). The request
/// is read before <see cref="Run"/> returns, so the caller may dispose its document then; the core operation may still
/// be running in the task. Bad input throws <see cref="DaakiaException"/> (synchronously, or from the task).
/// </summary>
internal static class TaskRequests
{
    /// <summary>The operations, by the name MQTT uses after <c>$tasks/</c>.</summary>
    public static readonly string[] Operations =
        ["register", "unregister", "stats", "services", "peer_services", "workers", "submit", "get", "list", "cancel", "started", "progress", "complete"];

    private static readonly Task<TaskAnswerWriter?> Bare = Task.FromResult<TaskAnswerWriter?>(null);

    /// <summary>Runs <paramref name="operation"/> (one of <see cref="Operations"/>) for <paramref name="connection"/>;
    /// null for an unknown name.</summary>
    public static Task<TaskAnswerWriter?>? Run(DaakiaEngine engine, ClientConnection connection, string operation, JsonElement root)
    {
        var tasks = engine.Tasks;
        var tenant = connection.Tenant;
        switch (operation)
        {
            case "register":
                return RegisterAsync(tasks, connection, TaskWire.ReadRegistration(root, engine.Options));
            case "unregister":
                var service = TaskWire.OptionalString(root, "service");
                tasks.Unregister(connection, service is null ? null : TaskWire.ServiceName(service));
                return Bare;
            case "stats":
                tasks.UpdateStatistics(connection, TaskWire.ReadStatistics(root));
                return Bare;
            case "services":
                var services = tasks.ListServices(tenant);
                return Answer(w => TaskWire.WriteServices(w, services));
            case "peer_services":
                var name = TaskWire.RequiredString(root, "client");
                var peer = ClientId.TryCreate(name, out var c) ? c : throw DaakiaException.Invalid($"'client' must be 1-{ClientId.MaxLength} of [A-Za-z0-9._:@-].");
                var offers = tasks.ServicesOf(tenant, peer);
                return Answer(w => TaskWire.WritePeerServices(w, peer, offers));
            case "workers":
                var offered = TaskWire.ServiceName(TaskWire.RequiredString(root, "service"));
                var workers = tasks.AvailableWorkers(tenant, offered);
                return Answer(w => TaskWire.WriteWorkers(w, offered, workers));
            case "submit":
                var request = TaskWire.ReadSubmit(root, TaskWire.RequiredString(root, "service"), Payload(root, engine.Options.MaxPayloadBytes));
                return SubmitAsync(tasks, connection, request);
            case "get":
                var found = tasks.Get(tenant, TaskWire.TaskId(root)) ?? throw new DaakiaException(DaakiaErrorCode.NotFound, "There is no such task.");
                return Answer(w => WriteTaskField(w, found));
            case "list":
                var list = List(tasks, tenant, root);
                return Answer(w => TaskWire.WriteTasks(w, list));
            case "cancel":
                return TaskAsync(tasks.CancelAsync(tenant, connection.Client, TaskWire.TaskId(root)));
            case "started":
                tasks.Started(connection, TaskWire.TaskId(root));
                return Bare;
            case "progress":
                tasks.ReportProgress(connection, TaskWire.TaskId(root), TaskWire.OptionalNumber(root, "progress"), TaskWire.OptionalString(root, "note"));
                return Bare;
            case "complete":
                return TaskAsync(tasks.CompleteAsync(connection, TaskWire.TaskId(root), TaskWire.ReadOutcome(root)));
            default:
                return null;
        }
    }

    private static Task<TaskAnswerWriter?> Answer(TaskAnswerWriter write) => Task.FromResult<TaskAnswerWriter?>(write);

    private static async Task<TaskAnswerWriter?> RegisterAsync(TaskService tasks, ClientConnection connection, WorkerRegistration registration)
    {
        await tasks.RegisterAsync(connection, registration);
        return w =>
        {
            w.WriteStartArray("services"u8);
            foreach (var o in registration.Services)
            {
                w.WriteStringValue(o.Name);
            }

            w.WriteEndArray();
            w.WriteNumber("capacity"u8, registration.Capacity);
        };
    }

    /// <summary>The answer carries the id once the task is durable.</summary>
    private static async Task<TaskAnswerWriter?> SubmitAsync(TaskService tasks, ClientConnection connection, TaskRequest request)
    {
        var info = await tasks.SubmitAsync(connection.Tenant, connection.Client, request);
        return w => TaskWire.WriteSubmittedFields(w, info);
    }

    private static async Task<TaskAnswerWriter?> TaskAsync(Task<TaskInfo> pending)
    {
        var info = await pending;
        return w => WriteTaskField(w, info);
    }

    private static void WriteTaskField(Utf8JsonWriter w, TaskInfo info)
    {
        w.WritePropertyName("task"u8);
        TaskWire.WriteTask(w, info);
    }

    /// <summary><c>{"service", "states", "limit"}</c>; by default the running ones (assigned and running), 100 of them.</summary>
    private static IReadOnlyList<TaskInfo> List(TaskService tasks, TenantId tenant, JsonElement root)
    {
        var service = TaskWire.OptionalString(root, "service");
        List<string>? names = null;
        if (root.TryGetProperty("states"u8, out var e) && e.ValueKind != JsonValueKind.Null)
        {
            if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() is < 1 or > 7)
            {
                throw DaakiaException.Invalid("'states' must be an array of 1 to 7 task states.");
            }

            names = [];
            foreach (var s in e.EnumerateArray())
            {
                names.Add(s.ValueKind == JsonValueKind.String ? s.GetString()! : throw DaakiaException.Invalid("'states' must contain only strings."));
            }
        }

        var limit = TaskWire.OptionalLong(root, "limit") ?? 100;
        if (limit is < 1 or > 1000)
        {
            throw DaakiaException.Invalid("'limit' must be 1-1000.");
        }

        return tasks.List(tenant, service is null ? null : TaskWire.ServiceName(service), TaskWire.ReadStates(names), (int)limit);
    }

    /// <summary>The raw UTF-8 JSON of <c>payload</c> (any JSON value; required), at most <paramref name="max"/> bytes.</summary>
    private static ReadOnlyMemory<byte> Payload(JsonElement root, int max)
    {
        if (!root.TryGetProperty("payload"u8, out var payload))
        {
            throw DaakiaException.Invalid("'payload' is required (any JSON value).");
        }

        var raw = JsonMarshal.GetRawUtf8Value(payload);
        return raw.Length <= max
            ? raw.ToArray()
            : throw new DaakiaException(DaakiaErrorCode.PayloadTooLarge, $"The payload is {raw.Length} bytes; at most {max} are allowed.");
    }
}
