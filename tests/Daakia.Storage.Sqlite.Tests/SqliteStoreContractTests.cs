using Daakia.Core.Storage;
using Daakia.Testing;
using Daakia.Testing.StoreContract;

namespace Daakia.Storage.Sqlite.Tests;

public sealed class SqliteStoreContractTests : StoreContractTests
{
    protected override IDaakiaStore CreateStore(string dataDirectory) => new SqliteStore(new SqliteStoreOptions { DataDirectory = dataDirectory });
}

public sealed class SqliteOsDurabilityContractTests : StoreContractTests
{
    protected override IDaakiaStore CreateStore(string dataDirectory) =>
        new SqliteStore(new SqliteStoreOptions { DataDirectory = dataDirectory, Durability = SqliteDurability.Os });
}

public sealed class InMemoryStoreContractTests : StoreContractTests
{
    protected override bool IsDurable => false;

    protected override IDaakiaStore CreateStore(string dataDirectory) => new InMemoryStore();
}

/// <summary>The chaos store keeps the contract too (late, out-of-order completions; reads that see later writes).</summary>
public sealed class ChaosStoreContractTests : StoreContractTests
{
    protected override bool IsDurable => false;

    protected override IDaakiaStore CreateStore(string dataDirectory) => new ChaosStore();
}
