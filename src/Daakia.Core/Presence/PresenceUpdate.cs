namespace Daakia.Core;

/// <summary>What a client signals about itself; null fields stay as they are.</summary>
public sealed record PresenceUpdate(bool? Available = null, bool? Active = null, string? StatusText = null, bool ClearStatusText = false);
