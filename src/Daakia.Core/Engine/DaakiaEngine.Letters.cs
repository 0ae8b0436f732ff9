namespace Daakia.Core;

public sealed partial class DaakiaEngine
{
    /// <summary>
    /// Sends a letter to one or more clients. Online recipients get it at once; the returned task completes only
    /// once it is durably in every recipient's inbox (that is when the sender may be acknowledged).
    /// </summary>
    public async ValueTask<SendReceipt> SendAsync(TenantId tenant, ClientId author, IReadOnlyList<ClientId> recipients, ReadOnlyMemory<byte> payload, TimeSpan? ttl = null)
    {
        EnsureAccepting();
        var distinct = ValidateLetter(recipients, payload, ttl);
        var now = _time.GetUtcNow();
        var t = Tenant(tenant);
        var cost = WriteCost(payload.Length, distinct.Count);
        TakeBudget(cost);
        Letter letter;
        try
        {
            List<ClientConnection>? toClose = null;
            ValueTask write;
            lock (t.Gate)
            {
                // Sequence and store order are fixed together under the tenant lock, so each inbox is in sequence order
                // everywhere: in the store, in memory and on the wire.
                letter = new Letter
                {
                    Id = Guid.CreateVersion7(now),
                    Sequence = Interlocked.Increment(ref _sequence),
                    Tenant = tenant,
                    Author = author,
                    Recipients = distinct,
                    Payload = payload,
                    Timestamp = now,
                    ExpiresAt = ttl is { } d ? now + d : _options.DefaultLetterTtl > TimeSpan.Zero ? now + _options.DefaultLetterTtl : null,
                };
                write = _store.AppendLetterAsync(letter, distinct, _quota, CancellationToken.None);

                // Live delivery does not wait for the commit: a write that fails or is refused later (SQLite checks quotas
                // on its writer) is withdrawn from the windows afterwards, though an online recipient may have seen it.
                // A write the store refused at once is not offered at all.
                if (!write.IsFaulted)
                {
                    foreach (var r in distinct)
                    {
                        if (t.Clients.TryGetValue(r, out var cs))
                        {
                            Offer(t, cs, letter, ref toClose);
                        }
                    }
                }
            }

            CloseAll(toClose, CloseReason.SlowConsumer);
            try
            {
                await write;
            }
            catch
            {
                // Not stored: it must not linger in the windows it was offered to (it may have been delivered already).
                Withdraw(t, letter);
                throw;
            }
        }
        finally
        {
            // Whatever happened, the budget taken above is given back exactly once.
            _writes.Give(cost);
        }

        _metrics.LetterSent();
        return new SendReceipt(letter.Id, now, distinct.Count);
    }

    /// <summary>Removes a letter whose store write failed from the online recipients' windows.</summary>
    private void Withdraw(TenantState t, Letter letter)
    {
        List<ClientConnection>? toClose = null;
        lock (t.Gate)
        {
            foreach (var r in letter.Recipients)
            {
                if (t.Clients.TryGetValue(r, out var cs) && cs.Remove(letter.Id))
                {
                    Pump(t, cs, ref toClose);
                }
            }
        }

        CloseAll(toClose, CloseReason.SlowConsumer);
    }

    /// <summary>
    /// Acknowledges letters of <paramref name="client"/>'s inbox: they leave it durably before the task completes.
    /// Returns how many of the ids were in the inbox.
    /// </summary>
    public async ValueTask<int> AckAsync(TenantId tenant, ClientId client, IReadOnlyList<Guid> messageIds)
    {
        if (messageIds.Count == 0)
        {
            return 0;
        }

        if (messageIds.Count > _options.InboxPageSize)
        {
            throw DaakiaException.Invalid($"At most {_options.InboxPageSize} message ids per ack.");
        }

        var t = Tenant(tenant);
        var cost = WriteCost(messageIds.Count * 16, 1);
        TakeBudget(cost);
        int removed;
        try
        {
            List<ClientConnection>? toClose = null;
            List<Guid>? later = null;
            ValueTask<int> write;
            lock (t.Gate)
            {
                write = _store.DeleteLettersAsync(tenant, client, messageIds, CancellationToken.None);
                if (t.Clients.TryGetValue(client, out var cs))
                {
                    // A letter already handed out leaves the window now, so its slot is free at once; if the delete fails
                    // it stays in the store and comes back on reconnect. One not handed out yet (an ack by id, as REST
                    // allows) leaves only once the delete is durable: were it dropped now and the delete failed, it would
                    // never come.
                    foreach (var id in messageIds)
                    {
                        if (cs.IsHandedOut(id))
                        {
                            cs.Remove(id);
                        }
                        else
                        {
                            (later ??= []).Add(id);
                        }
                    }

                    Pump(t, cs, ref toClose);
                }
            }

            CloseAll(toClose, CloseReason.SlowConsumer);
            removed = await write;
            if (later is not null)
            {
                toClose = null;
                lock (t.Gate)
                {
                    if (t.Clients.TryGetValue(client, out var cs))
                    {
                        foreach (var id in later)
                        {
                            cs.Remove(id);
                        }

                        Pump(t, cs, ref toClose);
                    }
                }

                CloseAll(toClose, CloseReason.SlowConsumer);
            }
        }
        finally
        {
            _writes.Give(cost);
        }

        _metrics.LettersAcknowledged(removed);
        return removed;
    }

