namespace Daakia.Core;

public sealed partial class DaakiaEngine
{
    /// <summary>A client signals its availability, activity or status text (Swarm REQ08/09). Returns the new presence.</summary>
    public PresenceInfo SetPresence(ClientConnection connection, PresenceUpdate update)
    {
        if (update.StatusText is { } text && text.Length > _options.MaxStatusTextLength)
        {
            throw DaakiaException.Invalid($"A status text may be at most {_options.MaxStatusTextLength} characters.");
        }

        var t = Tenant(connection.Tenant);
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
            return PublishPresence(t, cs, now);
        }
    }

    /// <summary>Presence of the named clients; clients not connected are offline with their last-seen time from the roster.</summary>
    public async ValueTask<IReadOnlyList<PresenceInfo>> GetPresenceAsync(TenantId tenant, IReadOnlyList<ClientId> clients, CancellationToken cancellationToken = default)
    {
        if (clients.Count > _options.MaxPageSize)
        {
            throw DaakiaException.Invalid($"At most {_options.MaxPageSize} clients per query.");
        }

        var t = Tenant(tenant);
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
        var t = Tenant(tenant);
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
        var t = Tenant(tenant);
        lock (t.Gate)
        {
            return t.Clients.TryGetValue(client, out var cs) && cs.Connections.Count > 0;
        }
    }

    /// <summary>Every client ever seen (Swarm REQ07), a page at a time ordered by client id, each marked online or not.</summary>
    public async ValueTask<IReadOnlyList<RosterListing>> ListRosterAsync(TenantId tenant, ClientId? after, int limit, CancellationToken cancellationToken = default)
    {
        var page = await _store.ListClientsAsync(tenant, after, Math.Clamp(limit, 1, _options.MaxPageSize), cancellationToken);
        var t = Tenant(tenant);
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

    /// <summary>The activity log of a tenant after a given entry id.</summary>
    public ValueTask<IReadOnlyList<ActivityEntry>> ReadActivityAsync(TenantId tenant, long afterId, int limit, CancellationToken cancellationToken = default) =>
        _store.ReadActivityAsync(tenant, afterId, Math.Clamp(limit, 1, _options.MaxPageSize), cancellationToken);

    /// <summary>Publishes the client's presence on <c>$presence/{client}</c> (caller holds the tenant lock).</summary>
    private PresenceInfo PublishPresence(TenantState t, ClientState cs, DateTimeOffset now)
    {
        var info = cs.ToPresence(now);
        var publication = new Publication
        {
            Tenant = t.Id,
            Topic = TopicNames.PresencePrefix + cs.Client.Value,
            Presence = info,
            Timestamp = now,
        };
        Route(t, publication);
        return info;
    }
}
