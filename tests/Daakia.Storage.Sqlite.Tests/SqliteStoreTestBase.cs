namespace Daakia.Storage.Sqlite.Tests;

/// <summary>A test class with an opened store of its own in a fresh data directory, removed after the test.</summary>
public abstract class SqliteStoreTestBase : IAsyncLifetime
{
    /// <summary>The store's data directory.</summary>
    protected string Dir { get; } = Daakia.Testing.Unique.TempDirectory();

    /// <summary>The store under test (a test may replace it, e.g. to reopen it with other options).</summary>
    protected SqliteStore Store { get; set; } = null!;

    public virtual async Task InitializeAsync()
    {
        Store = new SqliteStore(new SqliteStoreOptions { DataDirectory = Dir });
        await Store.OpenAsync();
    }

    /// <summary>Holds the writer before its next batch until the returned release is set; returns once it is held.</summary>
    protected ManualResetEventSlim HoldNextBatch()
    {
        var entered = new ManualResetEventSlim();
        var release = new ManualResetEventSlim();
        var held = 0;
        Store.BeforeBatchForTest = _ =>
        {
            if (Interlocked.Exchange(ref held, 1) == 0)
            {
                entered.Set();
                release.Wait(TimeSpan.FromSeconds(30));
            }
        };
        _ = Store.FlushAsync().AsTask();
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)), "the writer took the batch");
        entered.Dispose();
        return release;
    }

    public virtual async Task DisposeAsync()
    {
        await Store.DisposeAsync();
        Directory.Delete(Dir, recursive: true);
    }
}
