namespace Daakia.Server.WebSockets;

/// <summary>A request the adapter refuses before it reaches the core, with its wire error code.</summary>
internal sealed class RequestException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
