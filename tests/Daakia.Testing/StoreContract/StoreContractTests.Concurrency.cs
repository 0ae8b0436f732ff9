using System.Collections.Concurrent;
using Daakia.Core;
using Daakia.Core.Storage;
using Xunit;

namespace Daakia.Testing.StoreContract;

/// <summary>
/// The contract under concurrency: appends, acks (deletes), returns, reads and expiry sweeps racing from several threads.
/// Every call is stamped with a process-wide tick taken just before it is called, just after it returns (its place in
/// the store's order is fixed by then) and just after it completes; the history is checked afterwards.
/// </summary>
public abstract partial class StoreContractTests
{
    private long _tick;

    private long Tick() => Interlocked.Increment(ref _tick);

    private sealed record AppendCall(Letter Letter, ClientId[] Recipients, long Returned);

    /// <summary>An ack (the ids it named) or a sweep (the entries it returned).</summary>
    private sealed record RemovalCall(bool IsSweep, (ClientId Recipient, Guid Id)[] Entries, int Removed, long Called, long Returned, long Done);

    private sealed record ReadCall(ClientId Recipient, long After, int Limit, IReadOnlyList<QueueEntry> Letters, long Called, long Done);

    /// <summary>A return of one entry with a delivery count, and when the call returned.</summary>
    private sealed record ReturnCall(ClientId Recipient, Guid Id, int Deliveries, long Returned);

    [Fact]
    public async Task Concurrent_AppendsAcksReturnsReadsAndSweeps_KeepTheOrderContract_AndRemoveEachLetterExactlyOnce()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        ClientId[] inboxes = [Bob, Carol];
        var appends = new ConcurrentQueue<AppendCall>();
        var removals = new ConcurrentQueue<RemovalCall>();
        var reads = new ConcurrentQueue<ReadCall>();
        var returns = new ConcurrentQueue<ReturnCall>();
        var positions = new ConcurrentDictionary<(ClientId, Guid), long>();
        using var stop = new CancellationTokenSource();

        async Task<IReadOnlyList<QueueEntry>> Read(ClientId who, long after, int limit)
        {
            var called = Tick();
            var letters = await Store.ReadInboxAsync(T1, who, after, limit);
            reads.Enqueue(new ReadCall(who, after, limit, letters, called, Tick()));
            Assert.True(letters.Count <= limit);
            Assert.All(letters, l => Assert.True(l.Position > after));
            return letters;
        }

        async Task Appender(int worker)
        {
            for (var i = 0; i < 120; i++)
            {
                ClientId[] to = i % 5 == 0 ? [Bob, Carol] : [(worker + i) % 2 == 0 ? Bob : Carol];
                DateTimeOffset? expires = (i % 3) switch { 0 => now.AddSeconds(-1), 1 => now.AddHours(1), _ => null };
                var letter = NewLetter(T1, Alice, to, $"\"{worker}/{i}\"", expires);
                var append = Store.AppendLetterAsync(letter, to);
                appends.Enqueue(new AppendCall(letter, to, Tick()));
                var given = await append;
                for (var k = 0; k < to.Length; k++)
                {
                    Assert.True(positions.TryAdd((to[k], letter.Id), given[k]));
                }

                if (i % 4 == 0)
                {
                    await Task.Yield(); // a store that completes at once must still leave the others time to race
                }
            }
        }

        async Task Acker(ClientId who, int worker)
        {
            while (!stop.IsCancellationRequested)
            {
                var page = await Read(who, 0, 12);
                Guid[] ids = [.. page.Where((_, k) => k % 3 != worker % 3).Select(l => l.Id)];
                if (ids.Length == 0)
                {
                    await Task.Yield(); // nothing to ack yet: let the appenders run
                    continue;
                }

                var called = Tick();
                var delete = Store.DeleteLettersAsync(T1, who, ids);
                var returned = Tick();
                var removed = await delete;
                removals.Enqueue(new RemovalCall(false, [.. ids.Select(id => (who, id))], removed, called, returned, Tick()));
                await Task.Yield(); // a store that completes at once must not let one loop hold a thread
            }
        }

        async Task Sweeper()
        {
            while (!stop.IsCancellationRequested)
            {
                var called = Tick();
                var sweep = Store.RemoveExpiredAsync(now, 7);
                var returned = Tick();
                var expired = await sweep;
                Assert.All(expired, e => Assert.Equal(QueueKind.Inbox, e.Queue.Kind));
                removals.Enqueue(new RemovalCall(true, [.. expired.Select(e => (ClientId.Parse(e.Queue.Name), e.Message.Id))], expired.Count, called, returned, Tick()));
                await Task.Yield(); // let the others run, also when this sweep found work
            }
        }

