namespace Daakia.LoadTest;

/// <summary>
/// What a direct-messaging protocol looks like to the load generator: how a client identifies itself, how a send, a
/// delivery and an ack are framed. The workload (<see cref="DirectScenario"/>) is the same on every protocol.
/// </summary>
internal interface IDirectWire
{
    /// <summary>The scenario's name in reports (<c>ws-direct</c>, <c>texto-direct</c>).</summary>
    string Scenario { get; }

    /// <summary>The default endpoint path (<c>/v1/ws</c>, <c>/v1/texto</c>).</summary>
    string DefaultPath { get; }

    /// <summary>
    /// Connects and identifies; <paramref name="name"/> is a hint the protocol may ignore (texto makes its own ids), and
    /// <paramref name="tenant"/> (null: the server's default) one it may refuse (texto has no tenants).
    /// </summary>
    Task<(WsClient Client, string Id)> ConnectAsync(Uri url, string name, string? tenant = null);

    /// <summary>The frame that sends message <paramref name="sequence"/> with request id <paramref name="requestId"/> (1-based).</summary>
    string SendFrame(string self, int requestId, string recipient, long sentAt, int sequence, string pad);

    /// <summary>Reads a reply to a send: its request id, and whether it is an error.</summary>
    ReplyKind ParseReply(ReadOnlySpan<byte> frame, out int requestId);

    /// <summary>Reads a delivered message: its id (to ack), the timestamp and sequence the sender put in it.</summary>
    ReplyKind ParseDelivery(ReadOnlySpan<byte> frame, out string? messageId, out long sentAt, out int sequence);

    /// <summary>How many letters a reply to the receiver's ack confirms removed (-1: not such a reply; texto's acks get none).</summary>
    int ParseAckReply(ReadOnlySpan<byte> frame);

    /// <summary>The frame that acknowledges one delivered message (<paramref name="ackId"/> counts this client's acks).</summary>
    string AckFrame(string self, int ackId, string messageId);
}
