namespace Daakia.Core.Storage;

/// <summary>
/// A store that keeps everything in memory: for tests of the core and for throwaway runs. Not durable.
/// One lock orders every call, which gives the contract's order for free.
/// </summary>
public sealed class InMemoryStore : IDaakiaStore, IStoreHealth
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(TenantId, ClientId), SortedDictionary<long, Letter>> _inboxes = [];
    private readonly Dictionary<(TenantId, ClientId), RosterEntry> _roster = [];
    private readonly List<ActivityEntry> _activity = [];
    private long _activityIds;
    private long _maxSequence;

    /// <summary>Always true: nothing in memory can fault the way a disk or a writer thread can.</summary>
    public bool IsHealthy => true;

    public string? Fault => null;

    public ValueTask OpenAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public ValueTask<long> GetMaxSequenceAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_maxSequence);
        }
    }

    public ValueTask AppendLetterAsync(Letter letter, IReadOnlyList<ClientId> recipients, InboxQuota? quota = null, CancellationToken cancellationToken = default)
    {
        quota ??= InboxQuota.None;
        lock (_gate)
        {
            var size = InboxQuota.StoredSize(letter);
            var tenant = Usage(letter.Tenant, null);
            if (tenant.Bytes + letter.Payload.Length + ((long)InboxQuota.EntryOverhead * recipients.Count) > quota.MaxTenantBytes)
            {
                return ValueTask.FromException(QuotaStore.TenantFull(letter.Tenant, tenant, quota));
            }

            foreach (var r in recipients)
            {
                var inbox = Usage(letter.Tenant, r);
                if (inbox.Letters + 1 > quota.MaxLetters || inbox.Bytes + size > quota.MaxBytes)
                {
                    return ValueTask.FromException(QuotaStore.InboxFull(r, inbox, quota));
                }
            }

            foreach (var r in recipients)
            {
                if (!_inboxes.TryGetValue((letter.Tenant, r), out var inbox))
                {
                    _inboxes[(letter.Tenant, r)] = inbox = [];
                }

                inbox[letter.Sequence] = letter;
            }

            _maxSequence = Math.Max(_maxSequence, letter.Sequence);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<InboxUsage> GetInboxUsageAsync(TenantId tenant, ClientId recipient, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(Usage(tenant, recipient));
        }
    }

    public ValueTask<InboxUsage> GetTenantUsageAsync(TenantId tenant, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(Usage(tenant, null));
        }
    }

    /// <summary>Usage of one inbox, or of the whole tenant when <paramref name="recipient"/> is null (caller holds the lock).</summary>
    private InboxUsage Usage(TenantId tenant, ClientId? recipient)
    {
        // An inbox counts each entry's payload; a tenant counts a payload once however many of its inboxes hold it.
        long letters = 0, bytes = 0;
        var payloads = recipient is null ? new HashSet<Guid>() : null;
        foreach (var ((t, r), inbox) in _inboxes)
        {
            if (t != tenant || (recipient is { } only && r != only))
            {
                continue;
            }

            letters += inbox.Count;
            foreach (var l in inbox.Values)
            {
                bytes += InboxQuota.EntryOverhead + (payloads is null || payloads.Add(l.Id) ? l.Payload.Length : 0);
            }
        }

        return new InboxUsage(letters, bytes);
    }

    public ValueTask<IReadOnlyList<Letter>> ReadInboxAsync(TenantId tenant, ClientId recipient, long afterSequence, int limit, long maxBytes = long.MaxValue, CancellationToken cancellationToken = default)
    {
        var result = new List<Letter>();
        long bytes = 0;
        lock (_gate)
        {
            if (_inboxes.TryGetValue((tenant, recipient), out var inbox))
            {
                foreach (var (seq, letter) in inbox)
                {
                    if (seq <= afterSequence)
                    {
                        continue;
                    }

                    bytes += letter.Payload.Length;
                    if (result.Count >= limit || (result.Count > 0 && bytes > maxBytes))
                    {
                        break;
                    }

                    result.Add(letter);
                }
            }
        }

        return ValueTask.FromResult<IReadOnlyList<Letter>>(result);
    }

    public ValueTask<long> CountInboxAsync(TenantId tenant, ClientId recipient, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_inboxes.TryGetValue((tenant, recipient), out var inbox) ? (long)inbox.Count : 0L);
        }
    }

    public ValueTask<int> DeleteLettersAsync(TenantId tenant, ClientId recipient, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default)
    {
        var removed = 0;
        lock (_gate)
        {
            if (_inboxes.TryGetValue((tenant, recipient), out var inbox))
            {
                foreach (var id in messageIds)
                {
                    long? key = null;
                    foreach (var (seq, letter) in inbox)
                    {
                        if (letter.Id == id)
                        {
                            key = seq;
                            break;
                        }
                    }

                    if (key is { } k && inbox.Remove(k))
                    {
                        removed++;
                    }
                }
            }
        }

        return ValueTask.FromResult(removed);
    }

    public ValueTask<IReadOnlyList<ExpiredLetter>> RemoveExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default)
    {
        var result = new List<ExpiredLetter>();
        lock (_gate)
        {
            foreach (var ((_, recipient), inbox) in _inboxes)
            {
                var expired = new List<long>();
                foreach (var (seq, letter) in inbox)
                {
                    if (result.Count + expired.Count >= limit)
                    {
                        break;
                    }

                    if (letter.IsExpired(now))
                    {
                        expired.Add(seq);
                    }
                }

                foreach (var seq in expired)
                {
                    var letter = inbox[seq];
                    result.Add(new ExpiredLetter(recipient, letter));
                    inbox.Remove(seq);
                    // Recorded under the same lock as the removal: no reader sees one without the other.
                    _activity.Add(new ActivityEntry(++_activityIds, letter.Tenant, now, ActivityKinds.Expired, letter.Author, recipient.Value, letter.Id.ToString()));
                }
            }
        }

        return ValueTask.FromResult<IReadOnlyList<ExpiredLetter>>(result);
    }

    public ValueTask RecordSeenAsync(TenantId tenant, ClientId client, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _roster[(tenant, client)] = _roster.TryGetValue((tenant, client), out var e)
                ? e with { LastSeen = at > e.LastSeen ? at : e.LastSeen }
                : new RosterEntry(client, at, at);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<RosterEntry>> ListClientsAsync(TenantId tenant, ClientId? after, int limit, CancellationToken cancellationToken = default)
    {
        List<RosterEntry> result;
        lock (_gate)
        {
            result = [.. _roster
                .Where(kv => kv.Key.Item1 == tenant && (after is null || string.CompareOrdinal(kv.Key.Item2.Value, after.Value.Value) > 0))
                .Select(kv => kv.Value)
                .OrderBy(e => e.Client.Value, StringComparer.Ordinal)
                .Take(limit)];
        }

        return ValueTask.FromResult<IReadOnlyList<RosterEntry>>(result);
    }

    public ValueTask<RosterEntry?> GetClientAsync(TenantId tenant, ClientId client, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_roster.TryGetValue((tenant, client), out var e) ? e : null);
        }
    }

    public ValueTask AppendActivityAsync(IReadOnlyList<ActivityEntry> entries, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            foreach (var e in entries)
            {
                _activity.Add(e with { Id = ++_activityIds });
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<int> PruneActivityAsync(DateTimeOffset olderThan, long keepEntries, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var removed = 0;
            var floor = _activityIds - keepEntries;
            for (var i = 0; i < Math.Min(limit, _activity.Count); i++)
            {
                if (_activity[i].At <= olderThan || _activity[i].Id <= floor)
                {
                    removed++;
                }
            }

            // The log is in id order, so the oldest `limit` candidates are a prefix; keep the ones that stay.
            var keep = _activity.Take(Math.Min(limit, _activity.Count)).Where(e => e.At > olderThan && e.Id > floor).ToList();
            _activity.RemoveRange(0, Math.Min(limit, _activity.Count));
            _activity.InsertRange(0, keep);
            return ValueTask.FromResult(removed);
        }
    }

    public ValueTask<IReadOnlyList<ActivityEntry>> ReadActivityAsync(TenantId tenant, long afterId, int limit, CancellationToken cancellationToken = default)
    {
        List<ActivityEntry> result;
        lock (_gate)
        {
            result = [.. _activity.Where(e => e.Tenant == tenant && e.Id > afterId).Take(limit)];
        }

        return ValueTask.FromResult<IReadOnlyList<ActivityEntry>>(result);
    }
}
