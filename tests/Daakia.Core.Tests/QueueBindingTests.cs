using System.Text;
using Daakia.Core.Storage;
using Daakia.Testing;

namespace Daakia.Core.Tests;

/// <summary>
/// Named queues bound to topic filters (QueueService.Bindings.cs): publications routed through the engine's topics land
/// in the bound queues durably, once per queue, their payload stored once; unbind, delete, restart, a full queue, and
/// the publisher's completion waiting for the append. Runs on the in-memory and on the chaos store.
/// </summary>
public abstract class QueueBindingTests
{
    protected abstract bool OnChaosStore { get; }

    private EngineFixture New(Action<DaakiaCoreOptions>? configure = null) => new(configure, OnChaosStore);

    private static readonly TenantId T = EngineFixture.Tenant;
    private static readonly ClientId Device = EngineFixture.Id("device-7");
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    /// <summary>Publishes as an MQTT client does (bytes of a content type, at a QoS); completes when the publisher would be acknowledged.</summary>
    private static Task Publish(EngineFixture f, string topic, string payload, QualityOfService qos = QualityOfService.AtLeastOnce,
        string contentType = Publication.OpaqueContentType, TimeSpan? expiry = null, TenantId? tenant = null)
    {
        f.Engine.Topics.Publish(tenant ?? T, Device, topic, Encoding.UTF8.GetBytes(payload), contentType, qos, retain: false, out var stored, expiry: expiry);
        return stored;
    }

    private static async Task<long> CountAsync(EngineFixture f, string queue, TenantId? tenant = null) =>
        (await f.Engine.Queues.StatsAsync(tenant ?? T, queue)).Total;

    private static async Task<IReadOnlyList<QueueMessage>> ClaimAllAsync(EngineFixture f, string queue) =>
        (await f.Engine.Queues.ClaimAsync(T, queue, Minute, Minute, 20)).Messages;

    [Fact]
    public async Task APublishMatchingABinding_LandsInTheQueue_AsPublished_WithItsTopicAndContentType_AndTheQueuesTtl()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        await q.CreateAsync(T, "readings", EngineFixture.Json("{}"), new NamedQueueSettings { DefaultMessageTtl = TimeSpan.FromMinutes(10) });
        Assert.True(await q.BindAsync(T, "readings", "sensors/+/temp"));

        await Publish(f, "sensors/kitchen/temp", "21.5", contentType: "text/plain");
        await Publish(f, "sensors/kitchen/humidity", "40"); // matches no binding
        await Publish(f, "sensors/hall/temp", "{\"c\":19}", QualityOfService.AtMostOnce, expiry: TimeSpan.FromSeconds(30)); // QoS 0 too
        f.Engine.Topics.Publish(T, Device, "sensors/roof/temp", EngineFixture.Json("[1,2]")); // the JSON API's and REST's publish
        await f.SettleAsync();

