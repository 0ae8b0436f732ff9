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

    public ValueTask AppendLetterAsync(Letter letter, IReadOnlyList<ClientId> recipients, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
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

    public ValueTask<IReadOnlyList<Letter>> ReadInboxAsync(TenantId tenant, ClientId recipient, long afterSequence, int limit, CancellationToken cancellationToken = default)
    {
        var result = new List<Letter>();
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

                    if (result.Count >= limit)
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
                    _activity.Add(new ActivityEntry(_activity.Count + 1, letter.Tenant, now, ActivityKinds.Expired, letter.Author, recipient.Value, letter.Id.ToString()));
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
                _activity.Add(e with { Id = _activity.Count + 1 });
            }
        }

        return ValueTask.CompletedTask;
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
