namespace Daakia.Storage.Sqlite.Tests;

public sealed class SqliteStoreOptionsTests
{
    private static readonly SqliteStoreOptions Valid = new() { DataDirectory = "/tmp/unused" };

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(SqliteStoreOptions.MaxBatchSizeLimit + 1)]
    public void MaxBatchSize_OutOfRange_IsRefusedByName(int size)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new SqliteStore(Valid with { MaxBatchSize = size }));
        Assert.Contains($"Daakia:Store:MaxBatchSize must be between 1 and {SqliteStoreOptions.MaxBatchSizeLimit}", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"(was {size})", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    [InlineData(SqliteStoreOptions.ReaderPoolSizeLimit + 1)]
    public void ReaderPoolSize_OutOfRange_IsRefusedByName(int size)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new SqliteStore(Valid with { ReaderPoolSize = size }));
        Assert.Contains($"Daakia:Store:ReaderPoolSize must be between 1 and {SqliteStoreOptions.ReaderPoolSizeLimit}", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void DataDirectory_Blank_IsRefusedWithItsSetting(string directory)
    {
        var ex = Assert.Throws<ArgumentException>(() => new SqliteStore(Valid with { DataDirectory = directory }));
        Assert.Contains("Daakia:DataDir", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Durability_Undefined_IsRefused()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new SqliteStore(Valid with { Durability = (SqliteDurability)7 }));
        Assert.Contains("Daakia:Durability", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bounds_AreAccepted_AndABatchSizeOfOneStillCommits()
    {
        _ = new SqliteStore(Valid with { MaxBatchSize = SqliteStoreOptions.MaxBatchSizeLimit, ReaderPoolSize = SqliteStoreOptions.ReaderPoolSizeLimit });
        var dir = Daakia.Testing.Unique.TempDirectory();
        var store = new SqliteStore(new SqliteStoreOptions { DataDirectory = dir, MaxBatchSize = 1, ReaderPoolSize = 1 });
        await store.OpenAsync();
        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => store.RecordSeenAsync(Core.TenantId.Default, Core.ClientId.Parse("c" + i), DateTimeOffset.UtcNow).AsTask()));
        Assert.Equal(20, (await store.ListClientsAsync(Core.TenantId.Default, null, 100)).Count);
        await store.DisposeAsync();
        Directory.Delete(dir, recursive: true);
    }
}
