using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>Workers: registration on a live connection, statistics, listings (REQ04, REQ05, available workers), and a
/// worker's connection going away (its tasks re-queued).</summary>
public sealed partial class TaskService
{
    /// <summary>
    /// Registers (or re-registers, replacing what it said before) the services a worker connection offers, with its
    /// capacity (tasks at once, REQ20) and resources. A service new to the tenant is recorded durably before this
    /// completes, and stays known after its workers leave (tasks for it wait). Waiting tasks are dispatched to it at once.
    /// A lower capacity than the tasks it runs takes nothing from it; it gets no new ones until below.
    /// </summary>
    public async Task RegisterAsync(ClientConnection worker, WorkerRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(registration);
        _engine.EnsureAccepting();
        if (worker.Target is not ITaskWorkerTarget target)
        {
            throw DaakiaException.Invalid("This connection cannot take tasks (its protocol has no task frames).");
        }

        ValidateRegistration(registration);
        var now = _time.GetUtcNow();
        var t = _engine.Tenant(worker.Tenant);
        Task? write = null;
        List<ServiceState> made = [];
        lock (t.Gate)
        {
            if (worker.Removed)
            {
                throw new DaakiaException(DaakiaErrorCode.NotFound, "The connection is gone.");
            }

            var b = t.Tasks ??= new TaskBoard();
            var fresh = registration.Services.Count(o => !b.Services.ContainsKey(o.Name));
            if (b.Services.Count + fresh > _options.MaxServicesPerTenant)
            {
                throw new DaakiaException(DaakiaErrorCode.QuotaExceeded, $"A tenant may have at most {_options.MaxServicesPerTenant} services.");
            }

            var ops = new List<StoreOp>();
            if (!b.Workers.TryGetValue(worker.Id, out var w))
            {
                b.Workers[worker.Id] = w = new WorkerState(worker, target);
            }

            foreach (var old in w.Services)
            {
                if (!registration.Services.Any(o => o.Name == old.Name) && b.Services.TryGetValue(old.Name, out var gone))
                {
                    gone.Workers.Remove(w);
                }
            }

            w.Services = [.. registration.Services];
            w.Capacity = registration.Capacity;
            w.Resources = registration.Resources ?? WorkerResources.None;
            foreach (var offer in registration.Services)
            {
                if (!b.Services.TryGetValue(offer.Name, out var s))
                {
                    b.Services[offer.Name] = s = new ServiceState(offer, now);
                    ops.Add(TaskRecords.Put(t.Id, s));
                    made.Add(s);
                }
                else if (!string.Equals(s.Info.Description, offer.Description, StringComparison.Ordinal) || !string.Equals(s.Info.Version, offer.Version, StringComparison.Ordinal))
                {
                    // The latest registration describes the service (workers of one service agree, or the newest says so).
                    s.Info = offer;
                    ops.Add(TaskRecords.Put(t.Id, s));
                }

                if (!s.Workers.Contains(w))
                {
                    s.Workers.Add(w);
                }
            }

            var names = string.Join(',', registration.Services.Select(o => o.Name));
            ops.Add(new ActivityOp([new ActivityEntry(0, t.Id, now, ActivityKinds.WorkerRegistered, worker.Client, names, $"{worker.Id} capacity {registration.Capacity}")]));
            write = _store.WriteAsync(ops).AsTask();
            foreach (var offer in registration.Services)
            {
                Dispatch(t, b.Services[offer.Name], now);
            }
        }

        await write;
        lock (t.Gate)
        {
            foreach (var s in made)
            {
                s.RecordDurable = true;
            }
        }
    }

    private void ValidateRegistration(WorkerRegistration r)
    {
        if (r.Services is null || r.Services.Count == 0 || r.Services.Count > _options.MaxServicesPerWorker)
        {
            throw DaakiaException.Invalid($"A worker offers 1 to {_options.MaxServicesPerWorker} services.");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var o in r.Services)
        {
            if (o is null || !QueueService.IsValidName(o.Name) || !seen.Add(o.Name))
            {
                throw DaakiaException.Invalid("Each service has a distinct name of 1 to 64 ASCII letters, digits, '_', '-' and '.'.");
            }

            if (o.Description is { Length: > MaxTextLength } || o.Version is { Length: > MaxTagLength })
            {
                throw DaakiaException.Invalid($"A service's description is at most {MaxTextLength} characters, its version at most {MaxTagLength}.");
            }
        }

        if (r.Capacity < 1 || r.Capacity > _options.MaxWorkerCapacity)
        {
            throw new DaakiaException(DaakiaErrorCode.LimitExceeded, $"A worker's capacity is 1 to {_options.MaxWorkerCapacity} tasks at once.");
        }

        if (r.Resources is { } res)
        {
            if (res.Cores < 0 || res.MemoryBytes < 0)
            {
                throw DaakiaException.Invalid("A worker's cores and memory are not negative.");
            }

            ValidateTags(res.Software);
        }
    }

    /// <summary>Stops offering one service (null: all) on this connection. Tasks it runs stay its own until it ends them
    /// or goes.</summary>
    public void Unregister(ClientConnection worker, string? service = null)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var t = _engine.TryTenant(worker.Tenant);
        if (t is null)
        {
            return;
        }

