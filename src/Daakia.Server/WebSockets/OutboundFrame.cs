using Daakia.Core;

namespace Daakia.Server.WebSockets;

/// <summary>One queued frame: pre-encoded bytes (replies) or a letter/publication encoded by the writer loop.</summary>
internal readonly struct OutboundFrame
{
    /// <summary>What a frame is counted as beyond its payload (envelope fields, the queue entry).</summary>
    private const int Overhead = 128;

    private OutboundFrame(object item, int size, int deliveries = 0)
    {
        Item = item;
        Size = size;
        Deliveries = deliveries;
    }

    /// <summary>A <c>byte[]</c>, a <see cref="Letter"/>, a <see cref="Publication"/> or another event.</summary>
    public object Item { get; }

    /// <summary>A letter's delivery count for this hand-out (1 the first time); 0 for other frames.</summary>
    public int Deliveries { get; }

    /// <summary>The bytes this frame is counted as against the outbox's byte limit (an estimate before encoding).</summary>
    public int Size { get; }

    public static OutboundFrame Bytes(byte[] bytes) => new(bytes, bytes.Length);

    public static OutboundFrame For(Letter letter, int deliveries) => new(letter, letter.Size + Overhead, deliveries);

    /// <summary>Another event (a task assignment or cancel), counted as <paramref name="size"/> bytes and the envelope.</summary>
    public static OutboundFrame Event(object item, int size) => new(item, size + Overhead);

    public static OutboundFrame For(Publication publication) => new(publication, publication.Payload.Length + publication.Topic.Length + Overhead);
}
