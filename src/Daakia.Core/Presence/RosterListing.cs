namespace Daakia.Core;

/// <summary>A roster entry with whether the client is connected now.</summary>
public sealed record RosterListing(RosterEntry Entry, bool Online);
