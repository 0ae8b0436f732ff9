using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Testing;

namespace Daakia.Storage.Sqlite.Tests;

public sealed class ReadCancellationTests
{
    [Fact]
    public async Task CancelledReads_BehindAStalledWriter_AreReleasedAtOnce()
    {
        var dir = Unique.TempDirectory();
        var store = new SqliteStore(new SqliteStoreOptions { DataDirectory = dir });
        await store.OpenAsync();
        using var release = new ManualResetEventSlim();
        store.BeforeBatchForTest = _ => release.Wait(TimeSpan.FromSeconds(30));
        var flush = store.FlushAsync().AsTask();
        var reads = new List<Task>();
        for (var i = 0; i < 200; i++)
        {
            using var cts = new CancellationTokenSource();
            var read = store.ReadInboxAsync(TenantId.Default, ClientId.Parse("bob"), 0, 10, long.MaxValue, cts.Token).AsTask();
            cts.Cancel();
            reads.Add(read);
        }

        // Every read gives up while the writer is still stalled (the release comes only after).
        var all = Task.WhenAll(reads.Select(r => r.ContinueWith(static _ => { }, TaskScheduler.Default)));
        await all.WaitAsync(Eventually.DefaultTimeout);
        Assert.All(reads, r => Assert.True(r.IsCanceled, "a cancelled read is cancelled"));
        Assert.False(flush.IsCompleted);
        release.Set();
        await flush;
        await store.DisposeAsync();
        Directory.Delete(dir, recursive: true);
    }
}
