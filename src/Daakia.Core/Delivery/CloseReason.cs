namespace Daakia.Core;

/// <summary>Why the core asks a connection to close. Adapters map each to their wire (close status, DISCONNECT reason).</summary>
public enum CloseReason
{
    /// <summary>The client went away or asked to close.</summary>
    Normal,
    /// <summary>The server is draining.</summary>
    ServerShutdown,
    /// <summary>The connection stayed silent past its heartbeat deadline.</summary>
    HeartbeatTimeout,
    /// <summary>The connection did not read fast enough and its bounded outbox filled.</summary>
    SlowConsumer,
}
