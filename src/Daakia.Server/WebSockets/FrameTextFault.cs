namespace Daakia.Server.WebSockets;

/// <summary>Why a frame failed the edge check of <see cref="FrameText"/>.</summary>
internal enum FrameTextFault
{
    None,
    InvalidUtf8,
    LoneSurrogate,
}
