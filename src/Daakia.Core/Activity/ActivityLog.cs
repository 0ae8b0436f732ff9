using Daakia.Core.Storage;

namespace Daakia.Core;

/// <summary>What to read of a tenant's activity log: entries after <see cref="AfterId"/>, at or after
/// <see cref="Since"/> and before <see cref="Until"/>, by <see cref="Actor"/>, of one of <see cref="Kinds"/> (each
/// filter optional).</summary>
public sealed record ActivityQuery(TenantId Tenant, long AfterId = 0, int Limit = 100)
{
    public DateTimeOffset? Since { get; init; }

    public DateTimeOffset? Until { get; init; }

    public ClientId? Actor { get; init; }

    public IReadOnlySet<string>? Kinds { get; init; }

    public bool Matches(ActivityEntry e) =>
        (Since is not { } since || e.At >= since) && (Until is not { } until || e.At < until) && (Actor is not { } actor || e.Actor == actor)
        && (Kinds is not { } kinds || kinds.Contains(e.Kind));
}

/// <summary>A page of a query: the matching entries, and <see cref="Next"/>, the id to read after for the following
/// page (null: nothing more now). A page may hold fewer than asked and still have a next: a query looks at a bounded
/// number of entries per page. <see cref="LastSeen"/> is the last id it looked at (matching or not).</summary>
public sealed record ActivityPage(IReadOnlyList<ActivityEntry> Entries, long? Next, long LastSeen);

/// <summary>
/// The activity log (<see cref="DaakiaEngine.Activity"/>): connects, disconnects, sends, acks, task transitions,
/// expiries, dead letters and queue administration of a tenant, in the store's order, kept for
/// <see cref="DaakiaCoreOptions.ActivityRetention"/> and at most <see cref="DaakiaCoreOptions.MaxActivityEntries"/>.
/// Task and queue entries are written in the units of work of what they record; connects, disconnects, sends and acks
/// in batches by <see cref="ActivityRecorder"/> (not atomically with what they record: a crash may lose the last
/// batch, and a full buffer drops entries).
/// </summary>
public sealed class ActivityLog
{
    /// <summary>Most entries one page of a filtered query looks at.</summary>
    public const int ScanPerPage = 10_000;

    private readonly IDaakiaStore _store;
    private readonly DaakiaCoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ActivityRecorder _recorder;
    private int _subscriptions;

    internal ActivityLog(IDaakiaStore store, DaakiaCoreOptions options, TimeProvider time, ActivityRecorder recorder)
    {
        _store = store;
        _options = options;
        _time = time;
        _recorder = recorder;
    }

    /// <summary>Entries recorded on the hot paths and dropped because the pending bound was reached.</summary>
    public long Dropped => _recorder.Dropped;

    /// <summary>Completes once the entries recorded so far (connects, disconnects, sends, acks: written in batches) are
    /// written.</summary>
    public Task FlushAsync() => _recorder.FlushAsync();

    /// <summary>The activity log of a tenant after a given entry id.</summary>
    public ValueTask<IReadOnlyList<ActivityEntry>> ReadAsync(TenantId tenant, long afterId, int limit, CancellationToken cancellationToken = default) =>
        _store.ReadActivityAsync(tenant, afterId, Math.Clamp(limit, 1, _options.MaxPageSize), cancellationToken);

    /// <summary>The id of the tenant's newest entry (0: none), to stream "from now".</summary>
    public ValueTask<long> LastIdAsync(TenantId tenant, CancellationToken cancellationToken = default) => _store.LastActivityIdAsync(tenant, cancellationToken);

    /// <summary>A page of the entries that match <paramref name="query"/>, oldest first, looking at no more than
    /// <see cref="ScanPerPage"/> entries.</summary>
    public async ValueTask<ActivityPage> QueryAsync(ActivityQuery query, CancellationToken cancellationToken = default)
    {
        var limit = Math.Clamp(query.Limit, 1, _options.MaxPageSize);
        var found = new List<ActivityEntry>(Math.Min(limit, 256));
        var after = query.AfterId;
        var scanned = 0;
        while (true)
        {
            var page = await _store.ReadActivityAsync(query.Tenant, after, _options.MaxPageSize, cancellationToken);
            foreach (var e in page)
            {
                after = e.Id;
                scanned++;
                if (query.Matches(e))
                {
                    found.Add(e);
                    if (found.Count == limit)
                    {
                        return new ActivityPage(found, after, after);
                    }
                }
            }

            if (page.Count < _options.MaxPageSize)
            {
                return new ActivityPage(found, null, after); // the end of the log, for now
            }

            if (scanned >= ScanPerPage)
            {
                return new ActivityPage(found, after, after);
            }
        }
    }

    /// <summary>
    /// Streams the entries matching <paramref name="query"/> (after its <see cref="ActivityQuery.AfterId"/>, so first
    /// what is there, then what is written) to <paramref name="offer"/>, every
    /// <see cref="DaakiaCoreOptions.ActivityStreamInterval"/>, until <paramref name="cancellationToken"/> or until
    /// <paramref name="offer"/> refuses one (a full outbox: the stream ends, <paramref name="ended"/> gets the last id
    /// delivered so the reader can resume from there). At most <see cref="DaakiaCoreOptions.MaxActivityStreams"/> at once.
    /// </summary>
    public Task StreamAsync(ActivityQuery query, Func<ActivityEntry, bool> offer, Action<long> ended, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _subscriptions) > _options.MaxActivityStreams)
        {
            Interlocked.Decrement(ref _subscriptions);
            throw new DaakiaException(DaakiaErrorCode.LimitExceeded, $"At most {_options.MaxActivityStreams} activity streams at once (Core:MaxActivityStreams).");
        }

        return RunAsync();

        async Task RunAsync()
        {
            var after = query.AfterId;
            try
            {
                await Task.Yield(); // never on the caller's thread: a catch-up may read a long log
                while (!cancellationToken.IsCancellationRequested)
                {
                    var page = await QueryAsync(query with { AfterId = after, Limit = _options.MaxPageSize }, cancellationToken);
                    foreach (var e in page.Entries)
                    {
                        if (!offer(e))
                        {
                            ended(after);
                            return;
                        }

                        after = e.Id;
                    }

                    after = page.LastSeen;
                    if (page.Next is null)
                    {
                        await Task.Delay(_options.ActivityStreamInterval, _time, cancellationToken);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                ended(after); // the store failed: the reader resumes from the last entry it got
            }
            finally
            {
                Interlocked.Decrement(ref _subscriptions);
            }
        }
    }
}
