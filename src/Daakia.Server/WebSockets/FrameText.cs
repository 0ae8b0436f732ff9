using System.Text.Unicode;
using Daakia.Server.Json;

namespace Daakia.Server.WebSockets;

/// <summary>
/// The edge check of a request frame, before it is parsed: it must be UTF-8 (RFC 6455 §8.1; RFC 8259 §8.1) and its
/// strings must be Unicode scalar values, so no <c>\uD800</c>-style escape of a lone surrogate anywhere — in a key,
/// a field or the payload (<see cref="JsonEscapes"/>). Both are single vectorised scans. What passes here can be decoded to .NET strings
/// without an exception and re-encoded as UTF-8 without loss, on every protocol.
/// </summary>
internal static class FrameText
{
    public static FrameTextFault Check(ReadOnlySpan<byte> frame)
    {
#if DAAKIA_NO_EDGE_CHECK
        // Only for bench/run-edge-cost.sh, which measures what this check costs; never in a shipped build.
        if (!frame.IsEmpty)
        {
            return FrameTextFault.None;
        }
#endif
        if (!Utf8.IsValid(frame))
        {
            return FrameTextFault.InvalidUtf8;
        }

        return JsonEscapes.HasLoneSurrogate(frame) ? FrameTextFault.LoneSurrogate : FrameTextFault.None;
    }
}
