using Daakia.Core;

namespace Daakia.Storage.Journal;

/// <summary>
/// The rules for <see cref="JournalStoreOptions"/> (section <c>Daakia:Journal</c>). The data directory and the
/// durability are the host's settings (<c>Daakia:DataDir</c>, <c>Daakia:Durability</c>) and are checked there.
/// </summary>
public static class JournalStoreOptionsValidator
{
    public static void Validate(JournalStoreOptions o, OptionsValidation v)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(v);
        // Below a megabyte the journal would be rewritten almost every batch.
        v.Between(o.CompactBytes, JournalStoreOptions.MinCompactBytes, JournalStoreOptions.MaxCompactBytes);
    }
}
