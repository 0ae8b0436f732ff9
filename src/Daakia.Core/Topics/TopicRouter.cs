using Daakia.Core.Storage;
using System.Buffers;
using System.Runtime.CompilerServices;

namespace Daakia.Core;

/// <summary>
/// Topics, the engine's non-durable pub/sub (<see cref="DaakiaEngine.Topics"/>): subscriptions with MQTT's options and
/// wildcards, shared groups, and routing a publication to every subscriber once. A tenant's subscriptions live in its
/// <see cref="TopicTrie"/> under the tenant lock; routing reads the trie's route cache without locking.
/// </summary>
public sealed class TopicRouter
{
    private readonly DaakiaEngine _engine;
    private readonly DaakiaCoreOptions _options;
    private readonly TimeProvider _time;
    private readonly DaakiaMetrics _metrics;

    internal TopicRouter(DaakiaEngine engine, DaakiaCoreOptions options, TimeProvider time, DaakiaMetrics metrics)
    {
        _engine = engine;
        _options = options;
        _time = time;
        _metrics = metrics;
    }

    /// <summary>Adds topic filters (MQTT wildcards, <c>$share/{group}/{filter}</c>) with default options (QoS 0).</summary>
    public void Subscribe(ClientConnection connection, IReadOnlyList<string> filters)
    {
        var requests = new SubscriptionRequest[filters.Count];
        for (var i = 0; i < requests.Length; i++)
        {
            requests[i] = new SubscriptionRequest(filters[i]);
        }

        Subscribe(connection, requests);
    }

    /// <summary>
    /// Adds subscriptions to a connection; a filter it already has gets the new options (MQTT-3.8.4-3). Validates all
    /// before adding any. Returns, per request, whether the subscription is new (retain handling 1 needs it).
    /// </summary>
    public bool[] Subscribe(ClientConnection connection, IReadOnlyList<SubscriptionRequest> requests)
    {
        var isNew = Validate(requests);
        var t = _engine.Tenant(connection.Tenant);
        lock (t.Gate)
        {
            if (connection.Removed)
            {
                throw new DaakiaException(DaakiaErrorCode.Unavailable, "The connection is closed.");
            }

            Add(t, connection, connection.Subscriptions, requests, isNew);
        }

        return isNew;
    }

    /// <summary>Checks every request; returns, per request, whether its filter is named here for the first time.</summary>
    internal bool[] Validate(IReadOnlyList<SubscriptionRequest> requests)
    {
        foreach (var r in requests)
        {
            if (!TopicNames.IsValidFilter(r.Filter, _options, out var error)
                || !r.Options.IsValid(r.Filter.StartsWith(TopicNames.SharePrefix, StringComparison.Ordinal), out error))
            {
                throw DaakiaException.Invalid(error!);
            }
        }

        // A filter named twice in one request counts once (the later options win): isNew starts as "first named here".
        var isNew = new bool[requests.Count];
        if (requests.Count == 1)
        {
            isNew[0] = true;
        }
        else
        {
            var named = new HashSet<string>(requests.Count, StringComparer.Ordinal);
            for (var i = 0; i < requests.Count; i++)
            {
                isNew[i] = named.Add(requests[i].Filter);
            }
        }

        return isNew;
    }

