using System.Diagnostics;
using System.Reflection;
using Daakia.Core.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Daakia.Core.Tests;

/// <summary>Paging on a store that answers reads at once (the in-memory store): pages wholly retired cost no stack.</summary>
public sealed class PagingDepthTests
{
    [Fact]
    public async Task PagesWhollyExpired_AreReadOneAfterAnother_NotByRecursion()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
        var inner = new InMemoryStore();
        var depths = new List<int>();
        var store = DepthProbe.Wrap(inner, depths);
        var options = new DaakiaCoreOptions { InboxPageSize = 8, ExpirySweepInterval = TimeSpan.FromDays(1) };
        await using var engine = new DaakiaEngine(store, options, time);
        await engine.StartAsync();
        for (var i = 0; i < 200; i++)
        {
            await engine.Letters.SendAsync(TenantId.Default, ClientId.Parse("alice"), [ClientId.Parse("bob")], "1"u8.ToArray(), TimeSpan.FromSeconds(1));
        }

        await engine.Letters.SendAsync(TenantId.Default, ClientId.Parse("alice"), [ClientId.Parse("bob")], "2"u8.ToArray());
        time.Advance(TimeSpan.FromSeconds(2)); // 200 letters expire; no sweep has removed them yet

        var bob = new RecordingTarget();
        engine.Start(await engine.ConnectAsync(TenantId.Default, ClientId.Parse("bob"), bob, new ConnectOptions("test")));
        Assert.Equal([2], bob.Numbers());
        Assert.True(depths.Count >= 25, $"{depths.Count} page reads");
        // Recursion would add frames with every page (25 pages of expired letters); a loop keeps the depth flat.
        Assert.True(depths.Max() - depths.Min() <= 2, $"stack depth of the page reads: {string.Join(",", depths)}");
    }

    /// <summary>Forwards every store call to the in-memory store, recording the stack depth of each inbox page read.</summary>
    public class DepthProbe : DispatchProxy
    {
        private IDaakiaStore _inner = null!;
        private List<int> _depths = null!;

        public static IDaakiaStore Wrap(IDaakiaStore inner, List<int> depths)
        {
            var proxy = Create<IDaakiaStore, DepthProbe>();
            var probe = (DepthProbe)(object)proxy;
            probe._inner = inner;
            probe._depths = depths;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod!.Name == nameof(IQueueStore.ReadAsync) && args![0] is QueueKey { Kind: QueueKind.Inbox })
            {
                _depths.Add(new StackTrace().FrameCount);
            }

            try
            {
                return targetMethod.Invoke(_inner, args);
            }
            catch (TargetInvocationException ex) when (ex.InnerException is not null)
            {
                throw ex.InnerException;
            }
        }
    }
}
