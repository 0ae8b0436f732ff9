using System.Text;
using Daakia.Testing;

namespace Daakia.Core.Tests;

/// <summary>
/// Services, workers and tasks through <see cref="TaskService"/>: dispatch across workers within their capacity,
/// priority order, requirements, cancel in each state, workers lost mid-task, max attempts, results to the submitter's
/// inbox and by query, results from a connection that does not hold the task, timeouts, bad input, and a restart. Runs
/// on the in-memory store and on the chaos store (late, out-of-order completions).
/// </summary>
public abstract class TaskTests
{
    protected abstract bool OnChaosStore { get; }

    private EngineFixture New(Action<DaakiaCoreOptions>? configure = null) => new(configure, OnChaosStore);

    private static readonly TenantId T = EngineFixture.Tenant;
    private static readonly ClientId Submitter = EngineFixture.Id("submitter");

    private static async Task<(ClientConnection Connection, TaskWorkerTarget Target)> WorkerAsync(EngineFixture f, string client, int capacity = 1, WorkerResources? resources = null, string service = "coffee")
    {
        var target = new TaskWorkerTarget();
        var c = await f.Engine.ConnectAsync(T, EngineFixture.Id(client), target, new ConnectOptions("test"));
        f.Engine.Start(c);
        await f.Engine.Tasks.RegisterAsync(c, new WorkerRegistration([new ServiceOffer(service, "makes coffee", "1.0")], capacity, resources));
        return (c, target);
    }

    private static Task<TaskInfo> SubmitAsync(EngineFixture f, string payload = "\"latte\"", TaskPriority priority = default, TaskRequirements? requirements = null, string service = "coffee", bool wait = false, TimeSpan? timeout = null, int? attempts = null) =>
        f.Engine.Tasks.SubmitAsync(T, Submitter, new TaskRequest(service, Encoding.UTF8.GetBytes(payload))
        {
            Priority = priority,
            Requirements = requirements ?? TaskRequirements.None,
            WaitForMatch = wait,
            Timeout = timeout,
            MaxAttempts = attempts,
        });

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    private static string? Header(Letter l, string name) => l.Headers.FirstOrDefault(h => h.Key == name).Value;