        // The queue's default TTL; a publication that expires sooner keeps its expiry (read before a claim, which would
        // keep a message alive until the claim and its grace end).
        var listed = (await q.ListAsync(T, "readings", Device, null, 10, echo: true, includeClaimed: true, includeDelayed: true)).Messages;
        Assert.Equal([TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(10)], listed.Select(m => m.ExpiresAt!.Value - m.CreatedAt));
        var got = await ClaimAllAsync(f, "readings");
        Assert.Equal(["21.5", "{\"c\":19}", "[1,2]"], got.Select(m => Encoding.UTF8.GetString(m.Body.Span)));
        Assert.Equal(["sensors/kitchen/temp", "sensors/hall/temp", "sensors/roof/temp"], got.Select(m => m.Topic));
        Assert.Equal(["text/plain", Publication.OpaqueContentType, Letter.JsonContentType], got.Select(m => m.ContentType));
        Assert.All(got, m => Assert.Equal(Device, m.Author));
        Assert.Equal(3, await CountAsync(f, "readings"));
    }

    [Fact]
    public async Task TwoBindingsOfAQueue_MatchingOnePublish_GiveOneCopy()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        Assert.True(await q.BindAsync(T, "audit", "orders/#"));
        Assert.True(await q.BindAsync(T, "audit", "orders/+/created"));
        Assert.False(await q.BindAsync(T, "audit", "orders/#")); // bound already
        Assert.Equal(["orders/#", "orders/+/created"], q.ListBindings(T, "audit")!.Select(b => b.Filter));

        await Publish(f, "orders/17/created", "1");
        await f.SettleAsync();
        Assert.Equal(1, await CountAsync(f, "audit"));
    }

    [Fact]
    public async Task OnePublishToManyBoundQueues_StoresItsPayloadOnce_WithAnEntryPerQueue()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        foreach (var name in new[] { "a", "b", "c" })
        {
            await q.BindAsync(T, name, "big/#");
        }

        await f.SettleAsync(); // each queue's usage bound is read once bound: until then its appends are its own
        var before = await f.Store.GetTenantUsageAsync(T);
        await Publish(f, "big/one", new string('x', 20_000));
        await f.SettleAsync();
        var after = await f.Store.GetTenantUsageAsync(T);

        var counts = await Task.WhenAll(new[] { "a", "b", "c" }.Select(n => CountAsync(f, n)));
        Assert.Equal([1L, 1L, 1L], counts);
        // The tenant's bytes grew by the content once and an entry's overhead per queue, not by three payloads.
        var grown = after.Bytes - before.Bytes;
        Assert.InRange(grown, 20_000 + (3 * InboxQuota.EntryOverhead), 20_000 + (3 * InboxQuota.EntryOverhead) + 100);
    }

    [Fact]
    public async Task Unbinding_StopsIt_AndDeletingTheQueue_TakesItsBindingsWithIt()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        await q.BindAsync(T, "jobs", "work/#");
        await Publish(f, "work/1", "1");
        Assert.True(await q.UnbindAsync(T, "jobs", "work/#"));
        Assert.False(await q.UnbindAsync(T, "jobs", "work/#"));
        await Publish(f, "work/2", "2");
        await f.SettleAsync();
        Assert.Equal(1, await CountAsync(f, "jobs"));
        Assert.Empty(q.ListBindings(T, "jobs")!);

        await q.BindAsync(T, "jobs", "work/#");
        await q.BindAsync(T, "jobs", "more/+");
        await q.DeleteAsync(T, "jobs");
        await Publish(f, "work/3", "3");
        await f.SettleAsync();
        Assert.Null(q.Get(T, "jobs")); // not made again by what its bindings would have matched
        Assert.Null(q.ListBindings(T, "jobs"));
        Assert.Equal(0, await CountAsync(f, "jobs"));
        Assert.DoesNotContain(await f.Store.ReadRecordsAsync(null, 100), r => r.Kind == RecordKind.QueueBinding);
    }

    [Fact]
    public async Task Bindings_SurviveARestart_AndRouteFromTheFirstPublishOn()
    {
        await using var f = await New().StartAsync();
        await f.Engine.Queues.BindAsync(T, "jobs", "work/+");
        await f.Engine.Queues.BindAsync(T, "made-by-bind", "x/#"); // a bind makes its queue, durably
        await f.SettleAsync();

        await using var restarted = new DaakiaEngine(f.Store, f.Options, f.Time);
        await restarted.StartAsync();
        Assert.Equal(["work/+"], restarted.Queues.ListBindings(T, "jobs")!.Select(b => b.Filter));
        Assert.Equal(["x/#"], restarted.Queues.ListBindings(T, "made-by-bind")!.Select(b => b.Filter));
        restarted.Topics.Publish(T, Device, "work/9", "9"u8.ToArray(), "text/plain", QualityOfService.AtLeastOnce, retain: false, out var stored);
        await stored;
        await f.SettleAsync();
        var got = (await restarted.Queues.ClaimAsync(T, "jobs", Minute, Minute, 5)).Messages;
        Assert.Equal(["9"], got.Select(m => Encoding.UTF8.GetString(m.Body.Span)));
    }

    [Fact]
    public async Task ABindingTodaysOptionsNoLongerAllow_IsKeptUnrouted_AndGoesWhenUnboundOrWithItsQueue()
    {
        await using var f = await New().StartAsync();
        await f.Engine.Queues.BindAsync(T, "jobs", "a/b/c/d");
        await f.Engine.Queues.BindAsync(T, "jobs", "a/b");
        await f.Engine.Queues.BindAsync(T, "other", "x/y/z");
        await f.SettleAsync();

        var strict = new DaakiaCoreOptions { MaxTopicLevels = 2 };
        await using var restarted = new DaakiaEngine(f.Store, strict, f.Time);
        await restarted.StartAsync();
        Assert.Equal(["a/b"], restarted.Queues.ListBindings(T, "jobs")!.Select(b => b.Filter)); // the other one is not routed
        Assert.Equal(3, (await f.Store.ReadRecordsAsync(null, 100)).Count(r => r.Kind == RecordKind.QueueBinding)); // but kept

        Assert.True(await restarted.Queues.UnbindAsync(T, "other", "x/y/z"));
        await restarted.Queues.DeleteAsync(T, "jobs");
        await f.SettleAsync();
        Assert.DoesNotContain(await f.Store.ReadRecordsAsync(null, 100), r => r.Kind == RecordKind.QueueBinding);
    }

    [Fact]
    public async Task AFullQueue_DropsWhatItsBindingsMatch_Counted_WithoutFailingThePublisher_WhileOtherBoundQueuesGetIt()
    {
        await using var f = await New(o => o.MaxQueueMessages = 2).StartAsync();
        var q = f.Engine.Queues;
        await q.PostAsync(T, "full", EngineFixture.Id("poster"), [new NewQueueMessage(EngineFixture.Json("1")), new NewQueueMessage(EngineFixture.Json("2"))]);
        await q.BindAsync(T, "full", "t/#");
        await q.BindAsync(T, "roomy", "t/#");

        await Publish(f, "t/1", "a"); // completes: the full queue does not fail the publisher
        await f.SettleAsync();
        Assert.Equal((2L, 1L, 1L), (await CountAsync(f, "full"), await CountAsync(f, "roomy"), q.BindingDrops));

        // Room again: the next publication reaches it (the queue's bound is read again from the store, not stuck).
        await q.PopAsync(T, "full", 1);
        await Publish(f, "t/2", "b");
        await f.SettleAsync();
        Assert.Equal((2L, 2L, 1L), (await CountAsync(f, "full"), await CountAsync(f, "roomy"), q.BindingDrops));

        // Never past its bound, however many are published.
        for (var i = 0; i < 5; i++)
        {
            await Publish(f, "t/more", "c");
        }

        await f.SettleAsync();
        Assert.Equal((2L, 2L, 11L), (await CountAsync(f, "full"), await CountAsync(f, "roomy"), q.BindingDrops));
    }

    [Fact]
    public async Task AnotherTenantsPublish_NeverLands()
    {
        await using var f = await New().StartAsync();
        var other = TenantId.Parse("acme");
        await f.Engine.Queues.BindAsync(T, "jobs", "#");
        await Publish(f, "work/1", "theirs", tenant: other);
        await Publish(f, "work/1", "ours");
        await f.SettleAsync();
        Assert.Equal(["ours"], (await ClaimAllAsync(f, "jobs")).Select(m => Encoding.UTF8.GetString(m.Body.Span)));
        Assert.Null(f.Engine.Queues.Get(other, "jobs"));
    }

    [Fact]
    public async Task AClaimWaitingOnABoundQueue_IsAnsweredByAPublish()
    {
        await using var f = await New().StartAsync();
        var q = f.Engine.Queues;
        await q.BindAsync(T, "jobs", "work/#");
        var waiting = q.ClaimAsync(T, "jobs", Minute, Minute, 5, TimeSpan.FromSeconds(20));
        await Publish(f, "work/1", "1");
        var claimed = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(["1"], claimed.Messages.Select(m => Encoding.UTF8.GetString(m.Body.Span)));
    }

    [Theory]
    [InlineData("$share/g/work/#")]
    [InlineData("$SYS/#")]
    [InlineData("work/#/more")]
    [InlineData("wo+rk")]
    [InlineData("")]
    public async Task AFilterThatIsNotBindable_IsRefused_AndMakesNoQueue(string filter)
    {
        await using var f = await New().StartAsync();
        var e = await Assert.ThrowsAsync<DaakiaException>(() => f.Engine.Queues.BindAsync(T, "jobs", filter));
        Assert.Equal(DaakiaErrorCode.InvalidArgument, e.Code);
        Assert.Null(f.Engine.Queues.Get(T, "jobs"));
    }

    [Fact]
    public async Task AQueue_IsBoundToAtMostMaxBindingsPerQueueFilters()
    {
        await using var f = await New(o => o.MaxBindingsPerQueue = 2).StartAsync();
        var q = f.Engine.Queues;
        await q.BindAsync(T, "jobs", "a");
        await q.BindAsync(T, "jobs", "b");
        var e = await Assert.ThrowsAsync<DaakiaException>(() => q.BindAsync(T, "jobs", "c"));
        Assert.Equal(DaakiaErrorCode.LimitExceeded, e.Code);
        Assert.Equal(["a", "b"], q.ListBindings(T, "jobs")!.Select(b => b.Filter));
    }
}

