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
        List<ClientConnection>? toClose = null;
        ValueTask write;
        Letter letter;
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
                ExpiresAt = ttl is { } d ? now + d : null,
            };
            write = _store.AppendLetterAsync(letter, distinct, CancellationToken.None);
            foreach (var r in distinct)
            {
                if (t.Clients.TryGetValue(r, out var cs))
                {
                    Offer(t, cs, letter, ref toClose);
                }
            }
        }

        CloseAll(toClose, CloseReason.SlowConsumer);
        await write;
        _metrics.LetterSent();
        return new SendReceipt(letter.Id, now, distinct.Count);
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
        List<ClientConnection>? toClose = null;
        ValueTask<int> write;
        lock (t.Gate)
        {
            write = _store.DeleteLettersAsync(tenant, client, messageIds, CancellationToken.None);
            if (t.Clients.TryGetValue(client, out var cs))
            {
                foreach (var id in messageIds)
                {
                    cs.Remove(id);
                }

                Pump(t, cs, ref toClose);
            }
        }

        CloseAll(toClose, CloseReason.SlowConsumer);
        var removed = await write;
        _metrics.LettersAcknowledged(removed);
        return removed;
    }

    /// <summary>A page of one inbox, oldest first, without removing anything (REST reads).</summary>
    public ValueTask<IReadOnlyList<Letter>> ReadInboxAsync(TenantId tenant, ClientId client, long afterSequence, int limit, CancellationToken cancellationToken = default) =>
        _store.ReadInboxAsync(tenant, client, afterSequence, Math.Clamp(limit, 1, _options.InboxPageSize), cancellationToken);

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
        if (cs.Loading)
        {
            cs.Buffer!.Add(letter);
            return;
        }

        if (!cs.Complete)
        {
            return; // the store has it; the next page brings it
        }

        if (cs.Pending.Count >= _options.MaxLoadedLetters)
        {
            cs.Complete = false; // the window is full: later letters wait in the store
            return;
        }

        cs.Add(letter);
        Pump(t, cs, ref toClose);
    }

    /// <summary>Reads the next page of a client's inbox (caller holds the tenant lock; the read takes its place in store order now).</summary>
    private void StartLoad(TenantState t, ClientState cs, ref List<ClientConnection>? toClose)
    {
        cs.Loading = true;
        cs.Buffer = [];
        ValueTask<IReadOnlyList<Letter>> read;
        try
        {
            read = _store.ReadInboxAsync(t.Id, cs.Client, cs.LoadedThrough, _options.InboxPageSize, CancellationToken.None);
        }
        catch (Exception ex)
        {
            cs.Loading = false;
            cs.Buffer = null;
            EngineLog.InboxLoadFailed(_logger, ex, t.Id, cs.Client);
            return;
        }

        if (read.IsCompletedSuccessfully)
        {
            CompleteLoad(t, cs, read.Result, ref toClose);
            return;
        }

        _ = CompleteLoadAsync(t, cs, read);
    }

    private async Task CompleteLoadAsync(TenantState t, ClientState cs, ValueTask<IReadOnlyList<Letter>> read)
    {
        IReadOnlyList<Letter> page;
        try
        {
            page = await read;
        }
        catch (Exception ex)
        {
            EngineLog.InboxLoadFailed(_logger, ex, t.Id, cs.Client);
            lock (t.Gate)
            {
                cs.Loading = false;
                cs.Buffer = null;
            }

            return;
        }

        List<ClientConnection>? toClose = null;
        lock (t.Gate)
        {
            CompleteLoad(t, cs, page, ref toClose);
        }

        CloseAll(toClose, CloseReason.SlowConsumer);
    }

    private void CompleteLoad(TenantState t, ClientState cs, IReadOnlyList<Letter> page, ref List<ClientConnection>? toClose)
    {
        cs.Loading = false;
        var buffered = cs.Buffer;
        cs.Buffer = null;
        if (cs.Removed)
        {
            return;
        }

        foreach (var letter in page)
        {
            if (letter.Sequence > cs.LoadedThrough && !cs.ById.ContainsKey(letter.Id))
            {
                cs.Add(letter);
            }
        }

        if (page.Count < _options.InboxPageSize)
        {
            // The whole inbox is in memory now; letters sent during the read join it (those already read are skipped).
            cs.Complete = true;
            foreach (var letter in buffered ?? [])
            {
                if (letter.Sequence > cs.LoadedThrough && !cs.ById.ContainsKey(letter.Id))
                {
                    cs.Add(letter);
                }
            }
        }

        Pump(t, cs, ref toClose);
    }

    /// <summary>
    /// Hands waiting letters to ready connections, at most <see cref="DaakiaCoreOptions.MaxInflightPerConnection"/>
    /// unacknowledged per connection, and pages in more of the inbox when the window runs low. Caller holds the lock.
    /// </summary>
    private void Pump(TenantState t, ClientState cs, ref List<ClientConnection>? toClose)
    {
        var now = _time.GetUtcNow();
        var window = _options.MaxInflightPerConnection;
        if (cs.Mode == DeliveryMode.All)
        {
            foreach (var c in cs.Connections)
            {
                if (!c.Ready || c.Removed)
                {
                    continue;
                }

                // Every pending letter at or below DeliveredThrough is in flight on c, so the index is the in-flight count.
                var i = cs.IndexAfter(c.DeliveredThrough);
                while (i < cs.Pending.Count && i < window)
                {
                    var letter = cs.Pending[i].Letter;
                    if (!letter.IsExpired(now))
                    {
                        if (!c.Target.TryDeliver(letter))
                        {
                            (toClose ??= []).Add(c);
                            break;
                        }

                        _metrics.LetterDelivered();
                    }

                    c.DeliveredThrough = letter.Sequence;
                    i++;
                }
            }
        }
        else
        {
            PumpAny(cs, now, window, ref toClose);
        }

        if (!cs.Complete && !cs.Loading && cs.Pending.Count <= _options.InboxPageSize / 2 && cs.Connections.Count > 0)
        {
            StartLoad(t, cs, ref toClose);
        }
    }

    private void PumpAny(ClientState cs, DateTimeOffset now, int window, ref List<ClientConnection>? toClose)
    {
        foreach (var p in cs.Pending)
        {
            if (p.AssignedTo is not null || p.Skipped)
            {
                continue;
            }

            if (p.Letter.IsExpired(now))
            {
                p.Skipped = true;
                continue;
            }

            // The ready connection with the fewest letters in flight takes it.
            ClientConnection? best = null;
            foreach (var c in cs.Connections)
            {
                if (c.Ready && !c.Removed && c.Inflight < window && (best is null || c.Inflight < best.Inflight) && toClose?.Contains(c) != true)
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
                continue;
            }

            _metrics.LetterDelivered();
            p.AssignedTo = best;
            best.Inflight++;
        }
    }
}