        lock (t.Gate)
        {
            if (t.Tasks is not { } b || !b.Workers.TryGetValue(worker.Id, out var w))
            {
                return;
            }

            foreach (var o in w.Services.Where(o => service is null || o.Name == service).ToList())
            {
                w.Services.Remove(o);
                if (b.Services.TryGetValue(o.Name, out var s))
                {
                    s.Workers.Remove(w);
                }
            }

            // Batched with the other hot-path entries (bounded; a full recorder drops and counts).
            _engine.RecordActivity(new ActivityEntry(0, t.Id, _time.GetUtcNow(), ActivityKinds.WorkerUnregistered, worker.Client, service ?? "*", worker.Id.ToString()));
        }
    }

    /// <summary>A worker's statistics (REQ21), kept with it in memory and shown by <see cref="AvailableWorkers"/>.</summary>
    public void UpdateStatistics(ClientConnection worker, WorkerStatistics statistics)
    {
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(statistics);
        if (statistics.CpuFree is { } cpu && (double.IsNaN(cpu) || cpu < 0 || cpu > 1))
        {
            throw DaakiaException.Invalid("Free CPU is between 0 and 1.");
        }

        if (statistics.MemoryFreeBytes < 0 || statistics.Note is { Length: > MaxTextLength })
        {
            throw DaakiaException.Invalid($"Free memory is not negative, a note at most {MaxTextLength} characters.");
        }

        var t = _engine.Tenant(worker.Tenant);
        lock (t.Gate)
        {
            if (t.Tasks is not { } b || !b.Workers.TryGetValue(worker.Id, out var w))
            {
                throw new DaakiaException(DaakiaErrorCode.NotFound, "This connection has registered no services.");
            }

            w.Statistics = statistics;
            w.StatisticsAt = _time.GetUtcNow();
        }
    }

    /// <summary>The services a peer's connections offer now (REQ04), by name.</summary>
    public IReadOnlyList<ServiceOffer> ServicesOf(TenantId tenant, ClientId peer)
    {
        var result = new SortedDictionary<string, ServiceOffer>(StringComparer.Ordinal);
        var t = _engine.TryTenant(tenant);
        if (t is not null)
        {
            lock (t.Gate)
            {
                foreach (var w in t.Tasks?.Workers.Values ?? Enumerable.Empty<WorkerState>())
                {
                    if (w.Connection.Client == peer)
                    {
                        foreach (var o in w.Services)
                        {
                            result.TryAdd(o.Name, o);
                        }
                    }
                }
            }
        }

        return [.. result.Values];
    }

    /// <summary>Every service of the tenant (REQ05), by name: its workers now, how many have room, what waits and runs.</summary>
    public IReadOnlyList<ServiceSummary> ListServices(TenantId tenant)
    {
        var result = new List<ServiceSummary>();
        var t = _engine.TryTenant(tenant);
        if (t is null)
        {
            return result;
        }

        lock (t.Gate)
        {
            foreach (var s in t.Tasks?.Services.Values ?? Enumerable.Empty<ServiceState>())
            {
                result.Add(new ServiceSummary(s.Info.Name, s.Info.Description, s.Info.Version, s.Workers.Count, s.Workers.Count(w => w.HasRoom), s.QueuedCount, s.RunningCount));
            }
        }

        return result;
    }

    /// <summary>The worker connections of a service with room for a task now, least loaded first.</summary>
    public IReadOnlyList<WorkerInfo> AvailableWorkers(TenantId tenant, string service)
    {
        var t = _engine.TryTenant(tenant);
        if (t is null)
        {
            return [];
        }

        lock (t.Gate)
        {
            if (t.Tasks is not { } b || !b.Services.TryGetValue(service, out var s))
            {
                return [];
            }

            return [.. s.Workers.Where(w => w.HasRoom)
                .OrderBy(w => (double)w.Running.Count / w.Capacity)
                .Select(w => new WorkerInfo(w.Connection.Client, w.Connection.Id, w.Capacity, w.Running.Count, w.Resources, w.Statistics, w.StatisticsAt))];
        }
    }

    /// <summary>
    /// A connection went (closed, or missed its heartbeats): it offers nothing any more, and each task it held is
    /// re-queued in front of its level with its attempt counted, or failed past its attempts, or ends as asked if a cancel
    /// or timeout was pending.
    /// </summary>
    internal void ConnectionGone(ClientConnection connection)
    {
        var t = _engine.TryTenant(connection.Tenant);
        if (t is null)
        {
            return;
        }

        List<ClientConnection>? toClose = null;
        lock (t.Gate)
        {
            if (t.Tasks is not { } b || !b.Workers.Remove(connection.Id, out var w))
            {
                return;
            }

            var now = _time.GetUtcNow();
            var ops = new List<StoreOp>();
            foreach (var s in b.Services.Values)
            {
                s.Workers.Remove(w);
            }

            foreach (var id in w.Running.ToList())
            {
                var item = b.Tasks[id];
                var s = b.Services[item.Service];
                if (item.CancelDeadline is not null)
                {
                    Finish(t, b, item, item.StopAs, default, Letter.JsonContentType, null, null, now, ops);
                }
                else if (!item.Durable)
                {
                    // Lost before its submit committed: that attempt is not counted (nothing of it was stored).
                    item.Attempts--;
                    Requeue(t, s, item, now, ops);
                }
                else if (item.Attempts >= item.MaxAttempts)
                {
                    Finish(t, b, item, TaskState.Failed, default, Letter.JsonContentType, $"Its worker was lost on each of its {item.Attempts} attempts.", null, now, ops);
                }
                else
                {
                    Requeue(t, s, item, now, ops);
                }
            }

            ops.Add(new ActivityOp([new ActivityEntry(0, t.Id, now, ActivityKinds.WorkerUnregistered, connection.Client, "*", connection.Id.ToString())]));
            Commit(t, ops, background: true, ref toClose);
            foreach (var s in b.Services.Values)
            {
                Dispatch(t, s, now);
            }
        }

        _engine.CloseAll(toClose, CloseReason.SlowConsumer);
    }
}