public sealed class QueueBindingTestsOnMemoryStore : QueueBindingTests
{
    protected override bool OnChaosStore => false;
}

public sealed class QueueBindingTestsOnChaosStore : QueueBindingTests
{
    protected override bool OnChaosStore => true;

    [Fact]
    public async Task ThePublishersCompletion_WaitsUntilTheAppendIsDurable()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        await f.Engine.Queues.BindAsync(EngineFixture.Tenant, "jobs", "work/#");
        await f.SettleAsync();
        var durable = new TaskCompletionSource();
        f.Chaos!.HoldWhen = op => op == "write" ? durable.Task : null;

        f.Engine.Topics.Publish(EngineFixture.Tenant, EngineFixture.Id("device"), "work/1", "1"u8.ToArray(), Publication.OpaqueContentType,
            QualityOfService.AtLeastOnce, retain: false, out var stored);
        var key = new QueueKey(EngineFixture.Tenant, QueueKind.Queue, "jobs");
        // The append has taken effect in the store, but has not completed (is not durable): the publisher still waits.
        await Eventually.True(async () => await f.Store.CountAsync(key) == 1, "the append takes effect");
        Assert.False(stored.IsCompleted);

        durable.SetResult();
        await stored.WaitAsync(TimeSpan.FromSeconds(30));
        f.Chaos.HoldWhen = null;
    }

    [Fact]
    public async Task AnAppendThatFails_FailsThePublisher()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        await f.Engine.Queues.BindAsync(EngineFixture.Tenant, "jobs", "work/#");
        await f.SettleAsync();
        f.Chaos!.FailWhen = op => op == "write";
        f.Engine.Topics.Publish(EngineFixture.Tenant, EngineFixture.Id("device"), "work/1", "1"u8.ToArray(), Publication.OpaqueContentType,
            QualityOfService.AtLeastOnce, retain: false, out var stored);
        var e = await Assert.ThrowsAsync<DaakiaException>(() => stored);
        Assert.Equal(DaakiaErrorCode.Unavailable, e.Code);
        f.Chaos.FailWhen = null;
        Assert.Equal(0, f.Engine.Queues.BindingDrops); // a failure, not a full queue
    }
}
