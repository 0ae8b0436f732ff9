namespace Daakia.Core;

/// <summary>Everything the core holds in memory for one tenant, behind one lock.</summary>
internal sealed class TenantState
{
    public TenantState(TenantId id, DaakiaCoreOptions options)
    {
        Id = id;
        Topics = new TopicTrie(Gate, options.RouteCacheSize);
    }

    public TenantId Id { get; }

    /// <summary>Guards clients, connections, inbox windows and topic changes of this tenant.</summary>
    public Lock Gate { get; } = new();

    /// <summary>Clients with at least one connection (or one being set up).</summary>
    public Dictionary<ClientId, ClientState> Clients { get; } = [];

    public TopicTrie Topics { get; }
}
