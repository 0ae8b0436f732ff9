namespace Daakia.Core;

/// <summary>
/// A client with at least one connection (or one on its way): its connections, presence and the in-memory window
/// of its inbox. Guarded by the tenant lock. Dropped when its last connection goes; the inbox lives on in the store.
/// </summary>
/// <remarks>
/// The in-memory inbox mirrors the store from the oldest letter up to <see cref="LoadedThrough"/>. While
/// <see cref="Complete"/> it also takes new letters as they are sent; otherwise new letters wait in the store for
/// the next page. While a page is <see cref="Loading"/>, letters sent meanwhile are buffered and merged by sequence.
/// </remarks>
internal sealed class ClientState(ClientId client)
{
    public ClientId Client { get; } = client;

    public List<ClientConnection> Connections { get; } = [];

    public DeliveryMode Mode { get; set; } = DeliveryMode.All;

    public bool Available { get; set; } = true;

    public bool Active { get; set; } = true;

    public string? StatusText { get; set; }

    public bool Removed { get; set; }

    // Inbox window.
    public List<PendingLetter> Pending { get; } = [];

    public Dictionary<Guid, PendingLetter> ById { get; } = [];

    public bool Loading { get; set; }

    public bool Complete { get; set; }

    public long LoadedThrough { get; set; }

    public List<Letter>? Buffer { get; set; }

    /// <summary>Index of the first pending letter with a sequence above <paramref name="sequence"/>.</summary>
    public int IndexAfter(long sequence)
    {
        int lo = 0, hi = Pending.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (Pending[mid].Sequence <= sequence)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    public void Add(Letter letter)
    {
        var p = new PendingLetter(letter);
        Pending.Add(p);
        ById[letter.Id] = p;
        LoadedThrough = Math.Max(LoadedThrough, letter.Sequence);
    }

    /// <summary>Removes a letter from the window (acknowledged or expired); false if it was not there.</summary>
    public bool Remove(Guid id)
    {
        if (!ById.Remove(id, out var p))
        {
            return false;
        }

        var i = IndexAfter(p.Sequence) - 1;
        if (i >= 0 && ReferenceEquals(Pending[i], p))
        {
            Pending.RemoveAt(i);
        }

        if (p.AssignedTo is { } c)
        {
            c.Inflight--;
        }

        return true;
    }

    public PresenceInfo ToPresence(DateTimeOffset lastSeen) => new(
        Client,
        Connections.Count == 0 ? PresenceStatus.Offline : Available && Active ? PresenceStatus.Online : PresenceStatus.Away,
        Available,
        Active,
        StatusText,
        Connections.Count,
        lastSeen);
}
