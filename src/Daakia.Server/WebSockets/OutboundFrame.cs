using Daakia.Core;

namespace Daakia.Server.WebSockets;

/// <summary>One queued frame: pre-encoded bytes (replies) or a letter/publication encoded by the writer loop.</summary>
internal readonly struct OutboundFrame
{
    private OutboundFrame(object item) => Item = item;

    /// <summary>A <c>byte[]</c>, a <see cref="Letter"/> or a <see cref="Publication"/>.</summary>
    public object Item { get; }

    public static OutboundFrame Bytes(byte[] bytes) => new(bytes);

    public static OutboundFrame For(Letter letter) => new(letter);

    public static OutboundFrame For(Publication publication) => new(publication);
}
