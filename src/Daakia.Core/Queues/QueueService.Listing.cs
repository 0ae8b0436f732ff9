namespace Daakia.Core;

/// <summary>
/// Listing a queue's messages by marker (Zaqar's <c>GET …/messages</c>), at once or, beyond Zaqar, waiting for messages
/// to list (long-poll, the same wait as a claim's: QueueService.Waiting.cs).
/// </summary>
public sealed partial class QueueService
{
    /// <summary>
    /// A listing that waits (long-poll, beyond Zaqar): when the page would be empty, waits up to <paramref name="wait"/>
    /// (at most <see cref="DaakiaCoreOptions.MaxQueueWait"/>) and answers as soon as a look finds something to list, or
    /// finds the request's budget spent (<see cref="QueueMessagePage.More"/>: the caller follows the marker). A post of
    /// <paramref name="client"/>'s own, which an <paramref name="echo"/>-less listing does not show, wakes it only to
    /// look and wait on. An empty page once the wait is over, or once <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public Task<QueueMessagePage> ListAsync(TenantId tenant, string name, ClientId client, long? marker, int limit, bool echo, bool includeClaimed, bool includeDelayed,
        TimeSpan wait, CancellationToken cancellationToken = default)
    {
        RequireLimit(limit, _options.MaxQueueMessagesPerPage);
        return WaitForAsync(tenant, name, wait,
            () => ListAsync(tenant, name, client, marker, limit, echo, includeClaimed, includeDelayed),
            static page => page.Messages.Count > 0 || page.More,
            cancellationToken);
    }

    /// <summary>
    /// Lists a queue's messages after <paramref name="marker"/> (a position; null: from the start), oldest first, at most
    /// <paramref name="limit"/>: never expired ones; claimed ones (under a live claim) only with
    /// <paramref name="includeClaimed"/>; delayed ones only with <paramref name="includeDelayed"/>; those
    /// <paramref name="client"/> posted only with <paramref name="echo"/>.
    /// </summary>
    public async Task<QueueMessagePage> ListAsync(TenantId tenant, string name, ClientId client, long? marker, int limit, bool echo, bool includeClaimed, bool includeDelayed)
    {
        RequireLimit(limit, _options.MaxQueueMessagesPerPage);
        var t = Of(tenant);
        var key = Key(tenant, name);
        var result = new List<QueueMessage>(limit);
        var after = marker ?? 0;
        long? last = null;
        var more = false;
        // Bounded work per request: at most a few pages of the store are looked at, the marker says where it stopped.
        for (var pages = 0; result.Count < limit; pages++)
        {
            if (pages == 16)
            {
                more = true; // the budget of this request is spent, not the queue: the marker goes on from here
                break;
            }

            var page = await _store.ReadAsync(key, after, Math.Max(16, (limit - result.Count) * 2), _options.MaxReadPageBytes);
            if (page.Count == 0)
            {
                break;
            }

            var now = _time.GetUtcNow();
            lock (t.Gate)
            {
                t.NamedQueues.TryGetValue(name, out var q);
                foreach (var e in page)
                {
                    after = e.Position;
                    if (result.Count == limit)
                    {
                        break;
                    }

                    last = e.Position;
                    if (e.Message.IsExpired(now) || (!echo && e.Message.Author == client))
                    {
                        continue;
                    }

                    var claim = q?.LiveClaimOf(e.Id, now);
                    if (claim is not null ? !includeClaimed : (!includeDelayed && e.VisibleAt > now))
                    {
                        continue;
                    }

                    result.Add(MessageOf(e, claim));
                }
            }
        }

        return new QueueMessagePage(result, last) { More = more || result.Count == limit };
    }
}
