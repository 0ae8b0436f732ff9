namespace Daakia.Core;

/// <summary>
/// A client with at least one connection (or one on its way): its connections, presence and the in-memory window
/// of its inbox. Guarded by the tenant lock. Dropped when its last connection goes; the inbox lives on in the store.
/// </summary>
/// <remarks>
/// <para>The in-memory inbox mirrors the store from the oldest letter up to <see cref="LoadedThrough"/>. While
/// <see cref="Complete"/> it also takes new letters as they are sent; otherwise new letters wait in the store for
/// the next page. While a page is <see cref="Loading"/>, letters sent meanwhile are buffered and merged by sequence,
/// and letters removed meanwhile (acknowledged, expired, failed to store) are remembered so that the page, which may
/// have been read before their removal took effect, cannot bring them back.
/// </para>
/// <para>The window is bounded by count and by bytes (<see cref="PendingBytes"/>); so is the buffer.</para>
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

    /// <summary>Bytes of <see cref="Buffer"/>.</summary>
    public long BufferBytes { get; set; }

    /// <summary>The buffer outgrew the window while a page loaded: its letters stay in the store for the next page.</summary>
    public bool BufferOverflowed { get; set; }

    /// <summary>Ids removed from the inbox while a page was loading; the page must not re-add them.</summary>
    public HashSet<Guid>? RemovedWhileLoading { get; set; }

    /// <summary>Bytes of the letters in <see cref="Pending"/> (payload plus a fixed per-entry overhead).</summary>
    public long PendingBytes { get; private set; }

    /// <summary>The last page stopped at a letter the window had no room for; the next page waits for a removal.</summary>
    public bool WaitingForRoom { get; set; }

    /// <summary>Consecutive failed page reads (drives the retry backoff).</summary>
    public int LoadFailures { get; set; }

    /// <summary>The one-shot timer of a scheduled load retry, if any.</summary>
    public ITimer? LoadRetry { get; set; }

    /// <summary>The byte bound the loading page was read with.</summary>
    public long LoadMaxBytes { get; private set; }

    /// <summary>Starts a page load of at most <paramref name="maxBytes"/> payload bytes: a fresh buffer and removal record.</summary>
    public void BeginLoad(long maxBytes)
    {
        LoadMaxBytes = maxBytes;
        Loading = true;
        Buffer = [];
        BufferBytes = 0;
        BufferOverflowed = false;
        RemovedWhileLoading = null;
    }

    /// <summary>Ends a page load (done or failed).</summary>
    public void EndLoad()
    {
        Loading = false;
        Buffer = null;
        BufferBytes = 0;
        RemovedWhileLoading = null;
    }

    /// <summary>Whether a letter read by a page may join the window (it was not removed while the page loaded).</summary>
    public bool CanJoin(Letter letter) =>
        letter.Sequence > LoadedThrough && !ById.ContainsKey(letter.Id) && RemovedWhileLoading?.Contains(letter.Id) != true;

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
        PendingBytes += p.Size;
        LoadedThrough = Math.Max(LoadedThrough, letter.Sequence);
    }

    /// <summary>Whether a letter of the window has been handed to at least one connection.</summary>
    public bool IsHandedOut(Guid id)
    {
        if (!ById.TryGetValue(id, out var p))
        {
            return false;
        }

        if (Mode == DeliveryMode.Any)
        {
            return p.AssignedTo is not null;
        }

        foreach (var c in Connections)
        {
            if (c.DeliveredThrough >= p.Sequence)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Removes a letter from the window (acknowledged, expired or never stored) and releases its in-flight slots;
    /// false if it was not there. While a page loads, the id is remembered so the page cannot bring it back.
    /// </summary>
    public bool Remove(Guid id)
    {
        if (Loading)
        {
            (RemovedWhileLoading ??= []).Add(id);
        }

        if (!ById.Remove(id, out var p))
        {
            return false;
        }

        var i = IndexAfter(p.Sequence) - 1;
        if (i >= 0 && ReferenceEquals(Pending[i], p))
        {
            Pending.RemoveAt(i);
        }

        PendingBytes -= p.Size;
        WaitingForRoom = false;
        if (Mode == DeliveryMode.All)
        {
            foreach (var c in Connections)
            {
                if (c.DeliveredThrough >= p.Sequence)
                {
                    c.Release(p.Size);
                }
            }
        }
        else if (p.AssignedTo is { } c)
        {
            c.Release(p.Size);
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
