using System.Text;
using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Testing;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite.Tests;

/// <summary>
/// What a failing write does to the rest of its batch. Disk full is real here: <c>PRAGMA max_page_count</c> on the
/// writer connection caps the database a few pages above its size, so SQLite answers SQLITE_FULL.
/// </summary>
public sealed class BatchFailureTests : IAsyncLifetime
{
    private static readonly TenantId Tenant = TenantId.Parse("t1");
    private static readonly ClientId Alice = ClientId.Parse("alice");
    private static readonly ClientId Bob = ClientId.Parse("bob");
    private static readonly ClientId Carol = ClientId.Parse("carol");

    private readonly string _dir = Unique.TempDirectory();
    private SqliteStore _store = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir });
        await _store.OpenAsync();
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task ReopenAsync(Action<SqliteConnection>? configureWriter = null)
    {
        await _store.DisposeAsync();
        _store = new SqliteStore(new SqliteStoreOptions { DataDirectory = _dir }) { ConfigureWriterForTest = configureWriter };
        await _store.OpenAsync();
    }

    private Letter NewLetter(ClientId[] recipients, int payloadBytes = 8, ClientId? author = null, DateTimeOffset? expires = null) => new()
    {
        Id = Guid.CreateVersion7(),
        Tenant = Tenant,
        Author = author ?? Alice,
        Recipients = recipients,
        Payload = Encoding.UTF8.GetBytes("\"" + new string('x', payloadBytes) + "\""),
        Timestamp = DateTimeOffset.UtcNow,
        ExpiresAt = expires,
    };

    /// <summary>Caps the database <paramref name="extraPages"/> pages above its current size.</summary>
    private static void CapDatabase(SqliteConnection connection, int extraPages)
    {
        using var count = connection.CreateCommand();
        count.CommandText = "PRAGMA page_count";
        var pages = Convert.ToInt64(count.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        using var cap = connection.CreateCommand();
        cap.CommandText = $"PRAGMA max_page_count={pages + extraPages}";
        cap.ExecuteNonQuery();
    }

    private sealed record Outcome(string Kind, Task Task, Letter? Letter = null, Guid[]? Deleted = null, string? Detail = null)
    {
        public bool Succeeded => Task.IsCompletedSuccessfully;
    }

    [Fact]
    public async Task DiskFull_EveryWriteReportedDoneIsDurable_AndEveryWriteReportedFailedIsNot()
    {
        // Letters for the deletes to remove, committed while there is room.
        var seeds = new List<Letter>();
        for (var i = 0; i < 300; i++)
        {
            var l = NewLetter([Bob]);
            seeds.Add(l);
            await _store.AppendLetterAsync(l, l.Recipients);
        }

        await ReopenAsync(c => CapDatabase(c, extraPages: 6));

        // Hold the writer so that everything below is queued and taken as one batch (one transaction).
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var held = 0;
        _store.BeforeBatchForTest = _ =>
        {
            if (Interlocked.Exchange(ref held, 1) == 0)
            {
                entered.Set();
                release.Wait(TimeSpan.FromSeconds(30));
            }
        };
        var flush = _store.FlushAsync().AsTask();
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)));

        var outcomes = new List<Outcome>();
        var nextSeed = 0;
        void Queue(int i)
        {
            switch (i % 6)
            {
                case 0:
                    {
                        var big = NewLetter([Bob], payloadBytes: 3000);
                        outcomes.Add(new Outcome("big append", _store.AppendLetterAsync(big, big.Recipients).AsTask(), Letter: big));
                        break;
                    }

                case 1:
                    {
                        var small = NewLetter([Carol]);
                        outcomes.Add(new Outcome("small append", _store.AppendLetterAsync(small, small.Recipients).AsTask(), Letter: small));
                        break;
                    }

                case 2:
                    {
                        var multicast = NewLetter([Bob, Carol], payloadBytes: 1500);
                        outcomes.Add(new Outcome("multicast", _store.AppendLetterAsync(multicast, multicast.Recipients).AsTask(), Letter: multicast));
                        break;
                    }

                case 3:
                    {
                        Guid[] one = [seeds[nextSeed++].Id];
                        outcomes.Add(new Outcome("delete", _store.DeleteLettersAsync(Tenant, Bob, one).AsTask(), Deleted: one));
                        break;
                    }

                case 4:
                    {
                        Guid[] three = [seeds[nextSeed++].Id, seeds[nextSeed++].Id, seeds[nextSeed++].Id];
                        outcomes.Add(new Outcome("delete many", _store.DeleteLettersAsync(Tenant, Bob, three).AsTask(), Deleted: three));
                        break;
                    }

                default:
                    {
                        var detail = "a" + i;
                        var entry = new ActivityEntry(0, Tenant, DateTimeOffset.UtcNow, ActivityKinds.Connect, Alice, "s", detail);
                        outcomes.Add(new Outcome("activity", _store.AppendActivityAsync([entry]).AsTask(), Detail: detail));
                        break;
                    }
            }
        }

        for (var i = 0; i < 60; i++)
        {
            Queue(i);
        }

        release.Set();
        await flush;
        await Task.WhenAll(outcomes.Select(o => o.Task.ContinueWith(_ => { }, TaskScheduler.Default)));

        // Then the same mix again, queued without waiting (batches of whatever size the writer takes), and one by one.
        for (var i = 60; i < 180; i++)
        {
            Queue(i);
        }

        await Task.WhenAll(outcomes.Select(o => o.Task.ContinueWith(_ => { }, TaskScheduler.Default)));
        for (var i = 180; i < 240; i++)
        {
            Queue(i);
            await outcomes[^1].Task.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        Assert.Contains(outcomes, o => o.Succeeded);
        Assert.Contains(outcomes, o => !o.Succeeded);
        Assert.Contains(outcomes, o => o.Task.Exception?.InnerException is DaakiaException { Code: DaakiaErrorCode.Unavailable } e
            && e.Message.Contains("full", StringComparison.OrdinalIgnoreCase));

        await ReopenAsync();
        var bob = (await _store.ReadInboxAsync(Tenant, Bob, 0, 100_000)).Select(l => l.Id).ToHashSet();
        var carol = (await _store.ReadInboxAsync(Tenant, Carol, 0, 100_000)).Select(l => l.Id).ToHashSet();
        var activity = (await _store.ReadActivityAsync(Tenant, 0, 100_000)).Select(e => e.Detail).ToHashSet();
        var wrong = new List<string>();
        foreach (var (o, index) in outcomes.Select((o, index) => (o, index)))
        {
            bool durable;
            if (o.Letter is { } letter)
            {
                var present = letter.Recipients.Select(r => (r == Bob ? bob : carol).Contains(letter.Id)).ToList();
                if (present.Distinct().Count() > 1)
                {
                    wrong.Add($"#{index} {o.Kind}: in some inboxes only");
                    continue;
                }

                durable = present[0];
            }
            else if (o.Deleted is { } ids)
            {
                var gone = ids.Select(id => !bob.Contains(id)).ToList();
                if (gone.Distinct().Count() > 1)
                {
                    wrong.Add($"#{index} {o.Kind}: partly applied");
                    continue;
                }

                durable = gone[0];
            }
            else
            {
                durable = activity.Contains(o.Detail);
            }

            if (durable != o.Succeeded)
            {
                wrong.Add($"#{index} {o.Kind}: reported {(o.Succeeded ? "done" : "failed")} but {(durable ? "durable" : "not durable")}");
            }
        }

        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    /// <summary>A per-connection trigger on the writer that fails one statement (and only it), like a constraint would.</summary>
    private static void Poison(SqliteConnection connection, string trigger)
    {
        using var command = connection.CreateCommand();
        command.CommandText = trigger;
        command.ExecuteNonQuery();
    }

    [Fact]
    public async Task AckOfManyLetters_FailingPartWay_RemovesNone_AndTheRestOfTheBatchCommits()
    {
        await ReopenAsync(c => Poison(c,
            "CREATE TEMP TRIGGER no_delete BEFORE DELETE ON main.entries WHEN (SELECT author FROM main.messages WHERE mid = old.mid) = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"));
        var first = NewLetter([Bob]);
        var poisoned = NewLetter([Bob], author: ClientId.Parse("poison"));
        var last = NewLetter([Bob]);
        foreach (var l in new[] { first, poisoned, last })
        {
            await _store.AppendLetterAsync(l, l.Recipients);
        }

        var other = NewLetter([Carol]);
        var ack = _store.DeleteLettersAsync(Tenant, Bob, [first.Id, poisoned.Id, last.Id]).AsTask();
        var append = _store.AppendLetterAsync(other, other.Recipients).AsTask();
        await Assert.ThrowsAsync<SqliteException>(() => ack);
        await append;

        await ReopenAsync();
        Assert.Equal([first.Id, poisoned.Id, last.Id], (await _store.ReadInboxAsync(Tenant, Bob, 0, 10)).Select(l => l.Id));
        Assert.Equal([other.Id], (await _store.ReadInboxAsync(Tenant, Carol, 0, 10)).Select(l => l.Id));
    }

    [Fact]
    public async Task ActivityOfManyEntries_FailingPartWay_AppendsNone()
    {
        await ReopenAsync(c => Poison(c,
            "CREATE TEMP TRIGGER no_insert BEFORE INSERT ON main.activity WHEN new.kind = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"));
        var at = DateTimeOffset.UtcNow;
        await Assert.ThrowsAsync<SqliteException>(() => _store.AppendActivityAsync([
            new ActivityEntry(0, Tenant, at, ActivityKinds.Connect, Alice, null, "1"),
            new ActivityEntry(0, Tenant, at, "poison", Alice, null, "2"),
            new ActivityEntry(0, Tenant, at, ActivityKinds.Connect, Alice, null, "3"),
        ]).AsTask());

        await ReopenAsync();
        Assert.Empty(await _store.ReadActivityAsync(Tenant, 0, 10));
    }

    [Fact]
    public async Task ExpiryWhoseActivityRecordFails_RemovesNothing()
    {
        await ReopenAsync(c => Poison(c,
            "CREATE TEMP TRIGGER no_record BEFORE INSERT ON main.activity WHEN new.kind = 'expired' AND new.subject = 'carol' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"));
        var now = DateTimeOffset.UtcNow;
        var letter = NewLetter([Bob, Carol], expires: now.AddSeconds(-1));
        await _store.AppendLetterAsync(letter, letter.Recipients);

        await Assert.ThrowsAsync<SqliteException>(() => _store.RemoveExpiredAsync(now, 100).AsTask());

        await ReopenAsync();
        Assert.Single(await _store.ReadInboxAsync(Tenant, Bob, 0, 10));
        Assert.Single(await _store.ReadInboxAsync(Tenant, Carol, 0, 10));
        Assert.Empty(await _store.ReadActivityAsync(Tenant, 0, 10));
    }
}