        async Task Reader(ClientId who)
        {
            // Bounded: every read is recorded and checked below, whole inboxes included.
            for (var n = 0; n < 400 && !stop.IsCancellationRequested; n++)
            {
                var all = await Read(who, 0, 100_000);
                if (all.Count > 2)
                {
                    await Read(who, all[all.Count / 2].Position, 5);
                }

                await Task.Yield(); // read again at once, racing the writers
            }
        }

        async Task Returner(ClientId who)
        {
            var deliveries = 0;
            while (!stop.IsCancellationRequested)
            {
                var page = await Read(who, 0, 6);
                if (page.Count == 0)
                {
                    await Task.Yield();
                    continue;
                }

                // Counts that rise and fall back: a store keeps the largest.
                var count = (++deliveries % 7) + 1;
                var entry = page[deliveries % page.Count];
                var call = Store.ReturnAsync(QueueKey.Inbox(T1, who), [new ReturnedEntry(entry.Id, count)]);
                var returned = Tick();
                if (await call == 1)
                {
                    returns.Enqueue(new ReturnCall(who, entry.Id, count, returned));
                }

                await Task.Yield();
            }
        }

        var consumers = new List<Task>
        {
            Task.Run(() => Acker(Bob, 0)),
            Task.Run(() => Acker(Bob, 1)),
            Task.Run(() => Acker(Carol, 2)),
            Task.Run(Sweeper),
            Task.Run(Sweeper),
            Task.Run(() => Reader(Bob)),
            Task.Run(() => Reader(Carol)),
            Task.Run(() => Returner(Bob)),
            Task.Run(() => Returner(Carol)),
        };
        var producers = Enumerable.Range(0, 4).Select(w => Task.Run(() => Appender(w))).ToList();
        await Task.WhenAll(producers);
        await stop.CancelAsync();
        await Task.WhenAll(consumers);

        // Sweep what is left, then take the final state.
        IReadOnlyList<ExpiredEntry> rest;
        do
        {
            var called = Tick();
            var sweep = Store.RemoveExpiredAsync(now, 50);
            var returned = Tick();
            rest = await sweep;
            removals.Enqueue(new RemovalCall(true, [.. rest.Select(e => (ClientId.Parse(e.Queue.Name), e.Message.Id))], rest.Count, called, returned, Tick()));
        }
        while (rest.Count > 0);

        var final = new Dictionary<ClientId, IReadOnlyList<QueueEntry>>();
        foreach (var who in inboxes)
        {
            final[who] = await Read(who, 0, 100_000);
        }

        // Positions: each inbox gave out 1..n, one per append, gap-free.
        foreach (var who in inboxes)
        {
            var given = positions.Where(p => p.Key.Item1 == who).Select(p => p.Value).Order().ToList();
            Assert.Equal(Enumerable.Range(1, given.Count).Select(i => (long)i), given);
        }

        // Every read: in position order, each letter once at the position its append returned, only letters sent to
        // that inbox.
        var letters = appends.ToDictionary(a => a.Letter.Id);
        foreach (var r in reads)
        {
            for (var i = 1; i < r.Letters.Count; i++)
            {
                Assert.True(r.Letters[i - 1].Position < r.Letters[i].Position, "a read is in strictly increasing position order");
            }

            Assert.All(r.Letters, l => Assert.Contains(r.Recipient, letters[l.Id].Recipients));
            Assert.All(r.Letters, l => Assert.Equal(positions[(r.Recipient, l.Id)], l.Position));
        }

        // Returns: a read called after a return returned shows at least its count (counts never go back).
        var returnsOf = returns.ToLookup(x => (x.Recipient, x.Id));
        foreach (var r in reads)
        {
            foreach (var l in r.Letters)
            {
                foreach (var x in returnsOf[(r.Recipient, l.Id)])
                {
                    Assert.False(x.Returned < r.Called && l.Deliveries < x.Deliveries,
                        $"a read of {r.Recipient} saw {l.Deliveries} deliveries of {l.Id} after a return of {x.Deliveries}");
                }
            }
        }

        // The order contract, per entry: when the first ack or sweep that named or removed it was called, and returned.
        var firstRemovalCalled = new Dictionary<(ClientId, Guid), long>();
        var firstRemovalReturned = new Dictionary<(ClientId, Guid), long>();
        foreach (var x in removals)
        {
            foreach (var entry in x.Entries)
            {
                firstRemovalCalled[entry] = Math.Min(firstRemovalCalled.GetValueOrDefault(entry, long.MaxValue), x.Called);
                firstRemovalReturned[entry] = Math.Min(firstRemovalReturned.GetValueOrDefault(entry, long.MaxValue), x.Returned);
            }
        }

