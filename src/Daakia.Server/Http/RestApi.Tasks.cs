using Daakia.Core;
using Daakia.Server.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Daakia.Server.Http;

/// <summary>
/// Services and tasks on the native API (docs/tasks.md): submit, query and cancel tasks, list services and the workers
/// that offer them. REST has no live connection, so it submits and queries; workers are connections (the WebSocket API,
/// MQTT). The same core operations and JSON (<see cref="TaskWire"/>) as every adapter.
/// </summary>
public static partial class RestApi
{
    private static void MapTasks(RouteGroupBuilder v1)
    {
        v1.MapPost("/services/{service}/tasks", SubmitTaskAsync).WithName("SubmitTask")
            .WithSummary("Submit a task for a service; 201 with its id once it is durable. Its result reaches the caller's (X-Daakia-Client) inbox as a letter and stays queryable.")
            .Accepts<TaskSubmitRequest>("application/json").Produces<TaskSubmitted>(201)
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(413).ProducesProblem(429).ProducesProblem(503);
        v1.MapMethods("/tasks/{taskId}", GetAndHead, GetTask).WithName("GetTask")
            .WithSummary("A task: its state, attempts, worker, times, progress and, once it ended, its result or error.")
            .Produces<TaskView>().ProducesProblem(404);
        v1.MapMethods("/tasks", GetAndHead, ListTasks).WithName("ListTasks")
            .WithSummary("Tasks of the tenant (?service=, ?state=queued,running,…, ?limit=); by default the running ones (assigned and running).")
            .Produces<TaskListView>().ProducesProblem(400);
        v1.MapDelete("/tasks/{taskId}", CancelTaskAsync).WithName("CancelTask")
            .WithSummary("Cancel a task (its submitter, X-Daakia-Client): 200 when it has ended (a queued one is removed at once), 202 while its worker is told and it ends when the worker confirms or at the deadline.")
            .Produces<TaskView>().Produces<TaskView>(202).ProducesProblem(403).ProducesProblem(404);
        v1.MapMethods("/services", GetAndHead, ListServices).WithName("ListServices")
            .WithSummary("Every service of the tenant, with how many workers offer it, how many have room, and its queued and running tasks.")
            .Produces<ServiceListView>();
        v1.MapMethods("/services/{service}/workers", GetAndHead, AvailableWorkers).WithName("AvailableWorkers")
            .WithSummary("The worker connections of a service with room for one more task now, least loaded first.")
            .Produces<WorkerListView>().ProducesProblem(400);
        v1.MapMethods("/clients/{client}/services", GetAndHead, PeerServices).WithName("PeerServices")
            .WithSummary("The services one client's connections offer now.").Produces<PeerServicesView>().ProducesProblem(400);
    }

    private static async Task<IResult> SubmitTaskAsync(HttpContext http, string service, DaakiaEngine engine, TenantResolver tenants, DaakiaServerOptions options)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var submitter = RestRequest.Caller(http);
        using var body = await RestRequest.BodyAsync(http, options);
        var root = body.RootElement;
        var request = TaskWire.ReadSubmit(root, TaskWire.ServiceName(service), RestRequest.Payload(root, engine.Options.MaxPayloadBytes));
        var info = await engine.Tasks.SubmitAsync(tenant, submitter, request);
        http.Response.Headers.Location = $"/v1/tasks/{info.Id:N}";
        return JsonResult.Write(201, info, static (w, t) =>
        {
            w.WriteStartObject();
            TaskWire.WriteSubmittedFields(w, t);
            w.WriteEndObject();
        });
    }

    private static IResult GetTask(HttpContext http, string taskId, DaakiaEngine engine, TenantResolver tenants)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var id = TaskWire.TaskId(taskId);
        return engine.Tasks.Get(tenant, id) is { } task
            ? JsonResult.Write(200, task, TaskWire.WriteTask)
            : RestProblem.Of(404, ErrorCodes.NotFound, $"There is no task '{id:N}'.");
    }

    private static JsonResult ListTasks(HttpContext http, string? service, string? state, int? limit, DaakiaEngine engine, TenantResolver tenants)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var names = state?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var states = TaskWire.ReadStates(names);
        var list = engine.Tasks.List(tenant, service is null ? null : TaskWire.ServiceName(service), states, RestRequest.Limit(limit, 100, 1000));
        return JsonResult.Write(200, list, static (w, l) =>
        {
            w.WriteStartObject();
            TaskWire.WriteTasks(w, l);
            w.WriteEndObject();
        });
    }

    private static async Task<IResult> CancelTaskAsync(HttpContext http, string taskId, DaakiaEngine engine, TenantResolver tenants)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var requester = RestRequest.Caller(http);
        var task = await engine.Tasks.CancelAsync(tenant, requester, TaskWire.TaskId(taskId));
        return JsonResult.Write(task.IsFinal ? 200 : 202, task, TaskWire.WriteTask);
    }

    private static JsonResult ListServices(HttpContext http, DaakiaEngine engine, TenantResolver tenants) =>
        JsonResult.Write(200, engine.Tasks.ListServices(RestRequest.Tenant(http, tenants)), static (w, l) =>
        {
            w.WriteStartObject();
            TaskWire.WriteServices(w, l);
            w.WriteEndObject();
        });

    private static JsonResult AvailableWorkers(HttpContext http, string service, DaakiaEngine engine, TenantResolver tenants)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var name = TaskWire.ServiceName(service);
        return JsonResult.Write(200, (name, engine.Tasks.AvailableWorkers(tenant, name)), static (w, s) =>
        {
            w.WriteStartObject();
            TaskWire.WriteWorkers(w, s.name, s.Item2);
            w.WriteEndObject();
        });
    }

    private static JsonResult PeerServices(HttpContext http, string client, DaakiaEngine engine, TenantResolver tenants)
    {
        var tenant = RestRequest.Tenant(http, tenants);
        var peer = RestRequest.PathClient(client);
        return JsonResult.Write(200, (peer, engine.Tasks.ServicesOf(tenant, peer)), static (w, s) =>
        {
            w.WriteStartObject();
            TaskWire.WritePeerServices(w, s.peer, s.Item2);
            w.WriteEndObject();
        });
    }
}
