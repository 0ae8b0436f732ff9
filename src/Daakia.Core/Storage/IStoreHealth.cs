namespace Daakia.Core.Storage;

/// <summary>
/// Whether a store can still do its work. A store that hits a failure it cannot recover from by itself (the SQLite
/// store's writer thread stopping, say) reports it here instead of leaving callers waiting, and <c>/healthz</c>
/// answers 503 with <see cref="Fault"/>. A store that does not implement it is taken as healthy.
/// </summary>
public interface IStoreHealth
{
    /// <summary>False once the store has faulted; it stays faulted until the process restarts.</summary>
    bool IsHealthy { get; }

    /// <summary>Why the store faulted, for operators; null while it is healthy.</summary>
    string? Fault { get; }
}
