namespace Daakia.Server.WebSockets;

/// <summary>How a WebSocket session ended: the <c>reason</c> tag of <c>daakia_websockets_sessions_closed</c>.</summary>
internal enum SessionEnd
{
    /// <summary>A close handshake: the client closed, or the server said bye.</summary>
    Normal,
    /// <summary>The server is draining (1001).</summary>
    ServerShutdown,
    /// <summary>The connection stayed silent past its heartbeat deadline (4000).</summary>
    HeartbeatTimeout,
    /// <summary>The connection did not read its letters fast enough (1008).</summary>
    SlowConsumer,
    /// <summary>No <c>hello</c> in time (1008).</summary>
    HelloTimeout,
    /// <summary>A message above <c>Daakia:MaxFrameBytes</c> (1009).</summary>
    FrameTooLarge,
    /// <summary>The client broke the WebSocket protocol, e.g. a text frame that is not UTF-8 (1007, 1002).</summary>
    ProtocolError,
    /// <summary>The connection dropped without a close handshake.</summary>
    Aborted,
    /// <summary>A server fault: a frame could not be encoded, or the session failed (1011, logged at Error).</summary>
    ServerError,
}
