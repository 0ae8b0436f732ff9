namespace Daakia.Core;

/// <summary>
/// A client with at least one connection (or one on its way): its connections, presence and the delivery window of
/// its inbox. Guarded by the tenant lock. Dropped when its last connection goes; the inbox lives on in the store.
/// </summary>
internal sealed class ClientState
{
    public ClientState(TenantId tenant, ClientId client, Lock gate, Storage.UsageRecord usage)
    {
        Client = client;
        Usage = usage;
        Window = new DeliveryWindow(QueueKey.Inbox(tenant, client), QueueKey.DeadLetters(tenant, client), gate, Connections);
    }

    public ClientId Client { get; }

    /// <summary>The inbox's usage bound (pinned while the client is online).</summary>
    public Storage.UsageRecord Usage { get; }

    public List<ClientConnection> Connections { get; } = [];

    /// <summary>The inbox's window: letters in memory and in flight on <see cref="Connections"/>.</summary>
    public DeliveryWindow Window { get; }

    public DeliveryMode Mode
    {
        get => Window.Mode;
        set => Window.Mode = value;
    }

    public bool Available { get; set; } = true;

    public bool Active { get; set; } = true;

    public string? StatusText { get; set; }

    public bool Removed => Window.Removed;

    public PresenceInfo ToPresence(DateTimeOffset lastSeen) => new(
        Client,
        Connections.Count == 0 ? PresenceStatus.Offline : Available && Active ? PresenceStatus.Online : PresenceStatus.Away,
        Available,
        Active,
        StatusText,
        Connections.Count,
        lastSeen);
}
