using Daakia.Core;

namespace Daakia.Server;

/// <summary>The wire names of errors, shared by the WebSocket API and REST (the <c>code</c> field).</summary>
public static class ErrorCodes
{
    public const string InvalidJson = "invalid_json";
    public const string InvalidFrame = "invalid_frame";
    public const string UnknownType = "unknown_type";
    public const string InvalidArgument = "invalid_argument";
    public const string NotIdentified = "not_identified";
    public const string AlreadyIdentified = "already_identified";
    public const string PayloadTooLarge = "payload_too_large";
    public const string TooManyRecipients = "too_many_recipients";
    public const string LimitExceeded = "limit_exceeded";
    public const string RateLimited = "rate_limited";
    public const string NotFound = "not_found";
    public const string Forbidden = "forbidden";
    public const string Unavailable = "unavailable";
    public const string Overloaded = "overloaded";
    public const string QuotaExceeded = "quota_exceeded";
    public const string FrameTooLarge = "frame_too_large";
    public const string Internal = "internal";

    // HTTP-edge refusals (REST and the WebSocket upgrade), docs/protocols/rest.md and docs/security.md.
    public const string MethodNotAllowed = "method_not_allowed";
    public const string UnsupportedMediaType = "unsupported_media_type";
    public const string InvalidHost = "invalid_host";

    public static string For(DaakiaErrorCode code) => code switch
    {
        DaakiaErrorCode.InvalidArgument => InvalidArgument,
        DaakiaErrorCode.PayloadTooLarge => PayloadTooLarge,
        DaakiaErrorCode.TooManyRecipients => TooManyRecipients,
        DaakiaErrorCode.LimitExceeded => LimitExceeded,
        DaakiaErrorCode.RateLimited => RateLimited,
        DaakiaErrorCode.NotFound => NotFound,
        DaakiaErrorCode.Forbidden => Forbidden,
        DaakiaErrorCode.Unavailable => Unavailable,
        DaakiaErrorCode.Overloaded => Overloaded,
        DaakiaErrorCode.QuotaExceeded => QuotaExceeded,
        _ => Internal,
    };

    /// <summary>The HTTP status for a core error.</summary>
    public static int HttpStatus(DaakiaErrorCode code) => code switch
    {
        DaakiaErrorCode.InvalidArgument => 400,
        DaakiaErrorCode.PayloadTooLarge => 413,
        DaakiaErrorCode.TooManyRecipients => 400,
        DaakiaErrorCode.LimitExceeded => 429,
        DaakiaErrorCode.RateLimited => 429,
        DaakiaErrorCode.NotFound => 404,
        DaakiaErrorCode.Forbidden => 403,
        DaakiaErrorCode.Unavailable => 503,
        DaakiaErrorCode.Overloaded => 503,
        DaakiaErrorCode.QuotaExceeded => 507,
        _ => 500,
    };

    /// <summary>The <c>code</c> of an HTTP error that was produced without one (routing, binding, Kestrel, a bare status).</summary>
    public static string ForHttpStatus(int status) => status switch
    {
        403 => Forbidden,
        404 => NotFound,
        405 => MethodNotAllowed,
        413 => PayloadTooLarge,
        415 => UnsupportedMediaType,
        421 => InvalidHost,
        429 => RateLimited,
        503 => Unavailable,
        507 => QuotaExceeded,
        < 500 => InvalidArgument,
        _ => Internal,
    };
}
