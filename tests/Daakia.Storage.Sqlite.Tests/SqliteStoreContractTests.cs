using Daakia.Core.Storage;
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
