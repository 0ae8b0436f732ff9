using System.Text;

namespace Daakia.Core.Tests;

/// <summary>Retained messages in the core, on the chaos store: writes complete late or fail, and the map follows the store.</summary>
public sealed class RetainedTests
{
    private static string Text(Publication p) => Encoding.UTF8.GetString(p.Payload.Span);

    [Fact]
    public async Task AFailedRetainedWrite_IsUndone_ALaterOneThatSucceededIsKept_AndAFreshEngineReadsTheStoresValues()
    {
        await using var f = await new EngineFixture(chaos: true).StartAsync();
        var chaos = f.Chaos!;
        var topics = f.Engine.Topics;
        var t = EngineFixture.Tenant;
        var author = EngineFixture.Id("pub");

        topics.Publish(t, author, "s/a", "1"u8.ToArray(), "text/plain", QualityOfService.AtLeastOnce, retain: true, out var first);
        await first;

        // Failing writes: the publish is answered with the failure, and the map goes back to what the store has.
        chaos.FailWhen = op => op == "write";
        topics.Publish(t, author, "s/a", "2"u8.ToArray(), "text/plain", QualityOfService.AtLeastOnce, retain: true, out var failed);
        topics.Publish(t, author, "s/b", "new"u8.ToArray(), "text/plain", QualityOfService.AtLeastOnce, retain: true, out var failedNew);
        await Assert.ThrowsAnyAsync<Exception>(() => failed);
        await Assert.ThrowsAnyAsync<Exception>(() => failedNew);
        chaos.FailWhen = null;
        await f.SettleAsync();

        var sub = await f.ConnectAsync("sub2");
        f.Engine.Topics.Subscribe(sub.Connection, [new SubscriptionRequest("s/#")]);
        Assert.Equal(["s/a=1"], sub.Target.Publications.Select(p => $"{p.Topic}={Text(p)}").ToList()); // both failures undone
        Assert.All(sub.Target.Publications, p => Assert.True(p.IsRetainedCopy));

        // A failed clear leaves it; a successful one removes it.
        chaos.FailWhen = op => op == "write";
        topics.Publish(t, author, "s/a", ReadOnlyMemory<byte>.Empty, "text/plain", QualityOfService.AtLeastOnce, retain: true, out var failedClear);
        await Assert.ThrowsAnyAsync<Exception>(() => failedClear);
        chaos.FailWhen = null;
        await f.SettleAsync();
        var sub3 = await f.ConnectAsync("sub3");
        f.Engine.Topics.Subscribe(sub3.Connection, [new SubscriptionRequest("s/a")]);
        Assert.Equal("1", Text(Assert.Single(sub3.Target.Publications)));

        // What the store kept is what a fresh engine on it starts with.
        topics.Publish(t, author, "s/c", "3"u8.ToArray(), "text/plain", QualityOfService.AtMostOnce, retain: true, out var third);
        await third;
        var fresh = new DaakiaEngine(chaos, f.Options, f.Time);
        await fresh.StartAsync();
        var reader = new RecordingTarget();
        var rc = await fresh.ConnectAsync(t, EngineFixture.Id("reader"), reader, new ConnectOptions("test"));
        fresh.Topics.Subscribe(rc, [new SubscriptionRequest("s/#")]);
        Assert.Equal(["s/a=1", "s/c=3"], reader.Publications.Select(p => $"{p.Topic}={Text(p)}").Order(StringComparer.Ordinal).ToList());
        await fresh.StopAsync();
    }
}