    /// <summary>A page of one inbox, oldest first, without removing anything (REST reads).</summary>
    public ValueTask<IReadOnlyList<Letter>> ReadInboxAsync(TenantId tenant, ClientId client, long afterSequence, int limit, CancellationToken cancellationToken = default) =>
        _store.ReadInboxAsync(tenant, client, afterSequence, Math.Clamp(limit, 1, _options.InboxPageSize), _options.MaxReadPageBytes, cancellationToken);

    /// <summary>Letters waiting in one inbox.</summary>
    public ValueTask<long> CountInboxAsync(TenantId tenant, ClientId client, CancellationToken cancellationToken = default) =>
        _store.CountInboxAsync(tenant, client, cancellationToken);

    private List<ClientId> ValidateLetter(IReadOnlyList<ClientId> recipients, ReadOnlyMemory<byte> payload, TimeSpan? ttl)
    {
        if (recipients.Count == 0)
        {
            throw DaakiaException.Invalid("A letter needs at least one recipient.");
        }

        if (recipients.Count > _options.MaxRecipients)
        {
            throw new DaakiaException(DaakiaErrorCode.TooManyRecipients, $"At most {_options.MaxRecipients} recipients per letter.");
        }

        if (payload.Length > _options.MaxPayloadBytes)
        {
            throw new DaakiaException(DaakiaErrorCode.PayloadTooLarge, $"The payload is {payload.Length} bytes; at most {_options.MaxPayloadBytes} are allowed.");
        }

        if (ttl is { } d && (d <= TimeSpan.Zero || d > _options.MaxTtl))
        {
            throw DaakiaException.Invalid($"A TTL must be positive and at most {_options.MaxTtl.TotalSeconds:0} seconds.");
        }

        var distinct = new List<ClientId>(recipients.Count);
        foreach (var r in recipients)
        {
            if (r.Value is null)
            {
                throw DaakiaException.Invalid("A recipient is missing.");
            }

            if (!distinct.Contains(r))
            {
                distinct.Add(r);
            }
        }

        return distinct;
    }

    /// <summary>A new letter for an online client (caller holds the tenant lock).</summary>
    private void Offer(TenantState t, ClientState cs, Letter letter, ref List<ClientConnection>? toClose)
    {
        var size = letter.Payload.Length + PendingLetter.EntryOverhead;
        if (cs.Loading)
        {
            if (cs.BufferOverflowed)
            {
                return;
            }

            if (cs.Buffer!.Count >= _options.MaxLoadedLetters || cs.BufferBytes + size > _options.MaxWindowBytesPerClient)
            {
                // The buffer may not outgrow the window: what it would hold waits in the store for the next page.
                cs.BufferOverflowed = true;
                cs.Buffer.Clear();
                cs.BufferBytes = 0;
                return;
            }

            cs.Buffer.Add(letter);
            cs.BufferBytes += size;
            return;
        }

        if (!cs.Complete)
        {
            return; // the store has it; the next page (already scheduled, or after the next ack) brings it
        }

        if (!WindowHasRoom(cs, size))
        {
            cs.Complete = false; // the window is full: later letters wait in the store
            return;
        }

        cs.Add(letter);
        Pump(t, cs, ref toClose);
    }

    /// <summary>Whether one more letter fits a client's window, by count and bytes (one always fits an empty window).</summary>
    private bool WindowHasRoom(ClientState cs, int size) =>
        cs.Pending.Count == 0 || (cs.Pending.Count < _options.MaxLoadedLetters && cs.PendingBytes + size <= _options.MaxWindowBytesPerClient);

