namespace Daakia.Storage.Journal;

/// <summary>How durable an acknowledged write is.</summary>
public enum JournalDurability
{
    /// <summary>Every batch is fsynced before its writes are acknowledged: survives power loss.</summary>
    Fsync,
    /// <summary>Every batch is written to the OS before its writes are acknowledged: survives a process crash
    /// (kill -9), not a power loss.</summary>
    Os,
}

/// <summary>Settings of the journal store.</summary>
public sealed record JournalStoreOptions
{
    /// <summary>The data directory; the journal is <c>daakia.journal</c> in it.</summary>
    public required string DataDirectory { get; init; }

    public JournalDurability Durability { get; init; } = JournalDurability.Fsync;

    /// <summary>
    /// Once the journal file is larger than this and more than twice what it holds alive, it is rewritten as a snapshot
    /// of the live data (compaction). 1 MiB to 64 GiB.
    /// </summary>
    public long CompactBytes { get; init; } = 64L * 1024 * 1024;

    public const long MinCompactBytes = 1024 * 1024;

    public const long MaxCompactBytes = 64L * 1024 * 1024 * 1024;

    /// <summary>Throws if a setting is out of range, naming it.</summary>
    internal static void Validate(JournalStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.DataDirectory))
        {
            throw new ArgumentException("JournalStoreOptions.DataDirectory (setting Daakia:DataDir) must name a directory.", nameof(options));
        }

        if (!Enum.IsDefined(options.Durability))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Durability,
                "JournalStoreOptions.Durability (setting Daakia:Durability) must be Fsync or Os.");
        }

        if (options.CompactBytes is < MinCompactBytes or > MaxCompactBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.CompactBytes,
                $"JournalStoreOptions.CompactBytes (setting Daakia:Journal:CompactBytes) must be {MinCompactBytes} to {MaxCompactBytes}.");
        }
    }
}
