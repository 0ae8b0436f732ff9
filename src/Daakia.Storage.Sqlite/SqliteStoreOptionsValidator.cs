using Daakia.Core;

namespace Daakia.Storage.Sqlite;

/// <summary>
/// The rules for <see cref="SqliteStoreOptions"/> (section <c>Daakia:Store</c>), one line each. The data directory and
/// the durability are the host's settings (<c>Daakia:DataDir</c>, <c>Daakia:Durability</c>) and are checked there.
/// </summary>
public static class SqliteStoreOptionsValidator
{
    public static void Validate(SqliteStoreOptions o, OptionsValidation v)
    {
        // 0 would make the writer loop take nothing and spin.
        v.Between(o.MaxBatchSize, 1, SqliteStoreOptions.MaxBatchSizeLimit);
        // A pool of 0 connections cannot be created.
        v.Between(o.ReaderPoolSize, 1, SqliteStoreOptions.ReaderPoolSizeLimit);
    }
}
