namespace Daakia.Core;

/// <summary>A client's presence as others see it.</summary>
public enum PresenceStatus
{
    /// <summary>No live connection.</summary>
    Offline,
    /// <summary>Connected, but signalled unavailable or inactive.</summary>
    Away,
    /// <summary>Connected, available and active.</summary>
    Online,
}
