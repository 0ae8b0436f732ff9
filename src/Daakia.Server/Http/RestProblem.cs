using Daakia.Core;
using Microsoft.AspNetCore.Http;

namespace Daakia.Server.Http;

/// <summary>
/// Problem-details (RFC 9457) error bodies with Daakia's stable <c>code</c> extension. Every HTTP error takes this
/// shape: the handlers' own refusals through <see cref="Of(int, string, string)"/>, and errors produced without a body
/// (routing's 404/405/415, binding, a bare status) through the status-code pages and <see cref="Customize"/>.
/// </summary>
internal static class RestProblem
{
    private const string TypeBase = "https://daakia.dev/errors/";

    public static IResult Of(int status, string code, string detail) => Results.Problem(
        detail: detail,
        statusCode: status,
        title: Title(status),
        type: TypeBase + code,
        extensions: new Dictionary<string, object?> { ["code"] = code });

    public static IResult Of(DaakiaException ex) => Of(ErrorCodes.HttpStatus(ex.Code), ErrorCodes.For(ex.Code), ex.Message);

    /// <summary>Writes a problem body now, outside an endpoint (middleware, the WebSocket upgrade).</summary>
    public static Task WriteAsync(HttpContext http, int status, string code, string detail) => Of(status, code, detail).ExecuteAsync(http);

    /// <summary>
    /// Fills a problem that ASP.NET Core produced itself (status-code pages, the exception handler): the <c>code</c>,
    /// our <c>type</c> and title, and a detail that says what the status means. Problems that carry a code are ours.
    /// </summary>
    public static void Customize(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        if (problem.Extensions.ContainsKey("code"))
        {
            return;
        }

        var status = problem.Status ?? context.HttpContext.Response.StatusCode;
        var code = ErrorCodes.ForHttpStatus(status);
        problem.Extensions["code"] = code;
        problem.Type = TypeBase + code;
        problem.Title = Title(status);
        problem.Detail ??= Detail(context.HttpContext, status);
    }

    /// <summary>The detail of an error that has no message of its own.</summary>
    public static string Detail(HttpContext http, int status) => status switch
    {
        404 => "There is no such resource; the REST API is described at /openapi/v1.json.",
        405 => $"{http.Request.Method} is not allowed here; allowed: {http.Response.Headers.Allow}.",
        413 => "The request body is too large.",
        415 => "The body must be JSON: Content-Type: application/json (UTF-8).",
        >= 500 => "The server could not complete the request.",
        _ => "The request is not valid.",
    };

    public static string Title(int status) => status switch
    {
        400 => "Bad request",
        403 => "Forbidden",
        404 => "Not found",
        405 => "Method not allowed",
        413 => "Payload too large",
        415 => "Unsupported media type",
        421 => "Misdirected request",
        429 => "Too many requests",
        500 => "Internal error",
        503 => "Unavailable",
        507 => "Insufficient storage",
        _ => "Error",
    };
}
