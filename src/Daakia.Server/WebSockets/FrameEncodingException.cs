namespace Daakia.Server.WebSockets;

/// <summary>A letter or publication that no frame of the protocol can carry (a server fault: it should not have been accepted).</summary>
internal sealed class FrameEncodingException(string message) : Exception(message);
