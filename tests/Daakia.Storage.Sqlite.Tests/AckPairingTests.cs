using System.Text;
using Daakia.Core;
using Daakia.Core.Storage;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite.Tests;

/// <summary>
/// A letter appended and acknowledged within one batch is never written (AckPairing), and nothing else differs: the
/// callers' results, positions, usage and what a read or a reopened store sees are those of the same writes run one
/// by one — also when the ack or the append fails, or the id is already stored.
/// </summary>
public sealed class AckPairingTests : SqliteStoreTestBase
{
    private static readonly TenantId Tenant = TenantId.Parse("t1");
    private static readonly ClientId Alice = ClientId.Parse("alice");
    private static readonly ClientId Bob = ClientId.Parse("bob");
    private static readonly QueueKey BobInbox = QueueKey.Inbox(Tenant, Bob);

    private async Task ReopenAsync(Action<SqliteConnection>? configureWriter = null, bool pairAcks = true)
    {
        await Store.DisposeAsync();
        Store = new SqliteStore(new SqliteStoreOptions { DataDirectory = Dir, PairAcks = pairAcks }) { ConfigureWriterForTest = configureWriter };
        await Store.OpenAsync();
    }

    private static Letter NewLetter(string payload = "\"x\"", IReadOnlyList<KeyValuePair<string, string>>? headers = null, Guid? id = null, IReadOnlyList<ClientId>? recipients = null) => new()
    {
        Id = id ?? Guid.CreateVersion7(),
        Tenant = Tenant,
        Author = Alice,
        Recipients = recipients ?? [Bob],
        Payload = Encoding.UTF8.GetBytes(payload),
        Headers = headers ?? [],
        Timestamp = DateTimeOffset.UtcNow,
    };

    private long Rows(string table)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Store.DatabasePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT count(*) FROM {table}";
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>The same writes in one held batch; returns the append positions and the delete counts, in call order.</summary>
    private async Task<(long[] Positions, int Deleted)> AppendAckAppendAsync(Letter acked, Letter kept)
    {
        using var release = HoldNextBatch();
        var first = Store.AppendAsync(acked, [BobInbox]).AsTask();
        var ack = Store.DeleteAsync(BobInbox, [acked.Id]).AsTask();
        var second = Store.AppendAsync(kept, [BobInbox]).AsTask();
        release.Set();
        return ([(await first)[0], (await second)[0]], await ack);
    }

    [Fact]
    public async Task AppendAndAckInOneBatch_WritesNeither_AndEverythingElseIsAsIfBothHadRun()
    {
        var before = Store.Unwritten;
        var acked = NewLetter("\"acked\"");
        var kept = NewLetter("\"kept\"");
        var (positions, deleted) = await AppendAckAppendAsync(acked, kept);

        Assert.Equal([1L, 2L], positions);
        Assert.Equal(1, deleted);
        Assert.Equal(before + 1, Store.Unwritten);
        Assert.Equal(1, Rows("messages")); // the acknowledged letter was never written
        Assert.Equal(1, Rows("entries"));
        var entrySize = InboxQuota.StoredSize(kept);
        Assert.Equal(new InboxUsage(1, entrySize), await Store.GetUsageAsync(BobInbox));
        Assert.Equal(new InboxUsage(1, entrySize), await Store.GetTenantUsageAsync(Tenant));
        // Positions never go back: the unwritten letter's position stays given out.
        var third = NewLetter();
        Assert.Equal([3L], await Store.AppendAsync(third, [BobInbox]));

        await ReopenAsync();
        var inbox = await Store.ReadAsync(BobInbox, 0, 10);
        Assert.Equal([kept.Id, third.Id], inbox.Select(e => e.Id));
        Assert.Equal([2L, 3L], inbox.Select(e => e.Position));
        Assert.Equal("\"kept\"", Encoding.UTF8.GetString(inbox[0].Message.Payload.Span));
        Assert.Equal([4L], await Store.AppendAsync(NewLetter(), [BobInbox]));
    }

