using Daakia.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Daakia.Core;

/// <summary>
/// The delivery engine: moves entries of durable queues from the store through their <see cref="DeliveryWindow"/>s to
/// consumers — paging in, live offers, hand-out in <c>all</c> / <c>any</c> mode within per-connection bounds, leases
/// (with an optional timeout), release, delay, dead-lettering after too many deliveries, and the return of what was
/// handed out when a window is dropped. Every method taking a window expects its <see cref="DeliveryWindow.Gate"/> held,
/// unless it says otherwise; store calls take their place in store order there and are awaited outside.
/// </summary>
internal sealed class QueueDelivery(
    IDaakiaStore store,
    DaakiaCoreOptions options,
    TimeProvider time,
    DaakiaMetrics metrics,
    ILogger logger,
    Action<Func<ValueTask>, string> background,
    Action<List<ClientConnection>?> closeSlow)
{
    private long _loadsInFlight;
    private volatile bool _stopping;

    /// <summary>Page reads in flight (tests wait for them to settle).</summary>
    public bool IsBusy => Interlocked.Read(ref _loadsInFlight) > 0;

    /// <summary>Whether one more entry fits a window, by count and bytes (one always fits an empty window).</summary>
    public bool HasRoom(DeliveryWindow w, int size) =>
        w.Count == 0 || (w.Count < options.MaxLoadedLetters && w.Bytes + size <= options.MaxWindowBytesPerClient);

    /// <summary>A message just appended to the window's queue (its position, if the store gave it already, or 0).</summary>
    public void Offer(DeliveryWindow w, Letter message, long position, ref List<ClientConnection>? toClose)
    {
        var e = new WindowEntry(message, position, 0, message.VisibleAt);
        if (w.Loading)
        {
            if (w.BufferOverflowed)
            {
                return;
            }

            if (w.Buffer!.Count >= options.MaxLoadedLetters || w.BufferBytes + e.Size > options.MaxWindowBytesPerClient)
            {
                // The buffer may not outgrow the window: what it would hold waits in the store for the next page.
                w.BufferOverflowed = true;
                w.Buffer.Clear();
                w.BufferBytes = 0;
                return;
            }

            w.Buffer.Add(e);
            w.BufferBytes += e.Size;
            return;
        }

        if (!w.Complete)
        {
            return; // the store has it; the next page (already scheduled, or after the next removal) brings it
        }

        if (!HasRoom(w, e.Size) || DelayedAndNoRoom(w, e.VisibleAt, time.GetUtcNow()))
        {
            w.Complete = false; // the window is full: later entries wait in the store
            return;
        }

        Join(w, e);
        Pump(w, ref toClose);
    }

    /// <summary>
    /// A message just appended to the window's queue is not offered live (it may yet be refused, say for a quota): the
    /// window leaves it, and what is appended after it, to the store, and pages it in. The page read is called after the
    /// append, so it sees the store's decision.
    /// </summary>
    public void Defer(DeliveryWindow w, ref List<ClientConnection>? toClose)
    {
        if (w.Loading)
        {
            if (!w.BufferOverflowed)
            {
                // The page in flight may not see the append: what the buffer holds waits for the next page, read after it.
                w.BufferOverflowed = true;
                w.Buffer!.Clear();
                w.BufferBytes = 0;
            }

            return;
        }

        w.Complete = false;
        Pump(w, ref toClose);
    }

    /// <summary>The store allocated a live entry's position: the window's cursor may move past it.</summary>
    public static void Positioned(DeliveryWindow w, Guid id, long position)
    {
        if (w.ById.TryGetValue(id, out var e))
        {
            if (e.Position == 0)
            {
                e.Position = position;
                w.AdvanceHeld(position);
            }

            return;
        }

        if (w.Buffer is { } buffer)
        {
            foreach (var b in buffer)
            {
                if (b.Id == id)
                {
                    b.Position = position;
                    return;
                }
            }
        }
    }

    /// <summary>Removes an entry (acknowledged, expired, failed to store) and refills; false if the window did not hold it.</summary>
    public bool Remove(DeliveryWindow w, Guid id, ref List<ClientConnection>? toClose)
    {
        var removed = w.Remove(id);
        if (removed)
        {
            Pump(w, ref toClose);
        }

        return removed;
    }

    /// <summary>
    /// Entries handed out come back for redelivery, visible again at <paramref name="visibleAt"/> (null: at once). Returns
    /// what the store must record (delivery counts and visibility); ids not handed out are left alone.
    /// </summary>
    public List<ReturnedEntry> Release(DeliveryWindow w, IReadOnlyList<Guid> ids, DateTimeOffset? visibleAt)
    {
        var now = time.GetUtcNow();
        var returned = new List<ReturnedEntry>();
        foreach (var id in ids)
        {
            if (w.ById.TryGetValue(id, out var e) && e.Out)
            {
                Requeue(w, e, visibleAt, now);
                returned.Add(new ReturnedEntry(id, e.Deliveries, visibleAt));
            }
        }

        // The caller records the returns in the store, then pumps: a redelivery that dead-letters must come after it.
        return returned;
    }

    /// <summary>
    /// An ack's first step (caller holds the lock): the entries of <paramref name="ids"/> handed out from the window leave
    /// it at once, so their slots are free (if the delete then fails, <see cref="Restore"/> brings them back); returns
    /// them, and collects the ids it did not take (not in the window, or not handed out) in <paramref name="notTaken"/>
    /// when the caller asks for them.
    /// </summary>
    public static List<WindowEntry>? TakeAcked(DeliveryWindow w, IReadOnlyList<Guid> ids, ref List<Guid>? notTaken, bool collectNotTaken = false)
    {
        List<WindowEntry>? taken = null;
        for (var i = 0; i < ids.Count; i++)
        {
            var id = ids[i];
            if (w.ById.TryGetValue(id, out var e) && e.Out)
            {
                w.Remove(id);
                (taken ??= new List<WindowEntry>(ids.Count)).Add(e);
            }
            else if (collectNotTaken)
            {
                (notTaken ??= []).Add(id);
            }
        }

        return taken;
    }

    /// <summary>
    /// An ack's delete failed: the entries it took out of the window are still in the store, so they come back, once, as
    /// if released — behind what is waiting, with the delivery count of the hand-out they had (recorded in the store).
    /// Only those: nothing else of the window is delivered again. Each is left to the store and the cursor goes back to
    /// it (held entries after it are read again and skipped): the page read is called after every write called so far,
    /// so it brings the letter only if it is still there. Taking it back from memory instead could bring a letter a
    /// later ack removed (a page read brought it back while this delete was in flight, and that ack took it again).
    /// Takes the lock.
    /// </summary>
    public void Restore(DeliveryWindow w, IReadOnlyList<WindowEntry> entries)
    {
        List<ClientConnection>? toClose = null;
        lock (w.Gate)
        {
            if (w.Removed)
            {
                return; // the window went with its last connection: the next one reads them from the store
            }

            List<ReturnedEntry>? returned = null;
            foreach (var e in entries)
            {
                if (w.ById.ContainsKey(e.Id))
                {
                    continue; // a page read brought it back already
                }

                // Its count is recorded before the page read is called, so the letter comes back with it.
                (returned ??= []).Add(new ReturnedEntry(e.Id, e.Deliveries, e.VisibleAt));
                w.RewindTo(Math.Max(0, e.Position - 1));
            }

            if (returned is not null)
            {
                RecordReturns(w.Key, returned);
            }

            Pump(w, ref toClose);
        }

        closeSlow(toClose);
    }

    /// <summary>Returns entries whose lease ran past <see cref="DaakiaCoreOptions.LeaseTimeout"/> and records their counts.</summary>
    public void CheckLeases(DeliveryWindow w, DateTimeOffset now, ref List<ClientConnection>? toClose)
    {
        var timeout = options.LeaseTimeout;
        if (timeout <= TimeSpan.Zero || w.Count == 0)
        {
            return;
        }

        List<ReturnedEntry>? returned = null;
        foreach (var e in w.ById.Values.ToList())
        {
            if (e.Out && (w.Mode == DeliveryMode.All || e.AssignedTo is not null) && now - e.HandedAt >= timeout)
            {
                Requeue(w, e, null, now);
                (returned ??= []).Add(new ReturnedEntry(e.Id, e.Deliveries));
            }
        }

        if (returned is not null)
        {
            metrics.LeasesExpired(returned.Count);
            RecordReturns(w.Key, returned);
            Pump(w, ref toClose);
        }
    }

    /// <summary>
    /// The window's last consumer went: it is dropped, and what it had handed out comes back to the store with its
    /// delivery count (so a letter that kills every connection it reaches is dead-lettered, even across restarts).
    /// </summary>
    public void Drop(DeliveryWindow w)
    {
        w.Removed = true;
        w.LoadRetry?.Dispose();
        w.LoadRetry = null;
        w.DelayTimer?.Dispose();
        w.DelayTimer = null;
        var returned = w.HandedOut().Select(e => new ReturnedEntry(e.Id, e.Deliveries)).ToList();
        if (returned.Count > 0)
        {
            RecordReturns(w.Key, returned);
        }
    }

    private void RecordReturns(QueueKey key, List<ReturnedEntry> returned) =>
        background(() => new ValueTask(store.ReturnAsync(key, returned, CancellationToken.None).AsTask()), "return");

    private void Requeue(DeliveryWindow w, WindowEntry e, DateTimeOffset? visibleAt, DateTimeOffset now)
    {
        if (!w.Requeue(e, visibleAt, now))
        {
            ArmDelay(w, visibleAt!.Value);
        }
    }

    /// <summary>Takes an entry into the window, arming the delay timer if it is not deliverable yet.</summary>
    private void Join(DeliveryWindow w, WindowEntry e)
    {
        if (!w.Add(e, time.GetUtcNow()))
        {
            ArmDelay(w, e.VisibleAt!.Value);
        }
    }

    /// <summary>Most delayed entries a window holds; more stay in the store and are read again when due, so a backlog
    /// of delayed letters neither fills the window nor holds up letters that are due.</summary>
    private int MaxDelayedHeld => Math.Max(1, options.InboxPageSize / 4);

    /// <summary>Whether an entry is not deliverable yet and the window holds as many such as it may.</summary>
    private bool DelayedAndNoRoom(DeliveryWindow w, DateTimeOffset? visibleAt, DateTimeOffset now) =>
        visibleAt is { } at && at > now && (w.Delayed?.Count ?? 0) >= MaxDelayedHeld;

    private void ArmDelay(DeliveryWindow w, DateTimeOffset due)
    {
        if (w.DelayTimer is not null && w.DelayDue <= due)
        {
            return;
        }

        w.DelayTimer?.Dispose();
        w.DelayDue = due;
        // A timer cannot wait longer than ~49 days; it fires at most a day ahead and re-arms for what is still delayed.
        var wait = TimeSpan.FromTicks(Math.Clamp((due - time.GetUtcNow()).Ticks, 0, TimeSpan.TicksPerDay));
        w.DelayTimer = time.CreateTimer(_ => DelayDueNow(w), null, wait, Timeout.InfiniteTimeSpan);
    }

    private void DelayDueNow(DeliveryWindow w)
    {
        List<ClientConnection>? toClose = null;
        lock (w.Gate)
        {
            w.DelayTimer?.Dispose();
            w.DelayTimer = null;
            if (w.Removed)
            {
                return;
            }

            var now = time.GetUtcNow();
            var next = w.BringInDue(now);
            if (w.Rescan(now) is { } later && (next is null || later < next))
            {
                next = later;
            }

            if (next is { } n)
            {
                ArmDelay(w, n);
            }

            Pump(w, ref toClose);
        }

        closeSlow(toClose);
    }

    /// <summary>Payload bytes the next page may bring: what the window has room for.</summary>
    private long PageBytes(DeliveryWindow w) => Math.Max(1, options.MaxWindowBytesPerClient - w.Bytes);

    /// <summary>Reads the next page of a window's queue (the read takes its place in store order now).</summary>
    /// <remarks>
    /// A read the store answers at once is taken in here, and taking it in may call for the next page (every entry of
    /// it retired: expired, dead-lettered). That next read is made by this loop, not by a nested call, so a long run of
    /// such pages costs no stack.
    /// </remarks>
    public void StartLoad(DeliveryWindow w, ref List<ClientConnection>? toClose)
    {
        if (w.TakingPage)
        {
            w.LoadAgain = true; // called from the page being taken in below: the loop reads the next one
            return;
        }

        w.TakingPage = true;
        try
        {
            do
            {
                w.LoadAgain = false;
                w.BeginLoad(PageBytes(w));
                ValueTask<IReadOnlyList<QueueEntry>> read;
                try
                {
                    read = store.ReadAsync(w.Key, w.LoadedThrough, options.InboxPageSize, w.LoadMaxBytes, CancellationToken.None);
                }
                catch (Exception ex)
                {
                    LoadFailed(w, ex);
                    return;
                }

                if (!read.IsCompletedSuccessfully)
                {
                    Interlocked.Increment(ref _loadsInFlight);
                    _ = CompleteLoadAsync(w, read);
                    return;
                }

                CompleteLoad(w, read.Result, ref toClose);
            }
            while (w.LoadAgain && !w.Loading && !w.Removed);
        }
        finally
        {
            w.TakingPage = false;
            w.LoadAgain = false;
        }
    }

    /// <summary>The core is stopping: a page read that fails from here on is not retried (nor reported as a fault).</summary>
    public void Stop() => _stopping = true;

    /// <summary>Awaits a page read outside the lock and takes it in under the lock.</summary>
    private async Task CompleteLoadAsync(DeliveryWindow w, ValueTask<IReadOnlyList<QueueEntry>> read)
    {
        List<ClientConnection>? toClose = null;
        try
        {
            IReadOnlyList<QueueEntry> page;
            try
            {
                page = await read;
            }
            catch (Exception ex)
            {
                lock (w.Gate)
                {
                    LoadFailed(w, ex);
                }

                return;
            }

            lock (w.Gate)
            {
                CompleteLoad(w, page, ref toClose);
            }

            closeSlow(toClose);
        }
        finally
        {
            Interlocked.Decrement(ref _loadsInFlight);
        }
    }

    /// <summary>
    /// A page read failed: live delivery must not stop, so the load is retried with a growing delay for as long as the
    /// window has consumers.
    /// </summary>
    private void LoadFailed(DeliveryWindow w, Exception ex)
    {
        w.EndLoad();
        w.LoadFailures++;
        if (_stopping)
        {
            // The core is stopping and its store closing under it: nobody is left to deliver to, nothing to retry.
            EngineLog.InboxLoadAbandoned(logger, w.Key.Tenant, w.Key.Name, ex.GetType().Name);
            return;
        }

        EngineLog.InboxLoadFailed(logger, ex, w.Key.Tenant, w.Key.Name, w.LoadFailures);
        metrics.InboxLoadFailed();
        if (w.Removed || w.LoadRetry is not null)
        {
            return;
        }

        var delay = TimeSpan.FromMilliseconds(Math.Min(options.InboxLoadRetryMax.TotalMilliseconds, 50 * Math.Pow(2, Math.Min(w.LoadFailures - 1, 16))));
        w.LoadRetry = time.CreateTimer(_ => RetryLoad(w), null, delay, Timeout.InfiniteTimeSpan);
    }

    private void RetryLoad(DeliveryWindow w)
    {
        List<ClientConnection>? toClose = null;
        lock (w.Gate)
        {
            w.LoadRetry?.Dispose();
            w.LoadRetry = null;
            if (!w.Removed && !w.Loading && !w.Complete)
            {
                StartLoad(w, ref toClose);
            }
        }

        closeSlow(toClose);
    }

    private void CompleteLoad(DeliveryWindow w, IReadOnlyList<QueueEntry> page, ref List<ClientConnection>? toClose)
    {
        if (w.Removed)
        {
            w.EndLoad();
            return;
        }

        try
        {
            TakePage(w, page);
        }
        finally
        {
            // Whatever happened, the load is over: a window left loading would never page again.
            w.EndLoad();
        }

        Pump(w, ref toClose);
    }

    private void TakePage(DeliveryWindow w, IReadOnlyList<QueueEntry> page)
    {
        w.LoadFailures = 0;
        var now = time.GetUtcNow();
        // Only an empty page proves the queue exhausted: a short one may have been cut by the byte bound (and a stored
        // entry may be larger than today's MaxPayloadBytes), so it costs one more read, once, to know.
        var full = page.Count > 0;
        foreach (var entry in page)
        {
            if (!w.CanJoin(entry.Id))
            {
                // Held already, or removed while the page was read: the window mirrors it either way.
                w.Advance(entry.Position);
                continue;
            }

            if (DelayedAndNoRoom(w, entry.VisibleAt, now))
            {
                // Left in the store and read again when due (the cursor goes back to it then).
                w.SkipDelayed(entry.Position, entry.VisibleAt!.Value);
                ArmDelay(w, entry.VisibleAt.Value);
                continue;
            }

            if (!HasRoom(w, entry.Message.Size + WindowEntry.Overhead))
            {
                // The rest of the page waits in the store; the next page is read once a removal frees room (reading
                // again now would bring the same entry that does not fit).
                full = true;
                w.WaitingForRoom = true;
                break;
            }

            Join(w, WindowEntry.Of(entry));
            w.Advance(entry.Position);
        }

        if (page.Count == 0)
        {
            // Nothing stored after the cursor: every entry the window holds is at or before it again.
            w.CaughtUp();
        }

        if (!full && !w.BufferOverflowed)
        {
            // The whole queue is in memory now; entries appended during the read join it (those already read are skipped).
            w.Complete = true;
            foreach (var e in w.Buffer ?? [])
            {
                if (!w.CanJoin(e.Id))
                {
                    continue;
                }

                if (!HasRoom(w, e.Size) || DelayedAndNoRoom(w, e.VisibleAt, now))
                {
                    w.Complete = false;
                    break;
                }

                Join(w, e);
            }
        }
    }

    /// <summary>
    /// Hands deliverable entries to ready consumers, at most <see cref="DaakiaCoreOptions.MaxInflightPerConnection"/> (and
    /// <see cref="DaakiaCoreOptions.MaxInflightBytesPerConnection"/>) unacknowledged per connection, drops expired entries,
    /// dead-letters those delivered too often, and pages in more of the queue when the window runs low.
    /// </summary>
    public void Pump(DeliveryWindow w, ref List<ClientConnection>? toClose)
    {
        var now = time.GetUtcNow();
        if (w.Mode == DeliveryMode.All)
        {
            PumpAll(w, now, ref toClose);
        }
        else
        {
            PumpAny(w, now, ref toClose);
        }

        // Page in when the window has room for half a page, by count and by bytes: letters leased to connections that
        // do not ack count against the window, and must not stop the other connections from getting more.
        if (!w.Complete && !w.Loading && w.LoadRetry is null && !w.WaitingForRoom && w.Consumers.Count > 0
            && options.MaxLoadedLetters - w.Count >= Math.Max(1, options.InboxPageSize / 2)
            && w.Bytes <= options.MaxWindowBytesPerClient - (options.MaxWindowBytesPerClient / 4))
        {
            StartLoad(w, ref toClose);
        }
    }

    /// <summary>
    /// Whether an entry about to start a new round of delivery must leave the window instead: expired (the sweep
    /// removes and records it in the store), or handed out <see cref="DaakiaCoreOptions.MaxDeliveries"/> times already
    /// (moved to the dead letters now).
    /// </summary>
    private bool Retire(DeliveryWindow w, WindowEntry e, DateTimeOffset now)
    {
        if (e.Message.IsExpired(now))
        {
            w.Remove(e.Id);
            return true;
        }

        if (options.MaxDeliveries > 0 && e.Deliveries >= options.MaxDeliveries && w.DeadLettering)
        {
            w.Remove(e.Id);
            metrics.LetterDeadLettered();
            EngineLog.DeadLettered(logger, w.Key.Tenant, w.Key.Name, e.Id, e.Deliveries);
            DeadLetterLater(w, e, now);
            return true;
        }

        return false;
    }

    /// <summary>Moves an entry that left the window to the dead letters, in the background. (Its own method: the
    /// closure's captures would otherwise be allocated on every <see cref="Retire"/>.)</summary>
    private void DeadLetterLater(DeliveryWindow w, WindowEntry e, DateTimeOffset now)
    {
        // One unit: the count as it is now, then the move (the dead letter carries how often it was tried).
        StoreOp[] unit = [new ReturnOp(w.Key, [new ReturnedEntry(e.Id, e.Deliveries)]), new MoveOp(w.Key, w.DeadLetters, [e.Id], ActivityKinds.DeadLettered, now)];
        var position = e.Position;
        background(() => new ValueTask(DeadLetterAsync(w, unit, position)), "dead-letter");
    }

    private async Task DeadLetterAsync(DeliveryWindow w, StoreOp[] unit, long position)
    {
        try
        {
            await store.WriteAsync(unit, CancellationToken.None);
        }
        catch
        {
            // Still in the queue, but no longer in the window: read it again (and try again) instead of leaving it
            // behind the cursor until the client reconnects.
            Rewind(w, position);
            throw;
        }
    }

    /// <summary>
    /// A removal from the window did not reach the store (its write failed): the entry is still in the queue, so the
    /// window reads again from before it. Safe at any time: what it holds already is skipped by id. Takes the lock.
    /// </summary>
    public void Rewind(DeliveryWindow w, long position)
    {
        if (position <= 0)
        {
            return; // not positioned yet: the append has not committed either; the next connect reads it
        }

        List<ClientConnection>? toClose = null;
        lock (w.Gate)
        {
            if (w.Removed)
            {
                return;
            }

            w.RewindTo(position - 1);
            Pump(w, ref toClose);
        }

        closeSlow(toClose);
    }

    private static void HandedOut(WindowEntry e, DateTimeOffset now)
    {
        e.Out = true;
        e.Deliveries++;
        e.HandedAt = now;
    }

    private void PumpAll(DeliveryWindow w, DateTimeOffset now, ref List<ClientConnection>? toClose)
    {
        var count = options.MaxInflightPerConnection;
        var bytes = options.MaxInflightBytesPerConnection;
        foreach (var c in w.Consumers)
        {
            if (!c.Ready || c.Removed)
            {
                continue;
            }

            var i = w.IndexAfter(c.DeliveredThrough);
            while (i < w.Entries.Count)
            {
                var e = w.Entries[i];
                // A new round starts with the first hand-out; expiry ends any round.
                if ((!e.Out || e.Message.IsExpired(now)) && Retire(w, e, now))
                {
                    continue;
                }

                if (!c.HasRoom(e.Size, count, bytes))
                {
                    break;
                }

                if (!c.Target.TryDeliver(e.Message, e.Out ? e.Deliveries : e.Deliveries + 1))
                {
                    (toClose ??= []).Add(c);
                    break;
                }

                metrics.LetterDelivered();
                if (!e.Out)
                {
                    HandedOut(e, now);
                }

                c.Take(e.Size);
                c.DeliveredThrough = e.Ordinal;
                i++;
            }
        }
    }

    private void PumpAny(DeliveryWindow w, DateTimeOffset now, ref List<ClientConnection>? toClose)
    {
        var count = options.MaxInflightPerConnection;
        var bytes = options.MaxInflightBytesPerConnection;
        for (var i = 0; i < w.Entries.Count; i++)
        {
            var e = w.Entries[i];
            if (e.AssignedTo is not null)
            {
                continue;
            }

            if (Retire(w, e, now))
            {
                i--;
                continue;
            }

            // The ready connection with the fewest entries in flight takes it.
            ClientConnection? best = null;
            foreach (var c in w.Consumers)
            {
                if (c.Ready && !c.Removed && c.HasRoom(e.Size, count, bytes) && (best is null || c.Inflight < best.Inflight) && toClose?.Contains(c) != true)
                {
                    best = c;
                }
            }

            if (best is null)
            {
                return;
            }

            if (!best.Target.TryDeliver(e.Message, e.Deliveries + 1))
            {
                (toClose ??= []).Add(best);
                i--;
                continue;
            }

            metrics.LetterDelivered();
            HandedOut(e, now);
            e.AssignedTo = best;
            best.Take(e.Size);
        }
    }
}
