namespace Daakia.Storage.Sqlite;

/// <summary>How durable an acknowledged write is.</summary>
public enum SqliteDurability
{
    /// <summary>Every commit is fsynced (<c>synchronous=FULL</c>): survives power loss.</summary>
    Fsync,
    /// <summary>Commits reach the OS (<c>synchronous=NORMAL</c> in WAL): survives a process crash, not a power loss.</summary>
    Os,
}

/// <summary>Settings of the embedded store.</summary>
public sealed record SqliteStoreOptions
{
    /// <summary>The data directory; the database is <c>daakia.db</c> in it.</summary>
    public required string DataDirectory { get; init; }

    public SqliteDurability Durability { get; init; } = SqliteDurability.Fsync;

    /// <summary>Most writes committed in one transaction (one fsync); 1 to <see cref="MaxBatchSizeLimit"/>.</summary>
    public int MaxBatchSize { get; init; } = 1024;

    /// <summary>Read connections (reads never wait for the writer's lock in WAL mode); 1 to <see cref="ReaderPoolSizeLimit"/>.</summary>
    public int ReaderPoolSize { get; init; } = 4;

    /// <summary>
    /// Whether a letter appended and acknowledged within one batch is left unwritten (<see cref="AckPairing"/>); off
    /// only in tests that compare the two ways.
    /// </summary>
    internal bool PairAcks { get; init; } = true;

    /// <summary>Upper bound of <see cref="MaxBatchSize"/>: past it a batch only delays its first waiter's ack.</summary>
    public const int MaxBatchSizeLimit = 100_000;

    /// <summary>Upper bound of <see cref="ReaderPoolSize"/>: each reader is a connection with its own page cache.</summary>
    public const int ReaderPoolSizeLimit = 64;

    /// <summary>
    /// Throws if a setting is out of range, naming it: a batch size of 0 would spin the writer without ever committing,
    /// a reader pool of 0 would leave every read waiting.
    /// </summary>
    internal static void Validate(SqliteStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.DataDirectory))
        {
            throw new ArgumentException("SqliteStoreOptions.DataDirectory (setting Daakia:DataDir) must name a directory.", nameof(options));
        }

        if (!Enum.IsDefined(options.Durability))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Durability,
                "SqliteStoreOptions.Durability (setting Daakia:Durability) must be Fsync or Os.");
        }

        // The ranges are the host's rules (one place for them), checked again here for stores made without the host.
        var v = new Daakia.Core.OptionsValidation("Daakia:Store");
        SqliteStoreOptionsValidator.Validate(options, v);
        if (!v.IsValid)
        {
            throw new ArgumentOutOfRangeException(nameof(options), string.Join("; ", v.Failures));
        }
    }
}
