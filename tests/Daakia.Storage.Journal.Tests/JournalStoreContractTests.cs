using Daakia.Core.Storage;
using Daakia.Testing.StoreContract;

namespace Daakia.Storage.Journal.Tests;

public sealed class JournalStoreContractTests : StoreContractTests
{
    protected override IDaakiaStore CreateStore(string dataDirectory) => new JournalStore(new JournalStoreOptions { DataDirectory = dataDirectory });
}

public sealed class JournalOsDurabilityContractTests : StoreContractTests
{
    protected override IDaakiaStore CreateStore(string dataDirectory) =>
        new JournalStore(new JournalStoreOptions { DataDirectory = dataDirectory, Durability = JournalDurability.Os });
}

/// <summary>The contract again on a store that compacts after every megabyte: every reopen reads a snapshot.</summary>
public sealed class JournalCompactingContractTests : StoreContractTests
{
    protected override IDaakiaStore CreateStore(string dataDirectory) =>
        new JournalStore(new JournalStoreOptions { DataDirectory = dataDirectory, Durability = JournalDurability.Os, CompactBytes = JournalStoreOptions.MinCompactBytes });
}
