namespace Daakia.Core;

/// <summary>Everything the core holds in memory for one tenant, behind one lock.</summary>
internal sealed class TenantState
{
    public TenantState(TenantId id, DaakiaCoreOptions options)
    {
        Id = id;
        Topics = new TopicTrie(Gate, options.RouteCacheSize);
        Usage = new Storage.UsageLedger(options.QuotaCacheSize);
    }

    public TenantId Id { get; }

    /// <summary>Bytes the notification outboxes of this tenant's queue subscriptions hold (an upper bound), within
    /// <see cref="DaakiaCoreOptions.MaxTenantPendingNotificationBytes"/>.</summary>
    public long NotificationBytes { get; set; }

    /// <summary>Guards clients, connections, inbox windows and topic changes of this tenant.</summary>
    public Lock Gate { get; } = new();

    /// <summary>Connections of every client of the tenant (under <see cref="Gate"/>).</summary>
    public int Connections { get; set; }

    /// <summary>Clients with at least one connection (or one being set up).</summary>
    public Dictionary<ClientId, ClientState> Clients { get; } = [];

    public TopicTrie Topics { get; }

    /// <summary>MQTT persistent sessions, online and offline, by client id (under <see cref="Gate"/>).</summary>
    public Dictionary<ClientId, PersistentSession> Sessions { get; } = [];

    /// <summary>Retained messages by topic (under <see cref="Gate"/>), each as the publication a new subscription gets.</summary>
    public Dictionary<string, Publication> Retained { get; } = new(StringComparer.Ordinal);

    /// <summary>What <see cref="Retained"/> holds, as <see cref="RetainedMessage.Size"/> counts it.</summary>
    public long RetainedBytes { get; set; }

    /// <summary>Publications clients of this tenant published (<c>$SYS/broker/messages/received</c>); interlocked.</summary>
    public long Received;

    /// <summary>Publications queued for this tenant's subscribers (<c>$SYS/broker/messages/sent</c>); interlocked.</summary>
    public long Sent;

    /// <summary>Completes at the next post to any named queue of the tenant (under <see cref="Gate"/>): what a claim
    /// waiting on a queue that does not exist yet waits for.</summary>
    public TaskCompletionSource? QueuePosted { get; set; }

    /// <summary>Named queues (Zaqar's) by name, ordinal (under <see cref="Gate"/>).</summary>
    public SortedDictionary<string, NamedQueueState> NamedQueues { get; } = new(StringComparer.Ordinal);

    /// <summary>Services, workers and tasks (under <see cref="Gate"/>); made when the first worker registers.</summary>
    public TaskBoard? Tasks { get; set; }

    /// <summary>Usage bounds of the tenant and of the inboxes sends are checked against before live delivery.</summary>
    public Storage.UsageLedger Usage { get; }
}
