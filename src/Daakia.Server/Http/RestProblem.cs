using Daakia.Core;
using Microsoft.AspNetCore.Http;

namespace Daakia.Server.Http;

/// <summary>Problem-details (RFC 9457) error bodies with Daakia's stable <c>code</c> extension.</summary>
internal static class RestProblem
{
    public static IResult Of(int status, string code, string detail) => Results.Problem(
        detail: detail,
        statusCode: status,
        title: Title(status),
        type: $"https://daakia.dev/errors/{code}",
        extensions: new Dictionary<string, object?> { ["code"] = code });

    public static IResult Of(DaakiaException ex) => Of(ErrorCodes.HttpStatus(ex.Code), ErrorCodes.For(ex.Code), ex.Message);

    private static string Title(int status) => status switch
    {
        400 => "Bad request",
        403 => "Forbidden",
        404 => "Not found",
        413 => "Payload too large",
        429 => "Too many requests",
        503 => "Unavailable",
        507 => "Insufficient storage",
        _ => "Error",
    };
}