    [Fact]
    public async Task Tasks_AreSpreadAcrossWorkers_NoneOverItsCapacity_AndTheRestWaitUntilOneFrees()
    {
        await using var f = await New().StartAsync();
        var workers = new List<(ClientConnection Connection, TaskWorkerTarget Target)>();
        for (var i = 0; i < 3; i++)
        {
            workers.Add(await WorkerAsync(f, $"w{i}", capacity: 2));
        }

        var submitted = await Task.WhenAll(Enumerable.Range(0, 20).Select(n => SubmitAsync(f, n.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        Assert.Equal(20, submitted.Select(s => s.Id).Distinct().Count());
        await Eventually.True(() => workers.Sum(w => w.Target.Assignments.Count) == 6, "every slot is filled");
        Assert.All(workers, w => Assert.Equal(2, w.Target.Assignments.Count));
        var summary = Assert.Single(f.Engine.Tasks.ListServices(T));
        Assert.Equal(("coffee", "makes coffee", 3, 0, 14, 6), (summary.Name, summary.Description, summary.Workers, summary.Available, summary.Queued, summary.Running));
        Assert.Equal(6, f.Engine.Tasks.List(T).Count);
        Assert.Equal(["coffee"], f.Engine.Tasks.ServicesOf(T, EngineFixture.Id("w1")).Select(s => s.Name));

        // Finish everything, always what a worker holds, and watch no worker pass 2 at once.
        var done = new Dictionary<ClientConnection, int>();
        var finished = 0;
        while (finished < 20)
        {
            var progressed = false;
            foreach (var (c, target) in workers)
            {
                var held = target.Assignments.Skip(done.GetValueOrDefault(c)).ToList();
                Assert.True(held.Count <= 2, $"a worker of capacity 2 holds {held.Count}");
                foreach (var a in held)
                {
                    await f.Engine.Tasks.CompleteAsync(c, a.Id, TaskOutcome.Success(Encoding.UTF8.GetBytes("\"ok\"")));
                    done[c] = done.GetValueOrDefault(c) + 1;
                    finished++;
                    progressed = true;
                }
            }

            Assert.True(progressed, "a freed slot is filled at once");
        }

        Assert.All(workers, w => Assert.InRange(w.Target.Assignments.Count, 5, 8));
        Assert.All(submitted, s => Assert.Equal(TaskState.Succeeded, f.Engine.Tasks.Get(T, s.Id)!.State));
        Assert.Equal(3, f.Engine.Tasks.AvailableWorkers(T, "coffee").Count);
    }

    [Fact]
    public async Task WaitingTasks_GoOut_HighestLevelFirst_ThenFrontMiddleBack_AsTheSeedPlacesThem()
    {
        await using var f = await New().StartAsync();
        var (c, w) = await WorkerAsync(f, "w", capacity: 1);
        var busy = await SubmitAsync(f, "\"busy\"");
        var b = await SubmitAsync(f, "\"b\"", TaskPriority.FromSeed(3));
        var cc = await SubmitAsync(f, "\"c\"", TaskPriority.FromSeed(3));
        var d = await SubmitAsync(f, "\"d\"", TaskPriority.FromSeed(1));
        var e = await SubmitAsync(f, "\"e\"", TaskPriority.FromSeed(2));
        var high = await SubmitAsync(f, "\"high\"", new TaskPriority(5));
        Assert.Equal(TaskState.Queued, f.Engine.Tasks.Get(T, b.Id)!.State);

        var order = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            await Eventually.True(() => w.Assignments.Count == i + 1, "the next task is assigned");
            var a = w.Assignments.Last();
            order.Add(Text(a.Payload));
            await f.Engine.Tasks.CompleteAsync(c, a.Id, TaskOutcome.Success(default));
        }

        Assert.Equal(["\"busy\"", "\"high\"", "\"d\"", "\"e\"", "\"b\"", "\"c\""], order);
        _ = (cc, d, e, high);
        Assert.Throws<DaakiaException>(() => TaskPriority.FromSeed(4));
    }

    [Fact]
    public async Task Requirements_PickAWorkerThatMeetsThem_OrAreRefused_UnlessTheTaskWaitsForOne()
    {
        await using var f = await New().StartAsync();
        var (_, small) = await WorkerAsync(f, "small", 4, new WorkerResources(2, 4L << 30, ["python"]));
        var (_, big) = await WorkerAsync(f, "big", 4, new WorkerResources(16, 64L << 30, ["python", "cuda"]));

        var gpu = await SubmitAsync(f, requirements: new TaskRequirements(Software: ["cuda"]));
        var cores = await SubmitAsync(f, requirements: new TaskRequirements(Cores: 8, MemoryBytes: 32L << 30));
        Assert.Equal([gpu.Id, cores.Id], big.Assignments.Select(a => a.Id));
        Assert.Empty(small.Assignments);

        var never = await Assert.ThrowsAsync<DaakiaException>(() => SubmitAsync(f, requirements: new TaskRequirements(Cores: 64)));
        Assert.Equal(DaakiaErrorCode.InvalidArgument, never.Code);
        var waiting = await SubmitAsync(f, requirements: new TaskRequirements(Cores: 64), wait: true);
        Assert.Equal(TaskState.Queued, f.Engine.Tasks.Get(T, waiting.Id)!.State);

        var (_, huge) = await WorkerAsync(f, "huge", 1, new WorkerResources(128, 1L << 40));
        await Eventually.True(() => huge.Assignments.Count == 1, "the task waiting for a match goes to the worker that meets it");
        Assert.Equal(waiting.Id, huge.Assignments.Single().Id);
        Assert.Equal(TaskState.Assigned, f.Engine.Tasks.Get(T, waiting.Id)!.State);
    }

    [Fact]
    public async Task ACancel_RemovesAQueuedTask_TellsTheWorkerOfAnAssignedOne_AndEndsItOnConfirmOrAtTheDeadline()
    {
        await using var f = await New(o => o.TaskCancelGrace = TimeSpan.FromSeconds(10)).StartAsync();
        var (inbox, letters) = await f.ConnectAsync("submitter");
        var (c, w) = await WorkerAsync(f, "w", capacity: 2);
        var assigned = await SubmitAsync(f, "\"a\"");
        var running = await SubmitAsync(f, "\"r\"");
        var queued = await SubmitAsync(f, "\"q\"");
        f.Engine.Tasks.Started(c, running.Id);
        Assert.Equal(TaskState.Running, f.Engine.Tasks.Get(T, running.Id)!.State);

        var other = await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Tasks.CancelAsync(T, EngineFixture.Id("stranger"), queued.Id));
        Assert.Equal(DaakiaErrorCode.Forbidden, other.Code);

        // Queued: removed at once.
        Assert.Equal(TaskState.Cancelled, (await f.Engine.Tasks.CancelAsync(T, Submitter, queued.Id)).State);

        // Assigned: the worker is told; it confirms.
        var a = await f.Engine.Tasks.CancelAsync(T, Submitter, assigned.Id);
        Assert.Equal((TaskState.Assigned, true), (a.State, a.CancelRequested));
        Assert.Contains((assigned.Id, TaskState.Cancelled), w.Cancels);
        Assert.Equal(TaskState.Cancelled, (await f.Engine.Tasks.CompleteAsync(c, assigned.Id, TaskOutcome.Cancel)).State);

        // Running: the worker never answers; the deadline ends it.
        await f.Engine.Tasks.CancelAsync(T, Submitter, running.Id);
        Assert.Contains((running.Id, TaskState.Cancelled), w.Cancels);
        f.Time.Advance(TimeSpan.FromSeconds(11));
        await Eventually.True(() => f.Engine.Tasks.Get(T, running.Id)!.State == TaskState.Cancelled, "the cancel deadline ends the task");
        var late = await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Tasks.CompleteAsync(c, running.Id, TaskOutcome.Success(default)));
        Assert.Equal(DaakiaErrorCode.Forbidden, late.Code);

        // Every end reached the submitter's inbox.
        await f.SettleAsync();
        await Eventually.True(() => letters.Letters.Count == 3, "three cancelled letters");
        Assert.All(letters.Letters, l => Assert.Equal("cancelled", Header(l, "task-state")));
        Assert.Equal(new[] { queued.Id, assigned.Id, running.Id }.Select(TaskRecords.Key).Order(), letters.Letters.Select(l => Header(l, "task-id")).Order());
        _ = inbox;
    }

