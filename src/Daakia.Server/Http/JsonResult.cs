using System.Text.Json;
using Daakia.Server.WebSockets;
using Microsoft.AspNetCore.Http;

namespace Daakia.Server.Http;

/// <summary>A JSON response written with <see cref="Utf8JsonWriter"/> (the same writers the WebSocket API uses).</summary>
internal sealed class JsonResult(int status, byte[] body) : IResult
{
    public static JsonResult Write<TState>(int status, TState state, Action<Utf8JsonWriter, TState> write) =>
        new(status, FrameEncoder.Encode(state, write));

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = status;
        httpContext.Response.ContentType = "application/json; charset=utf-8";
        httpContext.Response.ContentLength = body.Length;
        await httpContext.Response.Body.WriteAsync(body);
    }
}
