namespace Daakia.Core;

/// <summary>
/// The in-memory window of one durable queue while it has consumers (a client's inbox while the client is online):
/// the entries it holds, where each is in flight, and the state of paging it in from the store. Guarded by the tenant
/// lock. Dropped when the last consumer goes; the queue lives on in the store.
/// </summary>
/// <remarks>
/// <para><b>Mirror.</b> The window holds a prefix of the queue in store order, minus what was removed: every stored
/// entry up to <see cref="LoadedThrough"/> that is still in the store is in the window. While <see cref="Complete"/>
/// it also takes new entries as they are appended (before their positions are known); otherwise new entries wait in
/// the store for the next page.</para>
/// <para><b>Loads.</b> While a page is <see cref="Loading"/>, entries appended meanwhile are buffered, and entries
/// removed meanwhile (acknowledged, expired, dead-lettered, failed to store) are remembered, so the page — which may
/// have been read before a removal took effect — cannot bring them back. Identity is the message id, never a position,
/// so a page that overlaps the window (its cursor lagged behind a live entry's position) only costs a re-read. After a
/// rewind (a removal that did not reach the store, a failed ack's letter, a delayed entry due) the window
/// holds entries beyond a gap: until a page read reaches the end of the queue, only page reads move the cursor.</para>
/// <para><b>Order.</b> <see cref="Entries"/> holds the deliverable entries by <see cref="WindowEntry.Ordinal"/>;
/// delayed ones wait in <see cref="Delayed"/> and join the end when due.</para>
/// <para><b>Bounds.</b> By count and by bytes (<see cref="Bytes"/>), delayed ones included; so is the buffer.</para>
/// </remarks>
internal sealed class DeliveryWindow(QueueKey key, QueueKey deadLetters, Lock gate, List<ClientConnection> consumers)
{
    private long _nextOrdinal;

    public QueueKey Key { get; } = key;

    /// <summary>Where entries go after too many deliveries.</summary>
    public QueueKey DeadLetters { get; } = deadLetters;

    /// <summary>The tenant lock that guards this window (timers and store completions take it).</summary>
    public Lock Gate { get; } = gate;

    /// <summary>The queue's consumers (the client's connections).</summary>
    public List<ClientConnection> Consumers { get; } = consumers;

    public DeliveryMode Mode { get; set; } = DeliveryMode.All;

    /// <summary>Whether entries delivered <see cref="DaakiaCoreOptions.MaxDeliveries"/> times go to
    /// <see cref="DeadLetters"/> (inboxes); an MQTT session's queue redelivers for as long as it lives.</summary>
    public bool DeadLettering { get; init; } = true;

    /// <summary>Set once the window is dropped; late completions must leave it alone.</summary>
    public bool Removed { get; set; }

    /// <summary>Deliverable entries in <see cref="WindowEntry.Ordinal"/> order.</summary>
    public List<WindowEntry> Entries { get; } = [];

    /// <summary>Every entry the window holds (deliverable and delayed), by message id.</summary>
    public Dictionary<Guid, WindowEntry> ById { get; } = [];

    /// <summary>Entries not deliverable yet (<see cref="WindowEntry.VisibleAt"/> in the future).</summary>
    public List<WindowEntry>? Delayed { get; private set; }

    /// <summary>The one-shot timer that brings the earliest delayed entry in, and when it fires.</summary>
    public ITimer? DelayTimer { get; set; }

    public DateTimeOffset DelayDue { get; set; }

    public int Count => ById.Count;

    /// <summary>Bytes of the entries the window holds (payload plus a fixed per-entry overhead).</summary>
    public long Bytes { get; private set; }

    public bool Loading { get; private set; }

    public bool Complete { get; set; }

    /// <summary>The highest store position the window is known to mirror through (the next page's cursor).</summary>
    public long LoadedThrough { get; private set; }

    public List<WindowEntry>? Buffer { get; private set; }

    public long BufferBytes { get; set; }

    /// <summary>The buffer outgrew the window while a page loaded: its entries stay in the store for the next page.</summary>
    public bool BufferOverflowed { get; set; }

