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

    /// <summary>Most writes committed in one transaction (one fsync).</summary>
    public int MaxBatchSize { get; init; } = 1024;

    /// <summary>Read connections (reads never wait for the writer's lock in WAL mode).</summary>
    public int ReaderPoolSize { get; init; } = 4;
}
