using System.Text.Json;
using System.Text.Json.Serialization;

namespace Daakia.Server.Http;

// Shapes of the task bodies, for the OpenAPI document (docs/tasks.md); handlers write them with TaskWire.

/// <summary>What a task needs of its worker: at least these cores and memory, and every software tag.</summary>
public sealed record TaskRequirementsView(
    [property: JsonPropertyName("cores")] int? Cores,
    [property: JsonPropertyName("memory_bytes")] long? MemoryBytes,
    [property: JsonPropertyName("software")] IReadOnlyList<string>? Software);

/// <summary>A task to submit. <c>priority</c>: 1 front, 2 middle, 3 back (default) of its level; <c>level</c>: 0 up,
/// higher first; <c>timeout</c> in seconds from its assignment.</summary>
public sealed record TaskSubmitRequest(
    [property: JsonPropertyName("payload")] JsonElement Payload,
    [property: JsonPropertyName("priority")] int? Priority,
    [property: JsonPropertyName("level")] int? Level,
    [property: JsonPropertyName("requirements")] TaskRequirementsView? Requirements,
    [property: JsonPropertyName("timeout")] double? Timeout,
    [property: JsonPropertyName("max_attempts")] int? MaxAttempts,
    [property: JsonPropertyName("wait_for_match")] bool? WaitForMatch);

/// <summary>A task accepted: durable, its id (the seed's OrderId) and its state now.</summary>
public sealed record TaskSubmitted(
    [property: JsonPropertyName("task_id")] string TaskId,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("submitted_at")] string SubmittedAt);

/// <summary>A task. <c>state</c>: queued, assigned, running, succeeded, failed, cancelled or timed_out.</summary>
public sealed record TaskView(
    [property: JsonPropertyName("task_id")] string TaskId,
    [property: JsonPropertyName("service")] string Service,
    [property: JsonPropertyName("submitter")] string Submitter,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("level")] int Level,
    [property: JsonPropertyName("priority")] int Priority,
    [property: JsonPropertyName("attempts")] int Attempts,
    [property: JsonPropertyName("max_attempts")] int MaxAttempts,
    [property: JsonPropertyName("worker")] string? Worker,
    [property: JsonPropertyName("submitted_at")] string SubmittedAt,
    [property: JsonPropertyName("assigned_at")] string? AssignedAt,
    [property: JsonPropertyName("finished_at")] string? FinishedAt,
    [property: JsonPropertyName("progress")] double? Progress,
    [property: JsonPropertyName("progress_note")] string? ProgressNote,
    [property: JsonPropertyName("cancel_requested")] bool CancelRequested,
    [property: JsonPropertyName("result")] JsonElement? Result,
    [property: JsonPropertyName("error")] string? Error);

/// <summary>Tasks, newest last.</summary>
public sealed record TaskListView([property: JsonPropertyName("tasks")] IReadOnlyList<TaskView> Tasks);

/// <summary>A service of the tenant.</summary>
public sealed record ServiceView(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("version")] string? Version,
    [property: JsonPropertyName("workers")] int Workers,
    [property: JsonPropertyName("available")] int Available,
    [property: JsonPropertyName("queued")] int Queued,
    [property: JsonPropertyName("running")] int Running);

/// <summary>Every service of the tenant.</summary>
public sealed record ServiceListView([property: JsonPropertyName("services")] IReadOnlyList<ServiceView> Services);

/// <summary>A worker connection with room for a task.</summary>
public sealed record WorkerView(
    [property: JsonPropertyName("client_id")] string ClientId,
    [property: JsonPropertyName("connection_id")] string ConnectionId,
    [property: JsonPropertyName("capacity")] int Capacity,
    [property: JsonPropertyName("running")] int Running,
    [property: JsonPropertyName("resources")] TaskRequirementsView Resources,
    [property: JsonPropertyName("stats")] JsonElement? Stats);

/// <summary>The available workers of a service.</summary>
public sealed record WorkerListView(
    [property: JsonPropertyName("service")] string Service,
    [property: JsonPropertyName("workers")] IReadOnlyList<WorkerView> Workers);

/// <summary>A service one peer offers.</summary>
public sealed record ServiceOfferView(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("version")] string? Version);

/// <summary>The services one client's connections offer now.</summary>
public sealed record PeerServicesView(
    [property: JsonPropertyName("client")] string Client,
    [property: JsonPropertyName("services")] IReadOnlyList<ServiceOfferView> Services);
