using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.Http;

/// <summary>
/// The last word on an exception that escaped a request (registered with <c>UseExceptionHandler</c>). A request the
/// client broke — a parameter that does not bind, a body cut off or never finished, a connection reset — is the
/// client's fault: logged at Debug and answered with its status as problem+json. Anything else is the server's fault:
/// logged at Error and answered 500 <c>internal</c>, never with an empty body.
/// </summary>
internal sealed class RestExceptionHandler(ILoggerFactory loggers) : IExceptionHandler
{
    private readonly ILogger _logger = loggers.CreateLogger(RestLog.Category);

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var request = httpContext.Request;
        if (httpContext.RequestAborted.IsCancellationRequested)
        {
            // The client went away (a reset, a body never finished): there is nobody to answer.
            RestLog.Aborted(_logger, request.Method, request.Path.Value ?? "", exception.Message);
            return true;
        }

        if (exception is BadHttpRequestException bad)
        {
            RestLog.BadRequest(_logger, request.Method, request.Path.Value ?? "", bad.StatusCode, bad.Message);
            if (!httpContext.Response.HasStarted)
            {
                await RestProblem.WriteAsync(httpContext, bad.StatusCode, ErrorCodes.ForHttpStatus(bad.StatusCode), bad.Message);
            }

            return true;
        }

        RestLog.Failed(_logger, exception, request.Method, request.Path.Value ?? "");
        if (!httpContext.Response.HasStarted)
        {
            await RestProblem.WriteAsync(httpContext, StatusCodes.Status500InternalServerError, ErrorCodes.Internal, RestProblem.Detail(httpContext, 500));
        }

        return true;
    }
}
