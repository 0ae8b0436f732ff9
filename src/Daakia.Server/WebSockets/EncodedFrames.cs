using Daakia.Core;

namespace Daakia.Server.WebSockets;

/// <summary>The encode-once cache a letter or publication carries: one slot per wire variant.</summary>
internal sealed class EncodedFrames
{
    public byte[]? JsonApi { get; set; }

    public byte[]? Texto { get; set; }

    public static EncodedFrames Of(Letter letter) => Slot(letter.EncodedCache, c => letter.EncodedCache = c);

    public static EncodedFrames Of(Publication publication) => Slot(publication.EncodedCache, c => publication.EncodedCache = c);

    private static EncodedFrames Slot(object? current, Action<EncodedFrames> set)
    {
        if (current is EncodedFrames frames)
        {
            return frames;
        }

        // Two writer loops may race here; the loser's bytes are equal, so either result is right.
        frames = new EncodedFrames();
        set(frames);
        return frames;
    }
}
