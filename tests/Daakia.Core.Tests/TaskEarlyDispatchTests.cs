using System.Text;
using Daakia.Testing;

namespace Daakia.Core.Tests;

/// <summary>
/// A task is handed to a worker while its submit commits (the dispatch latency holds no fsync), on the chaos store
/// whose completions a test orders: the submitter's answer still waits for the commit, so does the task's end, and a
/// submit that is not stored withdraws the task from its worker.
/// </summary>
public sealed class TaskEarlyDispatchTests
{
    private static readonly TenantId T = EngineFixture.Tenant;
    private static readonly ClientId Submitter = EngineFixture.Id("submitter");

    private static TaskRequest Request(string payload) => new("coffee", Encoding.UTF8.GetBytes(payload));

    private static async Task<(ClientConnection Connection, TaskWorkerTarget Target)> WorkerAsync(EngineFixture f)
    {
        var target = new TaskWorkerTarget();
        var c = await f.Engine.ConnectAsync(T, EngineFixture.Id("w"), target, new ConnectOptions("test"));
        f.Engine.Start(c);
        await f.Engine.Tasks.RegisterAsync(c, new WorkerRegistration([new ServiceOffer("coffee", null, null)], 1, null));
        await f.SettleAsync();
        return (c, target);
    }

    /// <summary>Makes the next unit of work the chaos store is given pass <paramref name="fate"/>'s answer; later ones are left alone.</summary>
    private static void Next(ChaosStore store, Func<string, bool> fate)
    {
        var armed = 1;
        store.FailWhen = op => op == "write" && Interlocked.Exchange(ref armed, 0) == 1 && fate(op);
    }

    [Fact]
    public async Task ATask_ReachesItsWorker_BeforeItsSubmitCommits_ButItsAnswerAndItsEnd_WaitForTheCommit()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var chaos = f.Chaos!;
        var (c, w) = await WorkerAsync(f);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var armed = 1;
        chaos.HoldWhen = op => op == "write" && Interlocked.Exchange(ref armed, 0) == 1 ? release.Task : null;

        var submit = f.Engine.Tasks.SubmitAsync(T, Submitter, Request("\"latte\""));
        await Eventually.True(() => !w.Assignments.IsEmpty, "the worker has the task while its submit is held");
        Assert.False(submit.IsCompleted, "the submitter is answered only after the commit");
        var a = Assert.Single(w.Assignments);
        Assert.Null(f.Engine.Tasks.Get(T, a.Id)); // not yet a task anybody can see

        // The worker is quick: its result waits for the submit, and the submitter's answer comes first.
        f.Engine.Tasks.Started(c, a.Id);
        var complete = f.Engine.Tasks.CompleteAsync(c, a.Id, TaskOutcome.Success(Encoding.UTF8.GetBytes("\"done\"")));
        await Eventually.True(() => chaos.Outstanding == 1, "every store call but the held submit has answered");
        Assert.False(complete.IsCompleted, "the end is not written before the submit");
        release.SetResult();

        var info = await submit;
        Assert.Equal(a.Id, info.Id);
        Assert.Equal(TaskState.Succeeded, (await complete).State);
        await f.SettleAsync();
        Assert.Equal(TaskState.Succeeded, f.Engine.Tasks.Get(T, a.Id)!.State);
        var letters = await f.Engine.Letters.ReadInboxAsync(T, Submitter, 0, 10);
        var letter = Assert.Single(letters);
        Assert.Equal("\"done\"", Encoding.UTF8.GetString(letter.Message.Payload.Span));
    }

    [Fact]
    public async Task ASubmitThatIsNotStored_IsWithdrawnFromItsWorker_WhoseResultIsRefused_AndWhoseSlotIsFree()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var chaos = f.Chaos!;
        var (c, w) = await WorkerAsync(f);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = 1;
        chaos.HoldWhen = op => op == "write" && Interlocked.Exchange(ref held, 0) == 1 ? release.Task : null;
        Next(chaos, _ => true);

        var submit = f.Engine.Tasks.SubmitAsync(T, Submitter, Request("\"latte\""));
        await Eventually.True(() => !w.Assignments.IsEmpty, "the worker has the task while its submit is held");
        var a = Assert.Single(w.Assignments);
        var complete = f.Engine.Tasks.CompleteAsync(c, a.Id, TaskOutcome.Success(default));
        release.SetResult();

        await Assert.ThrowsAnyAsync<Exception>(() => submit);
        var refused = await Assert.ThrowsAsync<DaakiaException>(() => complete);
        Assert.Equal(DaakiaErrorCode.NotFound, refused.Code);
        Assert.Contains(w.Cancels, x => x.Task == a.Id && x.Reason == TaskState.Cancelled);
        Assert.Null(f.Engine.Tasks.Get(T, a.Id));
        Assert.Empty(await f.Engine.Letters.ReadInboxAsync(T, Submitter, 0, 10));

        // The slot it held is free: the next task goes to the same worker of capacity 1.
        chaos.FailWhen = null;
        chaos.HoldWhen = null;
        var next = await f.Engine.Tasks.SubmitAsync(T, Submitter, Request("\"mocha\""));
        await Eventually.True(() => w.Assignments.Count == 2, "the freed slot takes the next task");
        Assert.Equal(next.Id, w.Assignments.Last().Id);
        var summary = Assert.Single(f.Engine.Tasks.ListServices(T));
        Assert.Equal((0, 1), (summary.Queued, summary.Running));
    }
}
