namespace Daakia.Core;

/// <summary>
/// A client's presence: derived from its connections and heartbeats, plus what it signalled itself
/// (availability, activity, a status text — Swarm REQ08/09).
/// </summary>
public sealed record PresenceInfo(
    ClientId Client,
    PresenceStatus Status,
    bool Available,
    bool Active,
    string? StatusText,
    int Connections,
    DateTimeOffset? LastSeen);