    /// <summary>Ids removed while a page was loading; the page must not re-add them.</summary>
    public HashSet<Guid>? RemovedWhileLoading { get; private set; }

    /// <summary>The last page stopped at an entry the window had no room for; the next page waits for a removal.</summary>
    public bool WaitingForRoom { get; set; }

    /// <summary>Consecutive failed page reads (drives the retry backoff).</summary>
    public int LoadFailures { get; set; }

    /// <summary>The one-shot timer of a scheduled load retry, if any.</summary>
    public ITimer? LoadRetry { get; set; }

    /// <summary>A page the store answered at once is being taken in (<see cref="QueueDelivery.StartLoad"/> loops instead of
    /// recursing), and whether taking it in asked for the next page.</summary>
    public bool TakingPage { get; set; }

    public bool LoadAgain { get; set; }

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
        if (_rewindAfterLoad != long.MaxValue)
        {
            var position = _rewindAfterLoad;
            _rewindAfterLoad = long.MaxValue;
            RewindTo(position);
        }
    }

    /// <summary>Whether an entry read by a page or buffered may join (not held already, not removed while loading).</summary>
    public bool CanJoin(Guid id) => !ById.ContainsKey(id) && RemovedWhileLoading?.Contains(id) != true;

    /// <summary>The cursor moves past a position a page read mirrors (read, skipped or left in the store).</summary>
    public void Advance(long position)
    {
        if (position > LoadedThrough)
        {
            LoadedThrough = position;
        }
    }

    /// <summary>
    /// The cursor moves past an entry the window holds that no page read brought (a live entry whose position just
    /// arrived): safe while the window mirrors a prefix of the queue, so not after a
    /// rewind, until a page read reaches the end of the queue again (the entry is then read again and skipped by id).
    /// </summary>
    public void AdvanceHeld(long position)
    {
        if (!_rewound)
        {
            Advance(position);
        }
    }

    /// <summary>A page read found nothing after the cursor: the window mirrors the queue again, through the end.</summary>
    public void CaughtUp() => _rewound = false;

    /// <summary>
    /// Takes an entry into the window (a page's entry moves the cursor through the caller's <see cref="Advance"/>); false
    /// if it is delayed past <paramref name="now"/> (it waits in
    /// <see cref="Delayed"/> and the caller arms the delay timer).
    /// </summary>
    public bool Add(WindowEntry e, DateTimeOffset now)
    {
        ById[e.Id] = e;
        Bytes += e.Size;
        if (e.Position > 0)
        {
            AdvanceHeld(e.Position);
        }

        if (e.VisibleAt is { } at && at > now)
        {
            (Delayed ??= []).Add(e);
            return false;
        }

        Append(e);
        return true;
    }

    /// <summary>Puts an entry at the end of the deliverable order.</summary>
    public void Append(WindowEntry e)
    {
        e.Ordinal = ++_nextOrdinal;
        Entries.Add(e);
    }

    /// <summary>Index of the first deliverable entry with an ordinal above <paramref name="ordinal"/>.</summary>
    public int IndexAfter(long ordinal)
    {
        int lo = 0, hi = Entries.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (Entries[mid].Ordinal <= ordinal)
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

    /// <summary>The lowest position of a delayed entry a page left in the store, and when the earliest of those is due.</summary>
    public long RescanFrom { get; private set; }

    public DateTimeOffset RescanDue { get; private set; }

    /// <summary>A page leaves a delayed entry in the store (the window holds as many delayed ones as it may).</summary>
    public void SkipDelayed(long position, DateTimeOffset due)
    {
        Advance(position);
        if (RescanFrom == 0 || position < RescanFrom)
        {
            RescanFrom = position;
        }

        if (RescanDue == default || due < RescanDue)
        {
            RescanDue = due;
        }
    }

    /// <summary>
    /// When the earliest delayed entry left in the store is due, the cursor goes back to the first one left there (what
    /// the window holds is skipped by id). Returns when to look again if none is due yet.
    /// </summary>
    public DateTimeOffset? Rescan(DateTimeOffset now)
    {
        if (RescanFrom == 0)
        {
            return null;
        }

        if (RescanDue > now)
        {
            return RescanDue;
        }

        RewindTo(RescanFrom - 1);
        RescanFrom = 0;
        RescanDue = default;
        return null;
    }

    private long _rewindAfterLoad = long.MaxValue;

    /// <summary>
    /// The cursor went back behind entries the window holds: entries between it and them are in the store only, so
    /// until a page read reaches the end of the queue, only page reads move the cursor.
    /// </summary>
    private bool _rewound;

    /// <summary>The next page reads from after <paramref name="position"/> again (never forward). During a load it takes
    /// effect when the load ends, so the page cannot move the cursor past it again.</summary>
    public void RewindTo(long position)
    {
        if (Loading)
        {
            _rewindAfterLoad = Math.Min(_rewindAfterLoad, position);
            return;
        }

        if (position < LoadedThrough)
        {
            LoadedThrough = position;
        }

        _rewound = true;
        Complete = false;
        WaitingForRoom = false;
    }

    /// <summary>Whether an entry of the window has been handed to at least one consumer in the current round.</summary>
    public bool IsHandedOut(Guid id) => ById.TryGetValue(id, out var e) && e.Out;

    /// <summary>
    /// Removes an entry from the window (acknowledged, expired, dead-lettered or never stored) and releases its
    /// in-flight slots; false if it was not there. While a page loads, the id is remembered so the page cannot bring it back.
    /// </summary>
    public bool Remove(Guid id)
    {
        if (Loading)
        {
            (RemovedWhileLoading ??= []).Add(id);
        }

        if (!ById.Remove(id, out var e))
        {
            return false;
        }

        Bytes -= e.Size;
        WaitingForRoom = false;
        if (!Detach(e))
        {
            Delayed?.Remove(e);
        }

        return true;
    }

    /// <summary>
    /// An entry comes back unacknowledged (released, or its lease expired): its slots are freed and it goes behind the
    /// entries waiting, or into <see cref="Delayed"/> until <paramref name="visibleAt"/>. False if it is now delayed.
    /// </summary>
    public bool Requeue(WindowEntry e, DateTimeOffset? visibleAt, DateTimeOffset now)
    {
        Detach(e);
        e.Out = false;
        e.AssignedTo = null;
        e.VisibleAt = visibleAt;
        if (visibleAt is { } at && at > now)
        {
            e.Ordinal = 0;
            (Delayed ??= []).Add(e);
            return false;
        }

        Append(e);
        return true;
    }

    /// <summary>Moves the delayed entries due at <paramref name="now"/> to the end of the order; returns the next due time.</summary>
    public DateTimeOffset? BringInDue(DateTimeOffset now)
    {
        if (Delayed is null)
        {
            return null;
        }

        DateTimeOffset? next = null;
        var due = Delayed.Where(e => e.VisibleAt is not { } at || at <= now).OrderBy(e => e.Position == 0 ? long.MaxValue : e.Position).ToList();
        foreach (var e in due)
        {
            Delayed.Remove(e);
            Append(e);
        }

        foreach (var e in Delayed)
        {
            if (e.VisibleAt is { } at && (next is null || at < next))
            {
                next = at;
            }
        }

        return next;
    }

    /// <summary>Takes a deliverable entry out of the order and frees its in-flight slots; false if it was delayed.</summary>
    private bool Detach(WindowEntry e)
    {
        var i = IndexAfter(e.Ordinal) - 1;
        if (i < 0 || !ReferenceEquals(Entries[i], e))
        {
            return false;
        }

        Entries.RemoveAt(i);
        if (Mode == DeliveryMode.All)
        {
            foreach (var c in Consumers)
            {
                if (c.DeliveredThrough >= e.Ordinal)
                {
                    c.Release(e.Size);
                }
            }
        }
        else if (e.AssignedTo is { } c)
        {
            c.Release(e.Size);
        }

        return true;
    }

    /// <summary>Entries handed out in the current round (they come back when the window is dropped).</summary>
    public IEnumerable<WindowEntry> HandedOut() => ById.Values.Where(e => e.Out);
}
