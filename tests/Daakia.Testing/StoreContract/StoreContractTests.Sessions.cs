using Daakia.Core;
using Daakia.Core.Storage;
using Xunit;

namespace Daakia.Testing.StoreContract;

/// <summary>MQTT persistent sessions: records saved and deleted by units of work, their queues' messages with their
/// envelopes, and a deleted session taking its queue (and nothing else) with it.</summary>
public abstract partial class StoreContractTests
{
    private static QueueKey Session(TenantId tenant, ClientId client) => new(tenant, QueueKind.Session, client.Value);

    private static Letter Published(TenantId tenant, string topic, string payload) => new()
    {
        Id = MessageIds.New(DateTimeOffset.UtcNow),
        Tenant = tenant,
        Author = Alice,
        Recipients = [],
        Payload = System.Text.Encoding.UTF8.GetBytes(payload),
        ContentType = "application/octet-stream",
        Headers = [new("k", "v"), new("k", "w")],
        Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000),
        Envelope = new PublicationEnvelope(topic, QualityOfService.ExactlyOnce, Retain: true)
        {
            PayloadFormat = 1,
            ResponseTopic = "reply/here",
            CorrelationData = new byte[] { 0, 1, 2 },
        },
    };

    [Fact]
    public async Task Sessions_AreSaved_Replaced_Deleted_AndReadBackInOrder_AcrossAReopen()
    {
        SubscriptionRequest[] subs =
        [
            new("a/+", new SubscriptionOptions { MaxQos = QualityOfService.ExactlyOnce, NoLocal = true, SubscriptionIdentifier = 42 }),
            new("$share/g/b/#", new SubscriptionOptions { MaxQos = QualityOfService.AtLeastOnce, RetainAsPublished = true, RetainHandling = RetainHandling.DoNotSend }),
        ];
        await Store.WriteAsync([new SaveSessionOp(new SessionRecord(T2, Bob, 10, []))]);
        await Store.WriteAsync([new SaveSessionOp(new SessionRecord(T1, Carol, 5, [])), new SaveSessionOp(new SessionRecord(T1, Bob, 1, []))]);
        await Store.WriteAsync([new SaveSessionOp(new SessionRecord(T1, Bob, SessionRecord.Never, subs))]);
        await Store.WriteAsync([new DeleteSessionOp(T1, Carol), new DeleteSessionOp(T1, Alice)]);
        if (IsDurable)
        {
            await ReopenAsync();
        }

        var all = await Store.ReadSessionsAsync(null, 100);
        Assert.Equal([("t1", "bob", SessionRecord.Never), ("t2", "bob", 10u)], all.Select(s => (s.Tenant.Value, s.Client.Value, s.ExpirySeconds)).ToList());
        Assert.Equal(subs, all[0].Subscriptions);
        var rest = await Store.ReadSessionsAsync((all[0].Tenant, all[0].Client), 1);
        Assert.Equal(("t2", "bob"), (rest.Single().Tenant.Value, rest.Single().Client.Value));
    }

    [Fact]
    public async Task ASessionQueuesMessage_KeepsItsEnvelope_AndDeletingTheSession_TakesItsQueueOnly()
    {
        var shared = Published(T1, "dev/1/temp", "21.5");
        var own = Published(T1, "dev/2", "x");
        await Store.WriteAsync([new SaveSessionOp(new SessionRecord(T1, Bob, 60, [])), new SaveSessionOp(new SessionRecord(T1, Carol, 60, []))]);
        await Store.AppendAsync(shared, [Session(T1, Bob), Session(T1, Carol)]);
        await Store.AppendAsync(own, [Session(T1, Bob)]);
        if (IsDurable)
        {
            await ReopenAsync();
        }

        var read = await Store.ReadAsync(Session(T1, Bob), 0, 10);
        Assert.Equal([shared.Id, own.Id], read.Select(e => e.Id).ToList());
        var m = read[0].Message;
        Assert.Equal(shared.Envelope! with { CorrelationData = null }, m.Envelope! with { CorrelationData = null });
        Assert.Equal([0, 1, 2], m.Envelope!.CorrelationData!.Value.ToArray());
        Assert.Equal(shared.Headers, m.Headers);
        Assert.Equal(("21.5", "application/octet-stream"), (System.Text.Encoding.UTF8.GetString(m.Payload.Span), m.ContentType));
        Assert.Equal(new InboxUsage(2, shared.Size + own.Size + (2L * InboxQuota.EntryOverhead)), await Store.GetUsageAsync(Session(T1, Bob)));

        var results = await Store.WriteAsync([new DeleteSessionOp(T1, Bob)]);
        Assert.Equal(2, results[0].Count);
        Assert.Empty(await Store.ReadAsync(Session(T1, Bob), 0, 10));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetUsageAsync(Session(T1, Bob)));
        Assert.Equal([shared.Id], (await Store.ReadAsync(Session(T1, Carol), 0, 10)).Select(e => e.Id).ToList()); // the shared payload stays
        Assert.Equal([("t1", "carol")], (await Store.ReadSessionsAsync(null, 10)).Select(s => (s.Tenant.Value, s.Client.Value)).ToList());
        Assert.Equal(new InboxUsage(1, shared.Size + InboxQuota.EntryOverhead), await Store.GetTenantUsageAsync(T1));
    }

    [Fact]
    public async Task ASessionSaveInARefusedUnit_IsNotKept()
    {
        var quota = new InboxQuota(MaxLetters: 0, MaxBytes: long.MaxValue, MaxTenantBytes: long.MaxValue);
        await Assert.ThrowsAsync<DaakiaException>(async () =>
            await Store.WriteAsync([new SaveSessionOp(new SessionRecord(T1, Bob, 60, [])), new AppendOp(NewLetter(T1, Alice, [Bob]), [QueueKey.Inbox(T1, Bob)], quota)]));
        Assert.Empty(await Store.ReadSessionsAsync(null, 10));
    }
}
