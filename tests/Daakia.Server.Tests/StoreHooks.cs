using Daakia.Core.Storage;
using Daakia.Storage.Journal;
using Daakia.Storage.Sqlite;

namespace Daakia.Server.Tests;

/// <summary>The embedded stores' test hooks, whichever store the host runs on (Daakia:Storage).</summary>
internal static class StoreHooks
{
    /// <summary>Runs <paramref name="hook"/> on the store's writer before each batch (it may stall it, or throw).</summary>
    public static void BeforeBatch(IDaakiaStore store, Action<int> hook)
    {
        switch (store)
        {
            case SqliteStore sqlite:
                sqlite.BeforeBatchForTest = hook;
                break;
            case JournalStore journal:
                journal.BeforeBatchForTest = hook;
                break;
            default:
                throw new InvalidOperationException($"{store.GetType().Name} has no writer to hook.");
        }
    }
}
