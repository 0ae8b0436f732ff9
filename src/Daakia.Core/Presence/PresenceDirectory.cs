using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>
/// Presence and the roster (<see cref="DaakiaEngine.Presence"/>, Swarm REQ06–09): who is connected now, each client's
/// availability, activity and status text, published on <c>$presence/{client}</c> whenever it changes, and every
/// client ever seen with its last-seen time from the store.
/// </summary>
public sealed class PresenceDirectory
{
    private readonly DaakiaEngine _engine;
    private readonly TopicRouter _topics;
    private readonly IDaakiaStore _store;
    private readonly DaakiaCoreOptions _options;
    private readonly TimeProvider _time;

    internal PresenceDirectory(DaakiaEngine engine, TopicRouter topics, IDaakiaStore store, DaakiaCoreOptions options, TimeProvider time)
    {
        _engine = engine;
        _topics = topics;
        _store = store;
        _options = options;
        _time = time;
    }

    /// <summary>A client signals its availability, activity or status text (Swarm REQ08/09). Returns the new presence.</summary>
    public PresenceInfo Set(ClientConnection connection, PresenceUpdate update)
    {
        if (update.StatusText is { } text && text.Length > _options.MaxStatusTextLength)
        {
            throw DaakiaException.Invalid($"A status text may be at most {_options.MaxStatusTextLength} characters.");
        }

        var t = _engine.Tenant(connection.Tenant);
        var now = _time.GetUtcNow();
        lock (t.Gate)
        {
            if (connection.Removed || !t.Clients.TryGetValue(connection.Client, out var cs))
            {
                throw new DaakiaException(DaakiaErrorCode.Unavailable, "The connection is closed.");
            }

            cs.Available = update.Available ?? cs.Available;
            cs.Active = update.Active ?? cs.Active;
            cs.StatusText = update.ClearStatusText ? null : update.StatusText ?? cs.StatusText;
            return Publish(t, cs, now);
        }
    }

    /// <summary>Presence of the named clients; clients not connected are offline with their last-seen time from the roster.</summary>
    public async ValueTask<IReadOnlyList<PresenceInfo>> GetAsync(TenantId tenant, IReadOnlyList<ClientId> clients, CancellationToken cancellationToken = default)
    {
        if (clients.Count > _options.MaxPageSize)
        {
            throw DaakiaException.Invalid($"At most {_options.MaxPageSize} clients per query.");
        }

        var t = _engine.Tenant(tenant);
        var now = _time.GetUtcNow();
        var result = new PresenceInfo?[clients.Count];
        lock (t.Gate)
        {
            for (var i = 0; i < clients.Count; i++)
            {
                if (t.Clients.TryGetValue(clients[i], out var cs) && cs.Connections.Count > 0)
                {
                    result[i] = cs.ToPresence(now);
                }
            }
        }

        for (var i = 0; i < clients.Count; i++)
        {
            if (result[i] is null)
            {
                var seen = await _store.GetClientAsync(tenant, clients[i], cancellationToken);
                result[i] = new PresenceInfo(clients[i], PresenceStatus.Offline, false, false, null, 0, seen?.LastSeen);
            }
        }

        return result!;
    }

    /// <summary>Clients connected now (Swarm REQ06), ordered by client id.</summary>
    public IReadOnlyList<PresenceInfo> GetOnline(TenantId tenant)
    {
        var t = _engine.Tenant(tenant);
        var now = _time.GetUtcNow();
        var result = new List<PresenceInfo>();
        lock (t.Gate)
        {
            foreach (var cs in t.Clients.Values)
            {
                if (cs.Connections.Count > 0)
                {
                    result.Add(cs.ToPresence(now));
                }
            }
        }

        result.Sort(static (a, b) => string.CompareOrdinal(a.Client.Value, b.Client.Value));
        return result;
    }

    /// <summary>Whether a client has a live connection now.</summary>
    public bool IsOnline(TenantId tenant, ClientId client)
    {
        var t = _engine.Tenant(tenant);
        lock (t.Gate)
        {
            return t.Clients.TryGetValue(client, out var cs) && cs.Connections.Count > 0;
        }
    }

    /// <summary>Every client ever seen (Swarm REQ07), a page at a time ordered by client id, each marked online or not.</summary>
    public async ValueTask<IReadOnlyList<RosterListing>> ListRosterAsync(TenantId tenant, ClientId? after, int limit, CancellationToken cancellationToken = default)
    {
        var page = await _store.ListClientsAsync(tenant, after, Math.Clamp(limit, 1, _options.MaxPageSize), cancellationToken);
        var t = _engine.Tenant(tenant);
        var result = new RosterListing[page.Count];
        lock (t.Gate)
        {
            for (var i = 0; i < page.Count; i++)
            {
                result[i] = new RosterListing(page[i], t.Clients.TryGetValue(page[i].Client, out var cs) && cs.Connections.Count > 0);
            }
        }

        return result;
    }

    /// <summary>Publishes the client's presence on <c>$presence/{client}</c> (caller holds the tenant lock).</summary>
    internal PresenceInfo Publish(TenantState t, ClientState cs, DateTimeOffset now)
    {
        var info = cs.ToPresence(now);
        var publication = new Publication
        {
            Tenant = t.Id,
            Topic = TopicNames.PresencePrefix + cs.Client.Value,
            Presence = info,
            Timestamp = now,
        };
        _topics.Route(t, publication);
        return info;
    }
}
