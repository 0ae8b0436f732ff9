using System.Text;
using Daakia.Core.Storage;
using Daakia.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Daakia.Core.Tests;

/// <summary>
/// An engine on a fake clock, on the synchronous in-memory store or on the <see cref="ChaosStore"/> (late, out of order,
/// failing on demand). The helpers settle the engine after each step, so a test states what holds once the store has
/// answered, whichever store it runs on.
/// </summary>
internal sealed class EngineFixture : IAsyncDisposable
{
    public EngineFixture(Action<DaakiaCoreOptions>? configure = null, bool chaos = false, int seed = 0, IEnumerable<INotificationSender>? senders = null)
    {
        Options = new DaakiaCoreOptions();
        configure?.Invoke(Options);
        Chaos = chaos ? new ChaosStore(seed) : null;
        Store = Chaos ?? (IDaakiaStore)new InMemoryStore();
        Engine = new DaakiaEngine(Store, Options, Time, senders: senders);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));

    public IDaakiaStore Store { get; }

    /// <summary>The chaos store, when the fixture runs on it.</summary>
    public ChaosStore? Chaos { get; }

    public DaakiaCoreOptions Options { get; }

    public DaakiaEngine Engine { get; }

    public static readonly TenantId Tenant = TenantId.Default;

    public static ClientId Id(string name) => ClientId.Parse(name);

    public static ReadOnlyMemory<byte> Json(string json) => Encoding.UTF8.GetBytes(json);

    public async Task<EngineFixture> StartAsync()
    {
        await Engine.StartAsync();
        return this;
    }

    /// <summary>Waits until no store call and no engine background work (page loads, sweeps) is outstanding.</summary>
    public async Task SettleAsync()
    {
        await Engine.Activity.FlushAsync(); // entries recorded so far are written
        if (Chaos is null)
        {
            return;
        }

        // Quiet on three polls in a row: a completion may start follow-up work (a page load after an ack) between two.
        var quiet = 0;
        var chaos = Chaos;
        await Eventually.True(
            () => (quiet = chaos.Outstanding == 0 && !Engine.IsBusy ? quiet + 1 : 0) >= 3,
            $"the engine settles (store calls outstanding: {chaos.Outstanding}, engine busy: {Engine.IsBusy}); chaos seed {chaos.Seed}");
    }

    public async Task<(ClientConnection Connection, RecordingTarget Target)> ConnectAsync(string client, DeliveryMode? mode = null, TimeSpan? heartbeat = null, RecordingTarget? target = null, TenantId? tenant = null)
    {
        target ??= new RecordingTarget();
        var c = await Engine.ConnectAsync(tenant ?? Tenant, Id(client), target, new ConnectOptions("test", mode, heartbeat));
        Engine.Start(c);
        await SettleAsync();
        return (c, target);
    }

    public async ValueTask<SendReceipt> SendAsync(string from, string to, string json = "1", TimeSpan? ttl = null)
    {
        var receipt = await Engine.Letters.SendAsync(Tenant, Id(from), [Id(to)], Json(json), ttl);
        await SettleAsync();
        return receipt;
    }

    public async ValueTask<int> AckAsync(string client, params Letter[] letters)
    {
        var removed = await Engine.Letters.AckAsync(Tenant, Id(client), letters.Select(l => l.Id).ToList());
        await SettleAsync();
        return removed;
    }

    public async ValueTask DisposeAsync()
    {
        await Engine.DisposeAsync();
        await Store.DisposeAsync();
    }
}
