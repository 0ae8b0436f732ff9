using System.Runtime.CompilerServices;
using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>
/// Letters: direct messages to clients' inboxes, the first user of the durable delivery engine
/// (<see cref="QueueDelivery"/>). Sends, acks, releases (negative acks), inbox and dead-letter reads. Reached as
/// <see cref="DaakiaEngine.Letters"/>; connections and the tenant lock stay with the engine.
/// </summary>
public sealed partial class LetterOffice
{
    private readonly DaakiaEngine _engine;
    private readonly IDaakiaStore _store;
    private readonly DaakiaCoreOptions _options;
    private readonly TimeProvider _time;
    private readonly DaakiaMetrics _metrics;
    private readonly WriteBudget _writes;
    private readonly InboxQuota _quota;
    private readonly QueueDelivery _delivery;

    internal LetterOffice(DaakiaEngine engine, IDaakiaStore store, DaakiaCoreOptions options, TimeProvider time, DaakiaMetrics metrics, WriteBudget writes, QueueDelivery delivery)
    {
        _engine = engine;
        _store = store;
        _options = options;
        _time = time;
        _metrics = metrics;
        _writes = writes;
        _quota = options.Quota;
        _delivery = delivery;
    }

    /// <summary>
    /// Sends a letter to one or more clients. Online recipients get it at once; the returned task completes only
    /// once it is durably in every recipient's inbox (that is when the sender may be acknowledged).
    /// </summary>
    /// <remarks>
    /// <paramref name="delay"/> holds the letter back from delivery; <paramref name="headers"/> travel with it;
    /// <paramref name="contentType"/> names the payload's type (default <see cref="Letter.JsonContentType"/>).
    /// </remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<SendReceipt> SendAsync(
        TenantId tenant,
        ClientId author,
        IReadOnlyList<ClientId> recipients,
        ReadOnlyMemory<byte> payload,
        TimeSpan? ttl = null,
        TimeSpan? delay = null,
        IReadOnlyList<KeyValuePair<string, string>>? headers = null,
        string? contentType = null)
    {
        _engine.EnsureAccepting();
        var distinct = ValidateLetter(recipients, payload, ttl, delay);
        var headerBytes = headers is { Count: > 0 } ? ValidateHeaders(headers) : 0;
        var now = _time.GetUtcNow();
        var t = _engine.Tenant(tenant);
        var cost = WriteCost(payload.Length + headerBytes, distinct.Count);
        TakeBudget(cost);
        Letter letter;
        try
        {
            List<ClientConnection>? toClose = null;
            ValueTask<IReadOnlyList<long>> write;
            IReadOnlyList<long>? positions = null;
            var online = false;
            letter = new Letter
            {
                Id = MessageIds.New(now),
                Tenant = tenant,
                Author = author,
                Recipients = distinct,
                Payload = payload,
                ContentType = contentType ?? Letter.JsonContentType,
                Headers = headers is { Count: > 0 } ? headers : [],
                Timestamp = now,
                ExpiresAt = ttl is { } d ? now + d : _options.DefaultLetterTtl > TimeSpan.Zero ? now + _options.DefaultLetterTtl : null,
                VisibleAt = delay is { } wait && wait > TimeSpan.Zero ? now + wait : null,
            };
            var queues = InboxStoreExtensions.InboxesOf(tenant, distinct);
            lock (t.Gate)
            {
                // The online recipients, looked up once (an array only for a multicast).
                ClientState? single = null;
                ClientState?[]? states = null;
                if (distinct.Count == 1)
                {
                    online = t.Clients.TryGetValue(distinct[0], out single);
                }
                else
                {
                    states = new ClientState?[distinct.Count];
                    for (var i = 0; i < states.Length; i++)
                    {
                        online |= t.Clients.TryGetValue(distinct[i], out states[i]);
                    }
                }

                // Before anyone is offered it: does it certainly fit every quota? (The store decides; this only says
                // whether live delivery may run ahead of that decision.)
                var live = ReserveUsage(t, letter, distinct, single, states, online);

                // The append takes its place in store order under the tenant lock, before the offers below: each inbox is
                // in the same order in the store, in memory and on the wire. The store allocates the positions.
                // Read once (a store's task may be a pooled source): its state now, then either its result here or one
                // await below, never both.
#pragma warning disable CA2012 // Consumed exactly once: Result when already complete, else the single await after the lock.
                write = _store.AppendAsync(letter, queues, _quota, CancellationToken.None);
#pragma warning restore CA2012
                var faulted = write.IsFaulted;
                if (write.IsCompletedSuccessfully)
                {
                    positions = write.Result;
                }

                // Live delivery does not wait for the commit. A letter that may pass a quota is not offered: the online
                // recipients' windows leave it (and what follows) to the store and read it once the store has decided, so
                // a refused letter reaches nobody. A write that fails later is withdrawn from the windows. A write the
                // store refused at once is not offered at all.
                if (online && !faulted)
                {
                    for (var i = 0; i < distinct.Count; i++)
                    {
                        if ((states is null ? single : states[i]) is { } cs)
                        {
                            if (live)
                            {
                                _delivery.Offer(cs.Window, letter, positions?[i] ?? 0, ref toClose);
                            }
                            else
                            {
                                _delivery.Defer(cs.Window, ref toClose);
                            }
                        }
                    }

                    online &= live && positions is null;
                }
            }

            _engine.CloseAll(toClose, CloseReason.SlowConsumer);
            IReadOnlyList<long> stored;
            try
            {
                stored = positions ?? await write;
            }
            catch
            {
                // Not stored: it must not linger in the windows it was offered to (it may have been delivered already).
                Withdraw(t, letter);
                throw;
            }

            if (online)
            {
                // The positions are known now: the online recipients' windows may page past this letter.
                lock (t.Gate)
                {
                    for (var i = 0; i < distinct.Count; i++)
                    {
                        if (t.Clients.TryGetValue(distinct[i], out var cs))
                        {
                            QueueDelivery.Positioned(cs.Window, letter.Id, stored[i]);
                        }
                    }
                }
            }
        }
        finally
        {
            // Whatever happened, the budget taken above is given back exactly once.
            _writes.Give(cost);
        }

        _metrics.LetterSent();
        if (_options.RecordMessageActivity)
        {
            _engine.RecordActivity(new ActivityEntry(0, tenant, now, ActivityKinds.Sent, author, letter.Id.ToString(),
                distinct.Count == 1 ? distinct[0].Value : $"{distinct.Count} recipients"));
        }

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
                if (t.Clients.TryGetValue(r, out var cs))
                {
                    _delivery.Remove(cs.Window, letter.Id, ref toClose);
                }
            }
        }

        _engine.CloseAll(toClose, CloseReason.SlowConsumer);
    }

    /// <summary>
    /// Acknowledges letters of <paramref name="client"/>'s inbox: they leave it durably before the task completes.
    /// Returns how many of the ids were in the inbox.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
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

        var t = _engine.Tenant(tenant);
        var cost = WriteCost(messageIds.Count * 16, 1);
        TakeBudget(cost);
        int removed;
        try
        {
            List<ClientConnection>? toClose = null;
            List<Guid>? later = null;
            List<WindowEntry>? taken = null;
            DeliveryWindow? window = null;
            UsageRelease release = default;
            UsageRecord? inbox;
            int inboxGeneration, tenantGeneration;
            ValueTask<int> write;
            lock (t.Gate)
            {
                write = _store.DeleteLettersAsync(tenant, client, messageIds, CancellationToken.None);
                t.Clients.TryGetValue(client, out var cs);
                inbox = cs?.Usage ?? t.Usage.Find(client);
                inboxGeneration = inbox?.Generation ?? 0;
                tenantGeneration = t.Usage.Tenant.Generation;
                if (cs is not null)
                {
                    // A letter already handed out leaves the window now, so its slot is free at once; if the delete fails
                    // it comes back, once, as if released (the client was told its ack failed and may retry it). One not
                    // handed out yet (an ack by id, as REST allows) leaves only once the delete is durable: were it
                    // dropped now and the delete failed, it would never come.
                    window = cs.Window;
                    taken = QueueDelivery.TakeAcked(cs.Window, messageIds, ref later, collectNotTaken: true);

                    // The store applies the delete before any append called after it, so the bounds drop now.
                    release = ReleaseUsage(t, cs, taken);
                    _delivery.Pump(cs.Window, ref toClose);
                }
            }

            _engine.CloseAll(toClose, CloseReason.SlowConsumer);
            try
            {
                removed = await write;
            }
            catch
            {
                UndoRelease(t, release);
                if (taken is not null)
                {
                    _delivery.Restore(window!, taken);
                }

                throw;
            }

            ReleaseUnknown(t, inbox, inboxGeneration, tenantGeneration, removed - release.Count);
            if (later is not null)
            {
                toClose = null;
                lock (t.Gate)
                {
                    if (t.Clients.TryGetValue(client, out var cs))
                    {
                        foreach (var id in later)
                        {
                            cs.Window.Remove(id);
                        }

                        _delivery.Pump(cs.Window, ref toClose);
                    }
                }

                _engine.CloseAll(toClose, CloseReason.SlowConsumer);
            }
        }
        finally
        {
            _writes.Give(cost);
        }

        _metrics.LettersAcknowledged(removed);
        if (_options.RecordMessageActivity && removed > 0)
        {
            // One entry per letter (a delivery is recorded with its ack: the letter reached the client); when some of
            // the ids were not in the inbox the store does not say which, so one entry says how many were.
            var at = _time.GetUtcNow();
            if (removed == messageIds.Count)
            {
                foreach (var id in messageIds)
                {
                    _engine.RecordActivity(new ActivityEntry(0, tenant, at, ActivityKinds.Acked, client, id.ToString(), null));
                }
            }
            else
            {
                _engine.RecordActivity(new ActivityEntry(0, tenant, at, ActivityKinds.Acked, client, null, $"{removed} of {messageIds.Count} ids were in the inbox"));
            }
        }

        return removed;
    }

    /// <summary>
    /// Gives letters handed out to <paramref name="client"/> back for redelivery (a negative acknowledgement), after
    /// <paramref name="delay"/> if given; each keeps its raised delivery count, durably before the task completes, and
    /// goes to the dead letters once it reaches <see cref="DaakiaCoreOptions.MaxDeliveries"/>. Letters not handed out
    /// are left alone. Returns how many came back.
    /// </summary>
    public async ValueTask<int> ReleaseAsync(TenantId tenant, ClientId client, IReadOnlyList<Guid> messageIds, TimeSpan? delay = null)
    {
        if (messageIds.Count > _options.InboxPageSize)
        {
            throw DaakiaException.Invalid($"At most {_options.InboxPageSize} message ids per release.");
        }

        if (delay is { } d && (d < TimeSpan.Zero || d > _options.MaxDelay))
        {
            throw DaakiaException.Invalid($"A delay must be between 0 and {_options.MaxDelay.TotalSeconds:0} seconds.");
        }

        var t = _engine.Tenant(tenant);
        var visibleAt = delay is { } wait && wait > TimeSpan.Zero ? _time.GetUtcNow() + wait : (DateTimeOffset?)null;
        var cost = WriteCost(messageIds.Count * 16, 1);
        TakeBudget(cost);
        List<ReturnedEntry> returned = [];
        try
        {
            List<ClientConnection>? toClose = null;
            var write = Task.FromResult(0);
            lock (t.Gate)
            {
                if (t.Clients.TryGetValue(client, out var cs))
                {
                    returned = _delivery.Release(cs.Window, messageIds, visibleAt);
                    if (returned.Count > 0)
                    {
                        // Recorded before anything is handed out again, so a redelivery that dead-letters comes after it.
                        write = _store.ReturnAsync(cs.Window.Key, returned, CancellationToken.None).AsTask();
                        _delivery.Pump(cs.Window, ref toClose);
                    }
                }
            }

            _engine.CloseAll(toClose, CloseReason.SlowConsumer);
            await write;
        }
        finally
        {
            _writes.Give(cost);
        }

        _metrics.LettersReleased(returned.Count);
        return returned.Count;
    }

    /// <summary>A page of one inbox, oldest first, without removing anything (REST reads).</summary>
    public ValueTask<IReadOnlyList<QueueEntry>> ReadInboxAsync(TenantId tenant, ClientId client, long afterPosition, int limit, CancellationToken cancellationToken = default) =>
        _store.ReadInboxAsync(tenant, client, afterPosition, Math.Clamp(limit, 1, _options.InboxPageSize), _options.MaxReadPageBytes, cancellationToken);

    /// <summary>Letters waiting in one inbox.</summary>
    public ValueTask<long> CountInboxAsync(TenantId tenant, ClientId client, CancellationToken cancellationToken = default) =>
        _store.CountInboxAsync(tenant, client, cancellationToken);

    /// <summary>A page of a client's dead letters (letters delivered <see cref="DaakiaCoreOptions.MaxDeliveries"/> times
    /// without an ack), oldest first.</summary>
    public ValueTask<IReadOnlyList<QueueEntry>> ReadDeadLettersAsync(TenantId tenant, ClientId client, long afterPosition, int limit, CancellationToken cancellationToken = default) =>
        _store.ReadAsync(QueueKey.DeadLetters(tenant, client), afterPosition, Math.Clamp(limit, 1, _options.InboxPageSize), _options.MaxReadPageBytes, cancellationToken);

    /// <summary>A page of a client's dead letters holding at most <paramref name="maxBytes"/> of payload (the first always;
    /// never more than <see cref="DaakiaCoreOptions.MaxReadPageBytes"/>), for a wire whose replies are smaller frames.</summary>
    public ValueTask<IReadOnlyList<QueueEntry>> ReadDeadLettersAsync(TenantId tenant, ClientId client, long afterPosition, int limit, long maxBytes, CancellationToken cancellationToken = default) =>
        _store.ReadAsync(QueueKey.DeadLetters(tenant, client), afterPosition, Math.Clamp(limit, 1, _options.InboxPageSize), Math.Clamp(maxBytes, 1, _options.MaxReadPageBytes), cancellationToken);

    /// <summary>Dead letters of one client.</summary>
    public ValueTask<long> CountDeadLettersAsync(TenantId tenant, ClientId client, CancellationToken cancellationToken = default) =>
        _store.CountAsync(QueueKey.DeadLetters(tenant, client), cancellationToken);

    /// <summary>Removes dead letters of one client (durably before the task completes). Returns how many were there.</summary>
    public async ValueTask<int> DeleteDeadLettersAsync(TenantId tenant, ClientId client, IReadOnlyList<Guid> messageIds)
    {
        if (messageIds.Count > _options.InboxPageSize)
        {
            throw DaakiaException.Invalid($"At most {_options.InboxPageSize} message ids per request.");
        }

        var cost = WriteCost(messageIds.Count * 16, 1);
        TakeBudget(cost);
        try
        {
            return await _store.DeleteAsync(QueueKey.DeadLetters(tenant, client), messageIds, CancellationToken.None);
        }
        finally
        {
            _writes.Give(cost);
        }
    }

    private IReadOnlyList<ClientId> ValidateLetter(IReadOnlyList<ClientId> recipients, ReadOnlyMemory<byte> payload, TimeSpan? ttl, TimeSpan? delay)
    {
        if (recipients.Count == 0)
        {
            throw DaakiaException.Invalid("A letter needs at least one recipient.");
        }

        if (payload.Length > _options.MaxPayloadBytes)
        {
            throw new DaakiaException(DaakiaErrorCode.PayloadTooLarge, $"The payload is {payload.Length} bytes; at most {_options.MaxPayloadBytes} are allowed.");
        }

        if (ttl is { } d && (d <= TimeSpan.Zero || d > _options.MaxTtl))
        {
            throw DaakiaException.Invalid($"A TTL must be positive and at most {_options.MaxTtl.TotalSeconds:0} seconds.");
        }

        if (delay is { } w && (w < TimeSpan.Zero || w > _options.MaxDelay))
        {
            throw DaakiaException.Invalid($"A delay must be between 0 and {_options.MaxDelay.TotalSeconds:0} seconds.");
        }

        if (recipients.Count == 1)
        {
            // The usual letter: one recipient, in an array of its own (nothing to merge).
            return recipients[0].Value is null ? throw DaakiaException.Invalid("A recipient is missing.") : new ClientId[] { recipients[0] };
        }

        // Duplicates are merged first, then counted: a hundred copies of one recipient are one recipient.
        var distinct = new List<ClientId>(Math.Min(recipients.Count, _options.MaxRecipients));
        HashSet<ClientId>? seen = recipients.Count > 8 ? new(recipients.Count) : null;
        for (var i = 0; i < recipients.Count; i++)
        {
            var r = recipients[i];
            if (r.Value is null)
            {
                throw DaakiaException.Invalid("A recipient is missing.");
            }

            if (seen is not null ? seen.Add(r) : !distinct.Contains(r))
            {
                distinct.Add(r);
                if (distinct.Count > _options.MaxRecipients)
                {
                    throw new DaakiaException(DaakiaErrorCode.TooManyRecipients, $"At most {_options.MaxRecipients} recipients per letter.");
                }
            }
        }

        return distinct;
    }

    /// <summary>
    /// Checks a letter's headers against <see cref="DaakiaCoreOptions.MaxHeadersPerLetter"/> and
    /// <see cref="DaakiaCoreOptions.MaxHeaderBytes"/>: every key and value present and Unicode text (no lone surrogate,
    /// which no wire could carry as text). Returns their UTF-8 bytes.
    /// </summary>
    internal int ValidateHeaders(IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        if (headers.Count > _options.MaxHeadersPerLetter)
        {
            throw DaakiaException.Invalid($"At most {_options.MaxHeadersPerLetter} headers per letter.");
        }

        long bytes = 0;
        for (var i = 0; i < headers.Count; i++)
        {
            var (key, value) = headers[i];
            if (key is null || value is null)
            {
                throw DaakiaException.Invalid("A header needs a key and a value.");
            }

            if (!IsText(key) || !IsText(value))
            {
                throw DaakiaException.Invalid($"Header {i} is not Unicode text (a lone surrogate).");
            }

            bytes += System.Text.Encoding.UTF8.GetByteCount(key) + System.Text.Encoding.UTF8.GetByteCount(value);
            if (bytes > _options.MaxHeaderBytes)
            {
                throw DaakiaException.Invalid($"A letter's headers may hold at most {_options.MaxHeaderBytes} bytes of UTF-8 keys and values.");
            }
        }

        return (int)bytes;
    }

    /// <summary>False when <paramref name="s"/> holds a surrogate without its other half.</summary>
    private static bool IsText(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1]))
                {
                    return false;
                }

                i++;
            }
            else if (char.IsLowSurrogate(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>What a durable write costs against the server-wide write budget.</summary>
    private static long WriteCost(int payloadBytes, int entries) => payloadBytes + (entries * WindowEntry.Overhead);

    private void TakeBudget(long cost)
    {
        if (!_writes.TryTake(cost))
        {
            _metrics.WriteRefused();
            throw new DaakiaException(DaakiaErrorCode.Overloaded, "The server has as many writes in flight as it may hold; retry shortly.");
        }
    }
}