    /// <summary>
    /// Adds or replaces an owner's subscriptions (a connection's, or a persistent session's) and hands the new ones their
    /// retained messages; <paramref name="isNew"/> (from <see cref="Validate"/>) becomes "new to the owner". Caller holds
    /// the tenant lock.
    /// </summary>
    internal void Add(TenantState t, ISubscriber owner, Dictionary<string, Subscription> subscriptions, IReadOnlyList<SubscriptionRequest> requests, bool[] isNew,
        bool sendRetained = true)
    {
        var adding = 0;
        for (var i = 0; i < requests.Count; i++)
        {
            isNew[i] = isNew[i] && !subscriptions.ContainsKey(requests[i].Filter);
            adding += isNew[i] ? 1 : 0;
        }

        if (subscriptions.Count + adding > _options.MaxSubscriptionsPerConnection)
        {
            throw new DaakiaException(DaakiaErrorCode.LimitExceeded, $"At most {_options.MaxSubscriptionsPerConnection} subscriptions per connection.");
        }

        foreach (var r in requests)
        {
            if (!subscriptions.TryGetValue(r.Filter, out var old))
            {
                var s = new Subscription(owner, r.Filter, r.Options);
                subscriptions.Add(r.Filter, s);
                t.Topics.Add(s);
            }
            else if (old.Options != r.Options)
            {
                var s = new Subscription(owner, r.Filter, r.Options);
                subscriptions[r.Filter] = s;
                t.Topics.Replace(old, s);
            }
        }

        if (sendRetained && t.Retained.Count > 0)
        {
            for (var i = 0; i < requests.Count; i++)
            {
                SendRetained(t, owner, subscriptions[requests[i].Filter], isNew[i]);
            }
        }
    }

    /// <summary>Removes an owner's subscriptions by filter (unknown ones are ignored); caller holds the tenant lock.
    /// Returns whether any went.</summary>
    internal static bool Remove(TenantState t, Dictionary<string, Subscription> subscriptions, IReadOnlyList<string> filters)
    {
        var removed = false;
        foreach (var f in filters)
        {
            if (subscriptions.Remove(f, out var s))
            {
                t.Topics.Remove(s);
                removed = true;
            }
        }

        return removed;
    }

    /// <summary>
    /// Hands a new subscription the retained messages its filter matches, by its retain handling (MQTT-3.3.1-9/10/11);
    /// a shared subscription gets none (MQTT-4.8.2-6). Under the tenant lock, so the set is the one of this moment.
    /// </summary>
    /// <remarks>An exact filter is one lookup; a wildcard filter tests every retained topic of the tenant.</remarks>
    private void SendRetained(TenantState t, ISubscriber connection, Subscription subscription, bool isNew)
    {
        var handling = subscription.Options.RetainHandling;
        if (handling == RetainHandling.DoNotSend || (handling == RetainHandling.SendIfNew && !isNew)
            || subscription.Filter.StartsWith(TopicNames.SharePrefix, StringComparison.Ordinal))
        {
            return;
        }

        var one = new ReadOnlySpan<Subscription>(in subscription);
        var now = _time.GetUtcNow();
        if (!TopicNames.HasWildcard(subscription.Filter))
        {
            if (t.Retained.TryGetValue(subscription.Filter, out var exact) && !(exact.ExpiresAt <= now))
            {
                Offer(connection, exact, one);
            }

            return;
        }

        foreach (var (topic, retained) in t.Retained)
        {
            if (TopicNames.Matches(subscription.Filter, topic) && !(retained.ExpiresAt <= now))
            {
                Offer(connection, retained, one);
            }
        }
    }

    /// <summary>Removes topic filters from a connection; unknown filters are ignored.</summary>
    public void Unsubscribe(ClientConnection connection, IReadOnlyList<string> filters)
    {
        var t = _engine.Tenant(connection.Tenant);
        lock (t.Gate)
        {
            if (connection.HasSubscriptions)
            {
                Remove(t, connection.Subscriptions, filters);
            }
        }
    }

    /// <summary>
    /// Publishes to a topic (non-durable): every connection subscribed now gets it once, and each shared subscription
    /// group once. Topics starting with <c>$</c> are the server's. Returns the number of connections it was queued for.
    /// </summary>
    public int Publish(TenantId tenant, ClientId? author, string topic, ReadOnlyMemory<byte> payload) =>
        Publish(tenant, author, topic, payload, Letter.JsonContentType, QualityOfService.AtMostOnce);

    /// <summary>
    /// Publishes bytes of a given content type at a QoS (MQTT): the same routing as the JSON one; each subscriber gets
    /// it at the lower of <paramref name="qos"/> and its subscription's maximum.
    /// </summary>
    public int Publish(TenantId tenant, ClientId? author, string topic, ReadOnlyMemory<byte> payload, string contentType, QualityOfService qos) =>
        Publish(tenant, author, topic, payload, contentType, qos, retain: false, out _);

