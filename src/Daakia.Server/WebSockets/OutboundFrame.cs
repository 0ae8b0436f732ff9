using Daakia.Core;

namespace Daakia.Server.WebSockets;

/// <summary>One queued frame: pre-encoded bytes (replies) or a letter/publication encoded by the writer loop.</summary>
internal readonly struct OutboundFrame
{
    /// <summary>What a frame is counted as beyond its payload (envelope fields, the queue entry).</summary>
    private const int Overhead = 128;

    private OutboundFrame(object item, int size)
    {
        Item = item;
        Size = size;
    }

    /// <summary>A <c>byte[]</c>, a <see cref="Letter"/> or a <see cref="Publication"/>.</summary>
    public object Item { get; }

    /// <summary>The bytes this frame is counted as against the outbox's byte limit (an estimate before encoding).</summary>
    public int Size { get; }

    public static OutboundFrame Bytes(byte[] bytes) => new(bytes, bytes.Length);

    public static OutboundFrame For(Letter letter) => new(letter, letter.Payload.Length + Overhead);

    public static OutboundFrame For(Publication publication) => new(publication, publication.Payload.Length + publication.Topic.Length + Overhead);
}