    [Fact]
    public async Task WithoutPairing_TheSameWritesGiveTheSameResults()
    {
        await ReopenAsync(pairAcks: false);
        var before = Store.Unwritten;
        var kept = NewLetter("\"kept\"");
        var (positions, deleted) = await AppendAckAppendAsync(NewLetter("\"acked\""), kept);

        Assert.Equal([1L, 2L], positions);
        Assert.Equal(1, deleted);
        Assert.Equal(before, Store.Unwritten);
        Assert.Equal(1, Rows("messages"));
        Assert.Equal(new InboxUsage(1, InboxQuota.StoredSize(kept)), await Store.GetUsageAsync(BobInbox));
        Assert.Equal(new InboxUsage(1, InboxQuota.StoredSize(kept)), await Store.GetTenantUsageAsync(Tenant));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ALetterWithHeaders_PairedOrNot_LeavesTheUsageOfWhatIsStored(bool pairAcks)
    {
        // A paired delete takes off what its append booked: payload and headers, not the payload alone.
        await ReopenAsync(pairAcks: pairAcks);
        var before = Store.Unwritten;
        var acked = NewLetter("\"acked\"", [new("trace", new string('h', 300)), new("kind", "ä")]);
        var kept = NewLetter("\"kept\"", [new("k", "v")]);
        var (positions, deleted) = await AppendAckAppendAsync(acked, kept);

        Assert.Equal([1L, 2L], positions);
        Assert.Equal(1, deleted);
        Assert.Equal(before + (pairAcks ? 1 : 0), Store.Unwritten);
        Assert.Equal(new InboxUsage(1, InboxQuota.StoredSize(kept)), await Store.GetUsageAsync(BobInbox));
        Assert.Equal(new InboxUsage(1, InboxQuota.TenantSize(kept, 1)), await Store.GetTenantUsageAsync(Tenant));
        Assert.Equal(1, await Store.DeleteAsync(BobInbox, [kept.Id]));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetUsageAsync(BobInbox));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetTenantUsageAsync(Tenant));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AMulticastOfTheSameId_BesideAPair_FailsAsWithoutPairing(bool pairAcks)
    {
        // Appended to bob, then again to bob and carol, then acked by bob, in one batch: the second append must fail on
        // the unique entry as it would with every write run one by one, and bob's ack take the first.
        await ReopenAsync(pairAcks: pairAcks);
        var carolInbox = QueueKey.Inbox(Tenant, ClientId.Parse("carol"));
        var letter = NewLetter();
        using var release = HoldNextBatch();
        var first = Store.AppendAsync(letter, [BobInbox]).AsTask();
        var multicast = Store.AppendAsync(NewLetter(id: letter.Id, recipients: [Bob, ClientId.Parse("carol")]), [BobInbox, carolInbox]).AsTask();
        var ack = Store.DeleteAsync(BobInbox, [letter.Id]).AsTask();
        release.Set();

        Assert.Equal([1L], await first);
        await Assert.ThrowsAsync<SqliteException>(() => multicast);
        Assert.Equal(1, await ack);
        Assert.Empty(await Store.ReadAsync(BobInbox, 0, 10));
        Assert.Empty(await Store.ReadAsync(carolInbox, 0, 10));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetUsageAsync(BobInbox));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetTenantUsageAsync(Tenant));
        Assert.Equal(0, Rows("messages"));
    }

    [Fact]
    public async Task AckOfAnAppendTheQuotaRefused_RemovesNothing()
    {
        var quota = new InboxQuota(1, long.MaxValue, long.MaxValue);
        var stored = NewLetter();
        await Store.AppendAsync(stored, [BobInbox], quota);

        using var release = HoldNextBatch();
        var refused = NewLetter();
        var append = Store.AppendAsync(refused, [BobInbox], quota).AsTask();
        var ack = Store.DeleteAsync(BobInbox, [refused.Id]).AsTask();
        release.Set();

        var ex = await Assert.ThrowsAsync<DaakiaException>(() => append);
        Assert.Equal(DaakiaErrorCode.QuotaExceeded, ex.Code);
        Assert.Equal(0, await ack);
        Assert.Equal([stored.Id], (await Store.ReadAsync(BobInbox, 0, 10)).Select(e => e.Id));
        Assert.Equal(new InboxUsage(1, InboxQuota.StoredSize(stored)), await Store.GetUsageAsync(BobInbox));
    }

    [Fact]
    public async Task AnIdAlreadyStored_IsRefusedAsUsual_AndTheAckRemovesTheStoredOne()
    {
        var stored = NewLetter();
        await Store.AppendAsync(stored, [BobInbox]);

        using var release = HoldNextBatch();
        var again = Store.AppendAsync(stored, [BobInbox]).AsTask();
        var ack = Store.DeleteAsync(BobInbox, [stored.Id]).AsTask();
        release.Set();

        await Assert.ThrowsAsync<SqliteException>(() => again);
        Assert.Equal(1, await ack);
        Assert.Empty(await Store.ReadAsync(BobInbox, 0, 10));
        Assert.Equal(new InboxUsage(0, 0), await Store.GetUsageAsync(BobInbox));
        Assert.Equal(0, Rows("messages"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AnAckThatFails_BesideAPairedLetter_LeavesThatLetterStored(bool pairedIdFirst)
    {
        // The ack also names a stored letter whose delete fails (a trigger): the ack fails whole, so the letter it
        // would have taken from the batch must be written after all — before or after the failing id.
        await ReopenAsync(c =>
        {
            using var command = c.CreateCommand();
            command.CommandText = "CREATE TEMP TRIGGER no_ack BEFORE DELETE ON main.entries WHEN old.pos = 1 BEGIN SELECT RAISE(ABORT, 'poisoned'); END";
            command.ExecuteNonQuery();
        });
        var stuck = NewLetter("\"stuck\"");
        await Store.AppendAsync(stuck, [BobInbox]);
        var reruns = Store.GuardedReruns;

        using var release = HoldNextBatch();
        var live = NewLetter("\"live\"");
        var append = Store.AppendAsync(live, [BobInbox]).AsTask();
        var ack = Store.DeleteAsync(BobInbox, pairedIdFirst ? [live.Id, stuck.Id] : [stuck.Id, live.Id]).AsTask();
        var after = NewLetter("\"after\"");
        var beside = Store.AppendAsync(after, [BobInbox]).AsTask();
        release.Set();

        Assert.Equal([2L], await append);
        await Assert.ThrowsAsync<SqliteException>(() => ack);
        Assert.Equal([3L], await beside);
        Assert.Equal(reruns + 1, Store.GuardedReruns);

        await ReopenAsync();
        Assert.Equal([stuck.Id, live.Id, after.Id], (await Store.ReadAsync(BobInbox, 0, 10)).Select(e => e.Id));
        Assert.Equal(3, Rows("messages"));
        Assert.Equal(new InboxUsage(3, InboxQuota.StoredSize(stuck) + InboxQuota.StoredSize(live) + InboxQuota.StoredSize(after)), await Store.GetUsageAsync(BobInbox));
    }

    [Fact]
    public async Task ABatchWithAnOpThatReadsEntries_PairsNothing()
    {
        var stored = NewLetter();
        await Store.AppendAsync(stored, [BobInbox]);
        var before = Store.Unwritten;

        using var release = HoldNextBatch();
        var live = NewLetter();
        var append = Store.AppendAsync(live, [BobInbox]).AsTask();
        var returned = Store.ReturnAsync(BobInbox, [new ReturnedEntry(stored.Id, 1)]).AsTask();
        var ack = Store.DeleteAsync(BobInbox, [live.Id]).AsTask();
        release.Set();

        Assert.Equal([2L], await append);
        Assert.Equal(1, await returned);
        Assert.Equal(1, await ack);
        Assert.Equal(before, Store.Unwritten);
        var inbox = await Store.ReadAsync(BobInbox, 0, 10);
        Assert.Equal([stored.Id], inbox.Select(e => e.Id));
        Assert.Equal(1, inbox[0].Deliveries);
    }

    [Fact]
    public async Task ConcurrentAppendsAndAcks_LoseNothingAcknowledgedAsStored_AndUsageMatchesTheRows()
    {
        // Senders append while a receiver acks most letters as soon as their append was called (as a live delivery
        // lets it), racing the writer's batches: whatever pairs or not, what is left is exactly the letters not acked.
        const int Letters = 2000;
        var letters = Enumerable.Range(0, Letters).Select(i => NewLetter($"\"{i}\"")).ToArray();
        var appends = new Task<IReadOnlyList<long>>[Letters];
        var acks = new List<Task<int>>();
        var acked = new HashSet<Guid>();
        var senders = Enumerable.Range(0, 4).Select(s => Task.Run(async () =>
        {
            for (var i = s; i < Letters; i += 4)
            {
                Task<IReadOnlyList<long>> append;
                lock (appends)
                {
                    append = appends[i] = Store.AppendAsync(letters[i], [BobInbox]).AsTask();
                    if (i % 5 != 0 && i % 12 != 1)
                    {
                        acks.Add(Store.DeleteAsync(BobInbox, [letters[i].Id]).AsTask());
                        acked.Add(letters[i].Id);
                    }
                }

                if (i % 12 == 1)
                {
                    // This one is acked only once its append committed: a later batch than its append's.
                    await append;
                    Task<int> late;
                    lock (appends)
                    {
                        late = Store.DeleteAsync(BobInbox, [letters[i].Id]).AsTask();
                        acks.Add(late);
                        acked.Add(letters[i].Id);
                    }

                    await late;
                }
            }
        })).ToArray();
        await Task.WhenAll(senders);
        var positions = (await Task.WhenAll(appends)).Select(p => p[0]).ToArray();
        Assert.All(await Task.WhenAll(acks), n => Assert.Equal(1, n));
        Assert.Equal(Enumerable.Range(1, Letters).Select(i => (long)i), positions.Order());

        var expected = letters.Where(l => !acked.Contains(l.Id)).ToArray();
        var expectedBytes = expected.Sum(l => (long)InboxQuota.StoredSize(l));
        // Both ways were taken: acks paired in their append's batch, and acks that came a batch later.
        Assert.InRange(Store.Unwritten, 1, acked.Count - 1);
        await ReopenAsync();
        var inbox = await Store.ReadAsync(BobInbox, 0, Letters);
        Assert.Equal(expected.Select(l => l.Id).Order(), inbox.Select(e => e.Id).Order());
        Assert.Equal(new InboxUsage(expected.Length, expectedBytes), await Store.GetUsageAsync(BobInbox));
        Assert.Equal(new InboxUsage(expected.Length, expectedBytes), await Store.GetTenantUsageAsync(Tenant));
        Assert.Equal(expected.Length, Rows("messages"));
        Assert.Equal([(long)Letters + 1], await Store.AppendAsync(NewLetter(), [BobInbox]));
    }
}