        foreach (var r in reads)
        {
            var seen = r.Letters.Select(l => l.Id).ToHashSet();

            // Nothing acknowledged or expired by a call that returned before the read was called comes back.
            foreach (var id in seen)
            {
                Assert.False(firstRemovalReturned.GetValueOrDefault((r.Recipient, id), long.MaxValue) < r.Called,
                    $"letter {id} was removed from {r.Recipient} before a read that still returned it");
            }

            // A read sees every append whose call returned before the read was called, unless an ack or sweep of it was
            // called before the read completed. (Not checked: that a read sees no write called after it. The contract
            // promises it, but the SQLite store's reads may also see later writes that committed meanwhile.)
            if (r.After != 0 || r.Letters.Count == r.Limit)
            {
                continue; // not the whole inbox
            }

            foreach (var a in appends)
            {
                if (a.Returned < r.Called && a.Recipients.Contains(r.Recipient) && !seen.Contains(a.Letter.Id))
                {
                    Assert.True(firstRemovalCalled.GetValueOrDefault((r.Recipient, a.Letter.Id), long.MaxValue) < r.Done,
                        $"a read of {r.Recipient} missed letter {a.Letter.Id}, appended before it and never removed");
                }
            }
        }

        // Exactly once: each entry ends acknowledged, expired or still there, and nothing expires twice or unexpired.
        var sweeps = removals.Where(x => x.IsSweep).SelectMany(x => x.Entries).ToList();
        Assert.Equal(sweeps.Count, sweeps.Distinct().Count());
        Assert.All(sweeps, e => Assert.True(letters[e.Id].Letter.IsExpired(now), "only expired letters are swept"));
        foreach (var who in inboxes)
        {
            var appended = appends.Where(a => a.Recipients.Contains(who)).Select(a => a.Letter.Id).ToHashSet();
            var expired = sweeps.Where(e => e.Recipient == who).Select(e => e.Id).ToHashSet();
            var remaining = final[who].Select(l => l.Id).ToHashSet();
            var acks = removals.Where(x => !x.IsSweep && x.Entries.Length > 0 && x.Entries[0].Recipient == who).ToList();
            var acked = acks.Sum(x => x.Removed);
            var named = acks.SelectMany(x => x.Entries).Select(e => e.Id).ToHashSet();

            Assert.Empty(expired.Intersect(remaining));
            Assert.Equal(appended.Count, acked + expired.Count + remaining.Count);
            Assert.Subset(named, appended.Except(expired).Except(remaining).ToHashSet());
            Assert.All(final[who], l => Assert.False(l.Message.IsExpired(now), "the last sweeps left nothing expired"));
        }

        // Each expiry recorded once in the activity log, in increasing id order.
        var log = await Store.ReadActivityAsync(T1, 0, 100_000);
        for (var i = 1; i < log.Count; i++)
        {
            Assert.True(log[i - 1].Id < log[i].Id);
        }

        Assert.Equal(
            sweeps.Select(e => (e.Recipient.Value, e.Id.ToString())).Order(),
            log.Where(e => e.Kind == ActivityKinds.Expired).Select(e => (e.Subject!, e.Detail!)).Order());
    }

    [Fact]
    public async Task Concurrent_AcksAndSweepsOfTheSameExpiredLetters_RemoveEachExactlyOnce()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var letters = Enumerable.Range(0, 200).Select(_ => NewLetter(T1, Alice, [Bob], expires: now.AddSeconds(-1))).ToList();
        await Task.WhenAll(letters.Select(l => Store.AppendLetterAsync(l, [Bob]).AsTask()));

        var swept = new ConcurrentQueue<Guid>();
        var acked = 0;
        async Task Sweeper()
        {
            IReadOnlyList<ExpiredEntry> batch;
            do
            {
                batch = await Store.RemoveExpiredAsync(now, 16);
                foreach (var e in batch)
                {
                    swept.Enqueue(e.Message.Id);
                }
            }
            while (batch.Count > 0);
        }

        async Task Acker(int seed)
        {
            var order = letters.Select(l => l.Id).ToArray();
            new Random(seed).Shuffle(order);
            foreach (var chunk in order.Chunk(10))
            {
                Interlocked.Add(ref acked, await Store.DeleteLettersAsync(T1, Bob, chunk));
            }
        }

        await Task.WhenAll(
            Task.Run(Sweeper), Task.Run(Sweeper), Task.Run(Sweeper),
            Task.Run(() => Acker(1)), Task.Run(() => Acker(2)), Task.Run(() => Acker(3)));

        Assert.Equal(swept.Count, swept.Distinct().Count());
        Assert.Equal(letters.Count, acked + swept.Count);
        Assert.Equal(0, await Store.CountInboxAsync(T1, Bob));
        var recorded = (await Store.ReadActivityAsync(T1, 0, 100_000)).Where(e => e.Kind == ActivityKinds.Expired).Select(e => e.Detail!).ToList();
        Assert.Equal(swept.Select(id => id.ToString()).Order(), recorded.Order());
    }
}