    /// <summary>
    /// Publishes as above; with <paramref name="retain"/> the publication also becomes the topic's retained message (an
    /// empty payload removes it instead, and is still delivered). <paramref name="stored"/> completes when that change is
    /// durable (at once without <paramref name="retain"/>): acknowledge a retained publish only after it.
    /// </summary>
    /// <exception cref="DaakiaException"><see cref="DaakiaErrorCode.QuotaExceeded"/>: the tenant's retained messages are at
    /// <see cref="DaakiaCoreOptions.MaxRetainedPerTenant"/> or <see cref="DaakiaCoreOptions.MaxRetainedBytesPerTenant"/>;
    /// nothing was published.</exception>
    public int Publish(TenantId tenant, ClientId? author, string topic, ReadOnlyMemory<byte> payload, string contentType, QualityOfService qos,
        bool retain, out Task stored, PublicationProperties? properties = null, TimeSpan? expiry = null)
    {
        _engine.EnsureAccepting();
        if (!TopicNames.IsValidName(topic, _options, out var error))
        {
            throw DaakiaException.Invalid(error!);
        }

        if (topic.StartsWith('$'))
        {
            throw new DaakiaException(DaakiaErrorCode.Forbidden, "Topics starting with '$' are reserved for the server.");
        }

        if (payload.Length > _options.MaxPayloadBytes)
        {
            throw new DaakiaException(DaakiaErrorCode.PayloadTooLarge, $"The payload is {payload.Length} bytes; at most {_options.MaxPayloadBytes} are allowed.");
        }

        var now = _time.GetUtcNow();
        var publication = new Publication
        {
            Tenant = tenant,
            Topic = topic,
            Author = author,
            Payload = payload,
            ContentType = contentType,
            Qos = qos,
            Retain = retain,
            Properties = properties,
            Timestamp = now,
            ExpiresAt = expiry is { } e ? now + e : null,
        };

        var t = _engine.Tenant(tenant);
        Interlocked.Increment(ref t.Received);
        if (!retain)
        {
            return Route(t, publication, out stored);
        }

        // Routed under the lock that changes the retained message, so a subscription made meanwhile gets it either as
        // the retained copy or live, never both.
        lock (t.Gate)
        {
            var retained = Retain(t, publication);
            var queued = Route(t, publication, out var queuedForSessions);
            stored = queuedForSessions.IsCompletedSuccessfully ? retained
                : retained.IsCompletedSuccessfully ? queuedForSessions
                : Task.WhenAll(retained, queuedForSessions);
            return queued;
        }
    }

    /// <summary>
    /// Sets or clears the topic's retained message (caller holds the tenant lock): the store write is started first
    /// (so a store that refuses at once changes nothing, and the store's order is the map's), then the map changes; if
    /// the write fails later, the change is undone unless a later one replaced it.
    /// </summary>
    private Task Retain(TenantState t, Publication p)
    {
        var size = Size(p);
        var had = t.Retained.TryGetValue(p.Topic, out var old);
        var oldSize = had ? Size(old!) : 0;
        if (p.Payload.IsEmpty)
        {
            if (!had)
            {
                return Task.CompletedTask;
            }

            var clearing = _engine.Store.WriteAsync([new ClearRetainedOp(t.Id, p.Topic)]).AsTask();
            t.Retained.Remove(p.Topic);
            t.RetainedBytes -= oldSize;
            return UndoOnFailure(t, p.Topic, clearing, null, old);
        }

        if (!had && t.Retained.Count >= _options.MaxRetainedPerTenant)
        {
            throw new DaakiaException(DaakiaErrorCode.QuotaExceeded, $"The tenant keeps at most {_options.MaxRetainedPerTenant} retained messages.");
        }

        if (t.RetainedBytes - oldSize + size > _options.MaxRetainedBytesPerTenant)
        {
            throw new DaakiaException(DaakiaErrorCode.QuotaExceeded, $"The tenant's retained messages may hold at most {_options.MaxRetainedBytesPerTenant} bytes.");
        }

        var message = new RetainedMessage(t.Id, p.Topic, p.Author, p.Payload, p.ContentType, p.Qos, p.Timestamp, p.ExpiresAt, p.Properties);
        var writing = _engine.Store.WriteAsync([new RetainOp(message)]).AsTask();
        var copy = RetainedCopy(message);
        t.Retained[p.Topic] = copy;
        t.RetainedBytes += size - oldSize;
        return UndoOnFailure(t, p.Topic, writing, copy, old);
    }

