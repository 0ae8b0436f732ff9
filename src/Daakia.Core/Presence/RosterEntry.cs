namespace Daakia.Core;

/// <summary>A client the tenant has ever seen, with when (Swarm REQ07).</summary>
public sealed record RosterEntry(ClientId Client, DateTimeOffset FirstSeen, DateTimeOffset LastSeen);
