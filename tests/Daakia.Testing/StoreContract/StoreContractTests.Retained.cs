using Daakia.Core;
using Daakia.Core.Storage;
using Xunit;

namespace Daakia.Testing.StoreContract;

/// <summary>Retained messages: one per tenant and topic, replaced and removed by ops of a unit of work, read back in order.</summary>
public abstract partial class StoreContractTests
{
    private static RetainedMessage Retained(TenantId tenant, string topic, string payload, QualityOfService qos = QualityOfService.AtLeastOnce) =>
        new(tenant, topic, Alice, System.Text.Encoding.UTF8.GetBytes(payload), "text/plain", qos,
            DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123));

    [Fact]
    public async Task Retained_IsReplaced_Removed_AndReadBackInTenantAndTopicOrder_AcrossAReopen()
    {
        await Store.WriteAsync([new RetainOp(Retained(T2, "b", "t2-b"))]);
        await Store.WriteAsync([new RetainOp(Retained(T1, "s/2", "old")), new RetainOp(Retained(T1, "s/1", "one"))]);
        await Store.WriteAsync([new RetainOp(Retained(T1, "s/2", "two", QualityOfService.ExactlyOnce))]);
        await Store.WriteAsync([new RetainOp(Retained(T1, "gone", "x"))]);
        await Store.WriteAsync([new ClearRetainedOp(T1, "gone"), new ClearRetainedOp(T1, "never-there")]);
        if (IsDurable)
        {
            await ReopenAsync();
        }

        var all = await Store.ReadRetainedAsync(null, 100);
        Assert.Equal([("t1", "s/1", "one"), ("t1", "s/2", "two"), ("t2", "b", "t2-b")],
            all.Select(m => (m.Tenant.Value, m.Topic, System.Text.Encoding.UTF8.GetString(m.Payload.Span))).ToList());
        var two = all[1];
        Assert.Equal((Alice, "text/plain", QualityOfService.ExactlyOnce, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123)),
            (two.Author!.Value, two.ContentType, two.Qos, two.Timestamp));

        // Pages continue after the last one read.
        var first = await Store.ReadRetainedAsync(null, 2);
        Assert.Equal(2, first.Count);
        var rest = await Store.ReadRetainedAsync((first[^1].Tenant, first[^1].Topic), 2);
        Assert.Equal(("t2", "b"), (rest.Single().Tenant.Value, rest.Single().Topic));
    }

    [Fact]
    public async Task Retained_KeepsItsPublicationProperties_AcrossAReopen()
    {
        var properties = new PublicationProperties
        {
            PayloadFormat = 1,
            ResponseTopic = "replies/ünï",
            CorrelationData = new byte[] { 0, 1, 2, 255 },
            UserProperties = [new("k", "v1"), new("k", "v2"), new("empty", ""), new("ключ", "значение")],
        };
        await Store.WriteAsync([new RetainOp(Retained(T1, "with", "p") with { Properties = properties })]);
        await Store.WriteAsync([new RetainOp(Retained(T1, "without", "q"))]);
        await Store.WriteAsync([new RetainOp(Retained(T1, "bare", "r") with { Properties = new PublicationProperties() })]);
        if (IsDurable)
        {
            await ReopenAsync();
        }

        var all = (await Store.ReadRetainedAsync(null, 100)).ToDictionary(m => m.Topic);
        var p = all["with"].Properties!;
        Assert.Equal((1, "replies/ünï", "000102FF"), ((int)p.PayloadFormat!, p.ResponseTopic, Convert.ToHexString(p.CorrelationData!.Value.Span)));
        Assert.Equal(properties.UserProperties, p.UserProperties); // in order, names repeated
        Assert.Null(all["without"].Properties);
        var bare = all["bare"].Properties!;
        Assert.Equal((null, null, false, 0), (bare.PayloadFormat, bare.ResponseTopic, bare.CorrelationData.HasValue, bare.UserProperties.Count));
    }

    [Fact]
    public async Task Retained_InAUnitThatIsRefused_IsNotKept()
    {
        var quota = new InboxQuota(MaxLetters: 0, MaxBytes: long.MaxValue, MaxTenantBytes: long.MaxValue);
        var refused = NewLetter(T1, Alice, [Bob]);
        await Assert.ThrowsAsync<DaakiaException>(async () =>
            await Store.WriteAsync([new RetainOp(Retained(T1, "r", "no")), new AppendOp(refused, [QueueKey.Inbox(T1, Bob)], quota)]));
        Assert.Empty(await Store.ReadRetainedAsync(null, 100));
    }
}
