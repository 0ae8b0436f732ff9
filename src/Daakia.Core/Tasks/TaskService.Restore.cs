using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>Services and tasks read back at start-up.</summary>
public sealed partial class TaskService
{
    /// <summary>
    /// Reads services and tasks back when the core starts, before anything connects. Queued tasks wait again in their
    /// order; assigned and running ones are re-queued in front of their level (their workers' connections did not
    /// survive the restart), or failed when they have had all their attempts; finished ones stay queryable. A task's
    /// payload is its entry in the service's task queue; an entry without a task record, or an open task without its
    /// entry, is removed.
    /// </summary>
    internal async Task RestoreAsync(CancellationToken cancellationToken)
    {
        var services = new List<StoredRecord>();
        var tasks = new List<StoredRecord>();
        (TenantId Tenant, RecordKind Kind, string Key)? after = null;
        while (true)
        {
            var page = await _store.ReadRecordsAsync(after, 1000, cancellationToken);
            foreach (var r in page)
            {
                if (r.Kind == RecordKind.TaskService)
                {
                    services.Add(r);
                }
                else if (r.Kind == RecordKind.Task)
                {
                    tasks.Add(r);
                }
            }

            if (page.Count < 1000)
            {
                break;
            }

            after = (page[^1].Tenant, page[^1].Kind, page[^1].Key);
        }

        if (services.Count == 0 && tasks.Count == 0)
        {
            return;
        }

        foreach (var r in services)
        {
            var t = _engine.Tenant(r.Tenant);
            var b = t.Tasks ??= new TaskBoard();
            b.Services[r.Key] = TaskRecords.DecodeService(r.Key, r.Value.Span);
        }

        // Every entry of every service's task queue: the payloads of the open tasks (bounded by MaxOpenTasksPerTenant).
        var payloads = new Dictionary<(TenantId Tenant, Guid Id), (Letter Letter, string Service)>();
        var ops = new List<StoreOp>();
        foreach (var r in services)
        {
            var queue = QueueOf(r.Tenant, r.Key);
            var position = 0L;
            while (true)
            {
                var page = await _store.ReadAsync(queue, position, 1000, long.MaxValue, cancellationToken);
                foreach (var e in page)
                {
                    payloads[(r.Tenant, e.Id)] = (e.Message, r.Key);
                }

                if (page.Count < 1000)
                {
                    break;
                }

                position = page[^1].Position;
            }
        }

        var now = _time.GetUtcNow();
        var open = new List<TaskItem>();
        foreach (var r in tasks)
        {
            var t = _engine.Tenant(r.Tenant);
            var b = t.Tasks ??= new TaskBoard();
            var found = false;
            var item = TaskRecords.DecodeTask(r.Tenant, r.Key, r.Value.Span, (id, _) =>
            {
                found = payloads.Remove((r.Tenant, id), out var p);
                return found ? p.Letter : null;
            });
            item.Durable = true;
            if (!b.Services.ContainsKey(item.Service) || (!item.IsFinal && !found))
            {
                // Its service's record or its payload is gone: it cannot run.
                ops.Add(TaskRecords.Delete(r.Tenant, item.Id));
                continue;
            }

            b.Tasks[item.Id] = item;
            if (item.IsFinal)
            {
                b.Bytes += item.Result.Length;
                continue;
            }

            b.Open++;
            b.Bytes += item.Payload.Payload.Length;
            open.Add(item);
        }

        // Open tasks in their order: level by level, then by their place, then by submit (ids are time-ordered).
        open.Sort(static (x, y) => x.Order != y.Order ? x.Order.CompareTo(y.Order) : x.Id.CompareTo(y.Id));
        foreach (var item in open)
        {
            var t = _engine.Tenant(item.Payload.Tenant);
            var b = t.Tasks!;
            var s = b.Services[item.Service];
            var was = item.State;
            if (was != TaskState.Queued && item.CancelDeadline is not null)
            {
                Finish(t, b, item, item.StopAs, default, Letter.JsonContentType, null, null, now, ops);
                continue;
            }

            if (was != TaskState.Queued && item.Attempts >= item.MaxAttempts)
            {
                Finish(t, b, item, TaskState.Failed, default, Letter.JsonContentType, $"Its worker was lost on each of its {item.Attempts} attempts (the last in a restart).", null, now, ops);
                continue;
            }

            var order = item.Order;
            if (!s.Waiting.TryGetValue(item.Priority.Level, out var list))
            {
                s.Waiting[item.Priority.Level] = list = [];
            }

            item.State = TaskState.Queued;
            item.WorkerClient = null;
            item.AssignedAt = null;
            s.QueuedCount++;
            if (was == TaskState.Queued)
            {
                list.Add(item);
                item.Order = order;
            }
            else
            {
                // Re-queued in front of its level, as when its worker is lost.
                item.Order = list.Count == 0 ? order : Math.Min(order, list[0].Order - 1);
                list.Insert(0, item);
                ops.Add(TaskRecords.Put(item.Payload.Tenant, item));
                ops.Add(new ActivityOp([Activity(item.Payload.Tenant, now, ActivityKinds.TaskRequeued, null, item, "restart")]));
            }
        }

        foreach (var (key, p) in payloads)
        {
            // An entry whose task record is gone: nothing will ever take it.
            ops.Add(new DeleteOp(QueueOf(key.Tenant, p.Service), [key.Id]));
        }

        foreach (var t in _engine.AllTenants)
        {
            if (t.Tasks is { } b)
            {
                foreach (var f in b.Tasks.Values.Where(static i => i.IsFinal && i.FinishedNode is null).OrderBy(static i => i.FinishedAt))
                {
                    f.FinishedNode = b.Finished.AddLast(f);
                }
            }
        }

        if (ops.Count > 0)
        {
            await _store.WriteAsync(ops, cancellationToken);
        }
    }
}