    /// <summary>Payload bytes the next page of a client's inbox may bring: what its window has room for.</summary>
    private long PageBytes(ClientState cs) => Math.Max(1, _options.MaxWindowBytesPerClient - cs.PendingBytes);

    /// <summary>What a durable write costs against the server-wide write budget.</summary>
    private static long WriteCost(int payloadBytes, int entries) => payloadBytes + (entries * PendingLetter.EntryOverhead);

    private void TakeBudget(long cost)
    {
        if (!_writes.TryTake(cost))
        {
            _metrics.WriteRefused();
            throw new DaakiaException(DaakiaErrorCode.Overloaded, "The server has as many writes in flight as it may hold; retry shortly.");
        }
    }

    /// <summary>Reads the next page of a client's inbox (caller holds the tenant lock; the read takes its place in store order now).</summary>
    private void StartLoad(TenantState t, ClientState cs, ref List<ClientConnection>? toClose)
    {
        cs.BeginLoad(PageBytes(cs));
        ValueTask<IReadOnlyList<Letter>> read;
        try
        {
            read = _store.ReadInboxAsync(t.Id, cs.Client, cs.LoadedThrough, _options.InboxPageSize, cs.LoadMaxBytes, CancellationToken.None);
        }
        catch (Exception ex)
        {
            LoadFailed(t, cs, ex);
            return;
        }

        if (read.IsCompletedSuccessfully)
        {
            CompleteLoad(t, cs, read.Result, ref toClose);
            return;
        }

        Interlocked.Increment(ref _loadsInFlight);
        _ = CompleteLoadAsync(t, cs, read);
    }

    private async Task CompleteLoadAsync(TenantState t, ClientState cs, ValueTask<IReadOnlyList<Letter>> read)
    {
        List<ClientConnection>? toClose = null;
        try
        {
            IReadOnlyList<Letter> page;
            try
            {
                page = await read;
            }
            catch (Exception ex)
            {
                lock (t.Gate)
                {
                    LoadFailed(t, cs, ex);
                }

                return;
            }

            lock (t.Gate)
            {
                CompleteLoad(t, cs, page, ref toClose);
            }

            CloseAll(toClose, CloseReason.SlowConsumer);
        }
        finally
        {
            Interlocked.Decrement(ref _loadsInFlight);
        }
    }

    /// <summary>
    /// A page read failed: live delivery must not stop, so the load is retried with a growing delay for as long as the
    /// client is online (caller holds the tenant lock).
    /// </summary>
    private void LoadFailed(TenantState t, ClientState cs, Exception ex)
    {
        cs.EndLoad();
        cs.LoadFailures++;
        EngineLog.InboxLoadFailed(_logger, ex, t.Id, cs.Client, cs.LoadFailures);
        _metrics.InboxLoadFailed();
        if (cs.Removed || cs.LoadRetry is not null)
        {
            return;
        }

        var delay = TimeSpan.FromMilliseconds(Math.Min(_options.InboxLoadRetryMax.TotalMilliseconds, 50 * Math.Pow(2, Math.Min(cs.LoadFailures - 1, 16))));
        cs.LoadRetry = _time.CreateTimer(_ => RetryLoad(t, cs), null, delay, Timeout.InfiniteTimeSpan);
    }

    private void RetryLoad(TenantState t, ClientState cs)
    {
        List<ClientConnection>? toClose = null;
        lock (t.Gate)
        {
            cs.LoadRetry?.Dispose();
            cs.LoadRetry = null;
            if (!cs.Removed && !cs.Loading && !cs.Complete)
            {
                StartLoad(t, cs, ref toClose);
            }
        }

        CloseAll(toClose, CloseReason.SlowConsumer);
    }