    [Fact]
    public async Task AWorkerLostMidTask_HasItsTaskRequeued_AndFinishedByAnother_WhoseResultIsTheOnlyOneTaken()
    {
        await using var f = await New().StartAsync();
        var (c1, w1) = await WorkerAsync(f, "w1");
        var task = await SubmitAsync(f);
        Assert.Equal(task.Id, w1.Assignments.Single().Id);
        f.Engine.Tasks.ReportProgress(c1, task.Id, 0.5, "grinding");
        Assert.Equal((0.5, "grinding"), (f.Engine.Tasks.Get(T, task.Id)!.Progress, f.Engine.Tasks.Get(T, task.Id)!.ProgressNote));

        f.Engine.Disconnect(c1);
        var requeued = f.Engine.Tasks.Get(T, task.Id)!;
        Assert.Equal((TaskState.Queued, 1), (requeued.State, requeued.Attempts));

        var (c2, w2) = await WorkerAsync(f, "w2");
        await Eventually.True(() => w2.Assignments.Count == 1, "another worker takes it");
        Assert.Equal((task.Id, 2), (w2.Assignments.Single().Id, w2.Assignments.Single().Attempt));

        var stale = await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Tasks.CompleteAsync(c1, task.Id, TaskOutcome.Success(default)));
        Assert.Equal(DaakiaErrorCode.Forbidden, stale.Code);
        var (c3, _) = await WorkerAsync(f, "w3");
        Assert.Equal(DaakiaErrorCode.Forbidden, (await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Tasks.CompleteAsync(c3, task.Id, TaskOutcome.Success(default)))).Code);

        var done = await f.Engine.Tasks.CompleteAsync(c2, task.Id, TaskOutcome.Success(Encoding.UTF8.GetBytes("{\"cup\":1}")));
        Assert.Equal((TaskState.Succeeded, "w2"), (done.State, done.Worker!.Value.Value));
        Assert.Equal("{\"cup\":1}", Text(f.Engine.Tasks.Get(T, task.Id)!.Result));
    }

    [Fact]
    public async Task ATaskWhoseWorkersAreLostOnEveryAttempt_Fails_AndItsSubmitterIsTold()
    {
        await using var f = await New().StartAsync();
        var (c1, _) = await WorkerAsync(f, "w1");
        var t = await SubmitAsync(f, attempts: 2);
        f.Engine.Disconnect(c1);
        var (c2, w2) = await WorkerAsync(f, "w2");
        await Eventually.True(() => w2.Assignments.Count == 1, "the second attempt");
        f.Engine.Disconnect(c2);
        var failed = f.Engine.Tasks.Get(T, t.Id)!;
        Assert.Equal((TaskState.Failed, 2), (failed.State, failed.Attempts));
        Assert.Contains("lost", failed.Error, StringComparison.Ordinal);

        await f.SettleAsync();
        var inbox = await f.Engine.Letters.ReadInboxAsync(T, Submitter, 0, 10);
        var letter = Assert.Single(inbox);
        Assert.Equal(("failed", TaskRecords.Key(t.Id)), (Header(letter.Message, "task-state"), Header(letter.Message, "task-id")));
    }

    [Fact]
    public async Task AResult_ReachesTheSubmittersInbox_Live_AndStaysQueryable()
    {
        await using var f = await New().StartAsync();
        var (_, letters) = await f.ConnectAsync("submitter");
        var (c, w) = await WorkerAsync(f, "w");
        var task = await SubmitAsync(f, "\"latte --no-milk\"");
        Assert.Equal("\"latte --no-milk\"", Text(w.Assignments.Single().Payload));
        await f.Engine.Tasks.CompleteAsync(c, task.Id, TaskOutcome.Success(Encoding.UTF8.GetBytes("{\"receipt\":42}")));
        await Eventually.True(() => letters.Letters.Count == 1, "the result letter arrives");
        var l = letters.Letters.Single();
        Assert.Equal(("{\"receipt\":42}", "succeeded", "coffee", "w"), (Text(l.Payload), Header(l, "task-state"), Header(l, "task-service"), l.Author.Value));
        var info = f.Engine.Tasks.Get(T, task.Id)!;
        Assert.Equal((TaskState.Succeeded, "{\"receipt\":42}", 1), (info.State, Text(info.Result), info.Attempts));
        Assert.Empty(f.Engine.Tasks.List(T)); // nothing running
        Assert.Single(f.Engine.Tasks.List(T, "coffee", [TaskState.Succeeded]));
    }

    [Fact]
    public async Task ATimeout_TellsTheWorker_AndTheTaskEndsTimedOut()
    {
        await using var f = await New().StartAsync();
        var (c, w) = await WorkerAsync(f, "w");
        var task = await SubmitAsync(f, timeout: TimeSpan.FromSeconds(5));
        Assert.NotNull(w.Assignments.Single().Deadline);
        f.Time.Advance(TimeSpan.FromSeconds(6));
        await Eventually.True(() => w.Cancels.Contains((task.Id, TaskState.TimedOut)), "the worker is told to stop");
        Assert.Equal(TaskState.TimedOut, (await f.Engine.Tasks.CompleteAsync(c, task.Id, TaskOutcome.Cancel)).State);
    }

    [Fact]
    public async Task BadInput_IsRefusedClearly_AndStoresNothing()
    {
        await using var f = await New(o => o.MaxTaskPayloadBytes = 16).StartAsync();
        Assert.Equal(DaakiaErrorCode.NotFound, (await Assert.ThrowsAsync<DaakiaException>(() => SubmitAsync(f))).Code);
        var (c, _) = await WorkerAsync(f, "w");
        Assert.Equal(DaakiaErrorCode.PayloadTooLarge, (await Assert.ThrowsAsync<DaakiaException>(() => SubmitAsync(f, new string('x', 40)))).Code);
        Assert.Equal(DaakiaErrorCode.InvalidArgument, (await Assert.ThrowsAsync<DaakiaException>(() => SubmitAsync(f, priority: new TaskPriority(10)))).Code);
        Assert.Equal(DaakiaErrorCode.InvalidArgument, (await Assert.ThrowsAsync<DaakiaException>(() => SubmitAsync(f, service: "no spaces"))).Code);
        Assert.Equal(DaakiaErrorCode.LimitExceeded, (await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Tasks.RegisterAsync(c, new WorkerRegistration([new ServiceOffer("coffee")], 100_000)))).Code);
        Assert.Equal(DaakiaErrorCode.NotFound, (await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Tasks.CompleteAsync(c, Guid.NewGuid(), TaskOutcome.Success(default)))).Code);
        var (plain, _) = await f.ConnectAsync("plain");
        await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Tasks.RegisterAsync(plain, new WorkerRegistration([new ServiceOffer("coffee")])));
        Assert.Equal(0, Assert.Single(f.Engine.Tasks.ListServices(T)).Queued);
    }

    [Fact]
    public async Task ARestart_KeepsQueuedTasksInOrder_AndRequeuesTheRunningOneInFront()
    {
        var f = await New().StartAsync();
        var (c, w) = await WorkerAsync(f, "w");
        var running = await SubmitAsync(f, "\"r\"");
        f.Engine.Tasks.Started(c, running.Id);
        var first = await SubmitAsync(f, "\"1\"");
        var second = await SubmitAsync(f, "\"2\"", TaskPriority.FromSeed(3));
        var done = await SubmitAsync(f, "\"d\"", new TaskPriority(9));
        await Eventually.True(() => f.Engine.Tasks.Get(T, running.Id)!.State == TaskState.Running, "running");
        _ = w;
        await f.Engine.StopAsync();
        await f.Engine.DisposeAsync();

        await using var restarted = new DaakiaEngine(f.Store, f.Options, f.Time);
        await restarted.StartAsync();
        var r = restarted.Tasks.Get(T, running.Id)!;
        Assert.Equal((TaskState.Queued, 1), (r.State, r.Attempts));
        Assert.Equal(TaskState.Queued, restarted.Tasks.Get(T, first.Id)!.State);
        Assert.Equal(TaskState.Queued, restarted.Tasks.Get(T, done.Id)!.State);
        Assert.Equal(("coffee", 4), (restarted.Tasks.ListServices(T).Single().Name, restarted.Tasks.ListServices(T).Single().Queued));

        var target = new TaskWorkerTarget();
        var wc = await restarted.ConnectAsync(T, EngineFixture.Id("w-again"), target, new ConnectOptions("test"));
        restarted.Start(wc);
        await restarted.Tasks.RegisterAsync(wc, new WorkerRegistration([new ServiceOffer("coffee")], 1));
        var order = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            await Eventually.True(() => target.Assignments.Count == i + 1, "the next task after the restart");
            var a = target.Assignments.Last();
            order.Add(Text(a.Payload));
            await restarted.Tasks.CompleteAsync(wc, a.Id, TaskOutcome.Success(default));
        }

        Assert.Equal(["\"d\"", "\"r\"", "\"1\"", "\"2\""], order);
        Assert.Equal(2, target.Assignments.First(a => a.Id == running.Id).Attempt);
        await f.Store.DisposeAsync();
    }
}

public sealed class TaskTestsOnMemoryStore : TaskTests
{
    protected override bool OnChaosStore => false;
}

public sealed class TaskTestsOnChaosStore : TaskTests
{
    protected override bool OnChaosStore => true;
}
