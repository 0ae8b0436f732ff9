using Daakia.Core;

namespace Daakia.Server.WebSockets;

/// <summary>texto's error codes: errno-style names, as in the protocol's example (<c>ENOMEM</c>).</summary>
internal static class TextoErrors
{
    public const string Invalid = "EINVAL";
    public const string BadMessage = "EBADMSG";
    public const string NotImplemented = "ENOSYS";
    public const string TooBig = "E2BIG";
    public const string MessageSize = "EMSGSIZE";
    public const string Again = "EAGAIN";
    public const string NotFound = "ENOENT";
    public const string Access = "EACCES";
    public const string Quota = "EDQUOT";
    public const string Shutdown = "ESHUTDOWN";
    public const string Internal = "EIO";

    public static string For(DaakiaErrorCode code) => code switch
    {
        DaakiaErrorCode.InvalidArgument => Invalid,
        DaakiaErrorCode.PayloadTooLarge => TooBig,
        DaakiaErrorCode.TooManyRecipients => TooBig,
        DaakiaErrorCode.LimitExceeded => Quota,
        DaakiaErrorCode.RateLimited => Again,
        DaakiaErrorCode.NotFound => NotFound,
        DaakiaErrorCode.Forbidden => Access,
        DaakiaErrorCode.Unavailable => Shutdown,
        DaakiaErrorCode.Overloaded => Again,
        DaakiaErrorCode.QuotaExceeded => Quota,
        _ => Internal,
    };

    /// <summary>Maps the shared wire codes the transport uses to texto's.</summary>
    public static string ForWire(string code) => code switch
    {
        ErrorCodes.FrameTooLarge => MessageSize,
        ErrorCodes.RateLimited => Again,
        ErrorCodes.InvalidFrame => BadMessage,
        ErrorCodes.InvalidJson => BadMessage,
        _ => Invalid,
    };
}
