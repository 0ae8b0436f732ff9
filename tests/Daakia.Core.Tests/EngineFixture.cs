using System.Text;
using Daakia.Core.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Daakia.Core.Tests;

/// <summary>An engine on the in-memory store and a fake clock.</summary>
internal sealed class EngineFixture : IAsyncDisposable
{
    public EngineFixture(Action<DaakiaCoreOptions>? configure = null)
    {
        Options = new DaakiaCoreOptions();
        configure?.Invoke(Options);
        Engine = new DaakiaEngine(Store, Options, Time);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));

    public InMemoryStore Store { get; } = new();

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

    public async Task<(ClientConnection Connection, RecordingTarget Target)> ConnectAsync(string client, DeliveryMode? mode = null, TimeSpan? heartbeat = null, RecordingTarget? target = null, TenantId? tenant = null)
    {
        target ??= new RecordingTarget();
        var c = await Engine.ConnectAsync(tenant ?? Tenant, Id(client), target, new ConnectOptions("test", mode, heartbeat));
        Engine.Start(c);
        return (c, target);
    }

    public ValueTask<SendReceipt> SendAsync(string from, string to, string json = "1", TimeSpan? ttl = null) =>
        Engine.SendAsync(Tenant, Id(from), [Id(to)], Json(json), ttl);

    public ValueTask<int> AckAsync(string client, params Letter[] letters) =>
        Engine.AckAsync(Tenant, Id(client), letters.Select(l => l.Id).ToList());

    public async ValueTask DisposeAsync() => await Engine.DisposeAsync();
}
