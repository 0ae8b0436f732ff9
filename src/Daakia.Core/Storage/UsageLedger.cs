namespace Daakia.Core.Storage;

/// <summary>
/// What the core knows of one queue's (or one tenant's) stored usage: an <b>upper bound</b> of what the store holds once
/// every write called so far has taken effect. Guarded by the tenant lock.
/// </summary>
/// <remarks>
/// <para>Seeded from the store (<see cref="IQueueStore.GetUsageAsync"/>); every append called afterwards raises it at
/// once; a removal lowers it only where that keeps it an upper bound (see <see cref="UsageLedger"/>).</para>
/// <para>A seed read sees every write called before it and possibly some called after it; so the seed's result plus
/// what was appended since the read was called is an upper bound (a later append the read saw is counted twice, which
/// only makes the bound looser until the next seed).</para>
/// </remarks>
internal sealed class UsageRecord
{
    public long Letters;

    public long Bytes;

    /// <summary>Appends called since the seed read in flight was called.</summary>
    public long AddedLetters;

    public long AddedBytes;

    /// <summary>The bound is known (a seed read has answered).</summary>
    public bool Seeded;

    /// <summary>A seed read is in flight.</summary>
    public bool Seeding;

    /// <summary>Raised each time a seed's result replaces the bound: a removal or an undo taken against an older bound
    /// must not be applied to a newer one (the newer seed may have seen it already).</summary>
    public int Generation;

    /// <summary>The inbox's client is online (its window needs the bound); a pinned record is never evicted.</summary>
    public bool Pinned;

    /// <summary>Whether <paramref name="letters"/> / <paramref name="bytes"/> more certainly fit under the limits.</summary>
    public bool Fits(long letters, long bytes, long maxLetters, long maxBytes) =>
        Seeded && Letters + letters <= maxLetters && Bytes + bytes <= maxBytes;

    public void Add(long letters, long bytes)
    {
        Letters += letters;
        Bytes += bytes;
        if (Seeding)
        {
            AddedLetters += letters;
            AddedBytes += bytes;
        }
    }

    /// <summary>A removal that took (or is taking) effect in the store, against the bound of <paramref name="generation"/>.</summary>
    public void Remove(int generation, long letters, long bytes)
    {
        if (generation == Generation)
        {
            Letters = Math.Max(0, Letters - letters);
            Bytes = Math.Max(0, Bytes - bytes);
        }
    }

    /// <summary>Undoes a removal taken against <paramref name="generation"/> whose write failed.</summary>
    public void Restore(int generation, long letters, long bytes)
    {
        if (generation == Generation)
        {
            Letters += letters;
            Bytes += bytes;
        }
    }

    public void Seed(InboxUsage stored)
    {
        Letters = stored.Letters + AddedLetters;
        Bytes = stored.Bytes + AddedBytes;
        AddedLetters = AddedBytes = 0;
        Seeded = true;
        Seeding = false;
        Generation++;
    }
}

/// <summary>
/// One tenant's usage bounds: the tenant's own and those of the inboxes the core needs (online clients, pinned, and the
/// offline recipients of recent multicasts to online ones, a bounded cache). Guarded by the tenant lock.
/// </summary>
/// <remarks>
/// <para><b>Why.</b> Live delivery does not wait for the store's commit. A send the store would refuse for a quota must
/// not be offered to anyone first, so before offering, the core checks the send against these bounds. When they say it
/// certainly fits, it is offered at once (the hot path: a lookup and arithmetic under the lock already held). When they
/// cannot say so — near a limit, or a bound not known yet — the letter is not offered live: the online recipients'
/// windows leave it (and what follows it) to the store, and page it in once the store has decided. The store's own check
/// stays the authority: it alone refuses.</para>
/// <para><b>Upper bounds.</b> Appends raise a bound when they are called; acks lower it for letters the window knew
/// (their sizes), at once, and put it back if the delete fails; removals the core cannot size (the expiry sweep,
/// dead-lettering, acks of letters not in a window) lower it by what is certain or not at all. A bound that drifted
/// up is read again from the store when a send finds it too close to a limit. Failed appends are not subtracted
/// (the next seed drops them).</para>
/// </remarks>
internal sealed class UsageLedger(int capacity)
{
    private readonly Dictionary<ClientId, UsageRecord> _inboxes = [];
    private int _pinned;

    /// <summary>The whole tenant's stored bytes (a message's payload and headers once, each entry <see cref="InboxQuota.EntryOverhead"/>).</summary>
    public UsageRecord Tenant { get; } = new();

    /// <summary>Inbox records held (tests check the bound).</summary>
    public int Count => _inboxes.Count;

    /// <summary>The inbox's record, if the core holds one.</summary>
    public UsageRecord? Find(ClientId client) => _inboxes.GetValueOrDefault(client);

    /// <summary>The inbox's record, created (unseeded) if missing; evicts unpinned records past the capacity.</summary>
    public UsageRecord GetOrAdd(ClientId client)
    {
        if (_inboxes.TryGetValue(client, out var r))
        {
            return r;
        }

        if (_inboxes.Count - _pinned >= capacity)
        {
            Evict();
        }

        _inboxes[client] = r = new UsageRecord();
        return r;
    }

    /// <summary>Drops an unpinned quarter of the records (arbitrary ones); a dropped record is seeded again when needed.</summary>
    private void Evict()
    {
        var drop = Math.Max(1, _inboxes.Count / 4);
        List<ClientId>? victims = null;
        foreach (var (client, r) in _inboxes)
        {
            if (!r.Pinned)
            {
                (victims ??= []).Add(client);
                if (victims.Count >= drop)
                {
                    break;
                }
            }
        }

        foreach (var client in victims ?? [])
        {
            _inboxes.Remove(client);
        }
    }

    /// <summary>The record of a client coming online: never evicted while it is (online records do not count against
    /// the capacity, which bounds the offline ones).</summary>
    public UsageRecord Pin(ClientId client)
    {
        var r = GetOrAdd(client);
        if (!r.Pinned)
        {
            r.Pinned = true;
            _pinned++;
        }

        return r;
    }

    /// <summary>The client went offline: its record stays, evictable, while the cache has room.</summary>
    public void Unpin(UsageRecord r)
    {
        if (r.Pinned)
        {
            r.Pinned = false;
            _pinned--;
        }
    }

    /// <summary>
    /// Starts reading a record's bound from the store unless a read is in flight (caller holds <paramref name="gate"/>;
    /// the read takes its place in store order now and is awaited outside).
    /// </summary>
    public static void Seed(UsageRecord r, Func<ValueTask<InboxUsage>> read, Lock gate)
    {
        if (r.Seeding)
        {
            return;
        }

        r.Seeding = true;
        r.AddedLetters = r.AddedBytes = 0;
        ValueTask<InboxUsage> pending;
        try
        {
            pending = read();
        }
        catch (DaakiaException)
        {
            r.Seeding = false;
            return;
        }

        if (pending.IsCompletedSuccessfully)
        {
            r.Seed(pending.Result);
            return;
        }

        _ = SeedLaterAsync(r, pending, gate);
    }

    private static async Task SeedLaterAsync(UsageRecord r, ValueTask<InboxUsage> pending, Lock gate)
    {
        InboxUsage stored;
        try
        {
            stored = await pending;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Not known: sends to the inbox wait for the store's verdict (and try to seed again) until a read answers.
            lock (gate)
            {
                r.Seeding = false;
            }

            return;
        }

        lock (gate)
        {
            r.Seed(stored);
        }
    }
}