    private static Task UndoOnFailure(TenantState t, string topic, Task write, Publication? now, Publication? before)
    {
        if (write.IsCompletedSuccessfully)
        {
            return write;
        }

        _ = write.ContinueWith(static (w, s) =>
        {
            var (t, topic, now, before) = ((TenantState, string, Publication?, Publication?))s!;
            lock (t.Gate)
            {
                var current = t.Retained.GetValueOrDefault(topic);
                if (!ReferenceEquals(current, now))
                {
                    return; // a later change replaced this one
                }

                t.RetainedBytes -= current is null ? 0 : Size(current);
                if (before is null)
                {
                    t.Retained.Remove(topic);
                }
                else
                {
                    t.Retained[topic] = before;
                    t.RetainedBytes += Size(before);
                }
            }
        }, (t, topic, now, before), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return write;
    }

    private static long Size(Publication p) => p.Payload.Length + p.Topic.Length + p.ContentType.Length + (p.Properties?.Size ?? 0);

    /// <summary>The publication a new subscription gets for a retained message.</summary>
    internal static Publication RetainedCopy(RetainedMessage m) => new()
    {
        Tenant = m.Tenant,
        Topic = m.Topic,
        Author = m.Author,
        Payload = m.Payload,
        ContentType = m.ContentType,
        Qos = m.Qos,
        Retain = true,
        IsRetainedCopy = true,
        Timestamp = m.Timestamp,
        ExpiresAt = m.ExpiresAt,
        Properties = m.Properties,
    };

    /// <summary>
    /// A server topic's value (<c>$SYS/…</c>): kept as its retained message in memory only (it is made again after a
    /// restart) and delivered to current subscribers.
    /// </summary>
    internal void PublishServerValue(TenantState t, string topic, string value, DateTimeOffset now)
    {
        var message = new RetainedMessage(t.Id, topic, null, System.Text.Encoding.UTF8.GetBytes(value), "text/plain", QualityOfService.AtMostOnce, now);
        var copy = RetainedCopy(message);
        lock (t.Gate)
        {
            t.Retained[topic] = copy;
        }

        Route(t, new Publication
        {
            Tenant = t.Id,
            Topic = topic,
            Payload = message.Payload,
            ContentType = message.ContentType,
            Retain = true,
            Timestamp = now,
        });
    }

    /// <summary>Puts retained messages read from the store back (at start-up, before any connection).</summary>
    internal void Restore(RetainedMessage m)
    {
        var t = _engine.Tenant(m.Tenant);
        lock (t.Gate)
        {
            if (t.Retained.TryGetValue(m.Topic, out var old))
            {
                t.RetainedBytes -= Size(old);
            }

            t.Retained[m.Topic] = RetainedCopy(m);
            t.RetainedBytes += m.Size;
        }
    }

    /// <summary>
    /// Hands a publication to everything subscribed: each subscriber once, with all its matching subscriptions; each
    /// shared group once, to the next member in turn that has room. Reads the route cache without locking.
    /// </summary>
    internal int Route(TenantState t, Publication publication) => Route(t, publication, out _);

    /// <summary>
    /// Routes as above; <paramref name="durable"/> completes once the publication is in the queue of every persistent
    /// session it reached at QoS 1 or 2 and of every named queue bound to a filter it matched (at once when none):
    /// acknowledge a publish only after it.
    /// </summary>
    internal int Route(TenantState t, Publication publication, out Task durable)
    {
        int queued;
        try
        {
            queued = Offer(t, publication);
        }
        catch
        {
            DurableRoute.Clear(); // what this route collected must not reach the next one on this thread
            throw;
        }

        var sessions = DurableRoute.TakeSessions();
        var queues = DurableRoute.TakeQueues();
        var toSessions = sessions is null ? Task.CompletedTask : _engine.Sessions.Enqueue(t, publication, sessions);
        var toQueues = queues is null ? Task.CompletedTask : _engine.Queues.Enqueue(t, publication, queues);
        durable = toQueues.IsCompletedSuccessfully ? toSessions
            : toSessions.IsCompletedSuccessfully ? toQueues
            : Task.WhenAll(toSessions, toQueues);
        return queued;
    }

    private int Offer(TenantState t, Publication publication)
    {
        var match = t.Topics.Match(publication.Topic);
        var queued = 0;
        if (match.OnePerSubscriber is { } single && !match.HasNoLocal)
        {
            // The usual shape: one matching subscription per subscriber.
            var owners = match.Owners;
            for (var i = 0; i < owners.Length; i++)
            {
                queued += Offer(owners[i], publication, new ReadOnlySpan<Subscription>(in single[i]));
            }
        }
        else
        {
            for (var i = 0; i < match.SubscriberCount; i++)
            {
                var subscriber = match.Subscriber(i);
                var matched = match.Subscriptions(i);
                queued += match.HasNoLocal && publication.Author == subscriber.Client
                    ? OfferLocal(subscriber, publication, matched)
                    : Offer(subscriber, publication, matched);
            }
        }

        foreach (var group in match.Groups)
        {
            queued += OfferShared(group, publication);
        }

        _metrics.Publication();
        if (queued > 0)
        {
            Interlocked.Add(ref t.Sent, queued);
        }

        return queued;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Offer(ISubscriber subscriber, Publication publication, ReadOnlySpan<Subscription> matched)
    {
        if (subscriber.TryPublish(publication, matched))
        {
            return 1;
        }

        // Publications are at-most-once: a full outbox drops this one and counts it (the slow-consumer policy for QoS 0);
        // letters, which are durable, are bounded by the in-flight window instead.
        _metrics.PublicationDropped();
        return 0;
    }

    /// <summary>The publisher's own client is a subscriber: its no-local subscriptions do not count (MQTT-3.8.3-3).</summary>
    private int OfferLocal(ISubscriber subscriber, Publication publication, ReadOnlySpan<Subscription> matched)
    {
        var kept = 0;
        foreach (var s in matched)
        {
            kept += s.Options.NoLocal ? 0 : 1;
        }

        if (kept == matched.Length || kept == 0)
        {
            return kept == 0 ? 0 : Offer(subscriber, publication, matched);
        }

        var rented = ArrayPool<Subscription>.Shared.Rent(kept);
        try
        {
            var n = 0;
            foreach (var s in matched)
            {
                if (!s.Options.NoLocal)
                {
                    rented[n++] = s;
                }
            }

            return Offer(subscriber, publication, rented.AsSpan(0, n));
        }
        finally
        {
            ArrayPool<Subscription>.Shared.Return(rented, clearArray: true);
        }
    }

    /// <summary>One member of the group gets it: the next in turn, or the one after it when that one's outbox is full.</summary>
    private int OfferShared(SharedGroup group, Publication publication)
    {
        var members = group.Members;
        if (members.Length == 0)
        {
            return 0;
        }

        var start = group.NextStart(members.Length);
        for (var k = 0; k < members.Length; k++)
        {
            var i = (start + k) % members.Length;
            if (members[i].Owner.TryPublish(publication, members.AsSpan(i, 1)))
            {
                return 1;
            }
        }

        _metrics.PublicationDropped();
        return 0;
    }
}