    private void CompleteLoad(TenantState t, ClientState cs, IReadOnlyList<Letter> page, ref List<ClientConnection>? toClose)
    {
        if (cs.Removed)
        {
            cs.EndLoad();
            return;
        }

        cs.LoadFailures = 0;
        // Only an empty page proves the inbox exhausted: a short one may have been cut by the byte bound (and a stored
        // letter may be larger than today's MaxPayloadBytes), so it costs one more read, once, to know.
        var full = page.Count > 0;
        foreach (var letter in page)
        {
            if (!cs.CanJoin(letter))
            {
                continue; // already in the window, or removed while the page was read
            }

            if (!WindowHasRoom(cs, letter.Payload.Length + PendingLetter.EntryOverhead))
            {
                // The rest of the page waits in the store; the next page is read once an ack or expiry frees room
                // (reading again now would bring the same letter that does not fit).
                full = true;
                cs.WaitingForRoom = true;
                break;
            }

            cs.Add(letter);
        }

        if (!full && !cs.BufferOverflowed)
        {
            // The whole inbox is in memory now; letters sent during the read join it (those already read are skipped).
            cs.Complete = true;
            foreach (var letter in cs.Buffer ?? [])
            {
                if (!cs.CanJoin(letter))
                {
                    continue;
                }

                if (!WindowHasRoom(cs, letter.Payload.Length + PendingLetter.EntryOverhead))
                {
                    cs.Complete = false;
                    break;
                }

                cs.Add(letter);
            }
        }

        cs.EndLoad();
        Pump(t, cs, ref toClose);
    }

    /// <summary>
    /// Hands waiting letters to ready connections, at most <see cref="DaakiaCoreOptions.MaxInflightPerConnection"/> (and
    /// <see cref="DaakiaCoreOptions.MaxInflightBytesPerConnection"/>) unacknowledged per connection, drops expired letters
    /// from the window, and pages in more of the inbox when the window runs low. Caller holds the lock.
    /// </summary>
    private void Pump(TenantState t, ClientState cs, ref List<ClientConnection>? toClose)
    {
        var now = _time.GetUtcNow();
        if (cs.Mode == DeliveryMode.All)
        {
            PumpAll(cs, now, ref toClose);
        }
        else
        {
            PumpAny(cs, now, ref toClose);
        }

        if (!cs.Complete && !cs.Loading && cs.LoadRetry is null && !cs.WaitingForRoom && cs.Connections.Count > 0
            && cs.Pending.Count <= _options.InboxPageSize / 2 && cs.PendingBytes <= _options.MaxWindowBytesPerClient / 2)
        {
            StartLoad(t, cs, ref toClose);
        }
    }

    private void PumpAll(ClientState cs, DateTimeOffset now, ref List<ClientConnection>? toClose)
    {
        var count = _options.MaxInflightPerConnection;
        var bytes = _options.MaxInflightBytesPerConnection;
        foreach (var c in cs.Connections)
        {
            if (!c.Ready || c.Removed)
            {
                continue;
            }

            var i = cs.IndexAfter(c.DeliveredThrough);
            while (i < cs.Pending.Count)
            {
                var p = cs.Pending[i];
                if (p.Letter.IsExpired(now))
                {
                    // Never delivered again: it leaves the window now (the sweep removes it from the store and records it).
                    cs.Remove(p.Letter.Id);
                    continue;
                }

                if (!c.HasRoom(p.Size, count, bytes))
                {
                    break;
                }

                if (!c.Target.TryDeliver(p.Letter))
                {
                    (toClose ??= []).Add(c);
                    break;
                }

                _metrics.LetterDelivered();
                c.Take(p.Size);
                c.DeliveredThrough = p.Sequence;
                i++;
            }
        }
    }

    private void PumpAny(ClientState cs, DateTimeOffset now, ref List<ClientConnection>? toClose)
    {
        var count = _options.MaxInflightPerConnection;
        var bytes = _options.MaxInflightBytesPerConnection;
        for (var i = 0; i < cs.Pending.Count; i++)
        {
            var p = cs.Pending[i];
            if (p.AssignedTo is not null)
            {
                continue;
            }

            if (p.Letter.IsExpired(now))
            {
                cs.Remove(p.Letter.Id);
                i--;
                continue;
            }

            // The ready connection with the fewest letters in flight takes it.
            ClientConnection? best = null;
            foreach (var c in cs.Connections)
            {
                if (c.Ready && !c.Removed && c.HasRoom(p.Size, count, bytes) && (best is null || c.Inflight < best.Inflight) && toClose?.Contains(c) != true)
                {
                    best = c;
                }
            }

            if (best is null)
            {
                return;
            }

            if (!best.Target.TryDeliver(p.Letter))
            {
                (toClose ??= []).Add(best);
                i--;
                continue;
            }

            _metrics.LetterDelivered();
            p.AssignedTo = best;
            best.Take(p.Size);
        }
    }
}
