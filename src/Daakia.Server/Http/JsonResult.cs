using System.Text.Json;
using Daakia.Server.WebSockets;
using Microsoft.AspNetCore.Http;

namespace Daakia.Server.Http;

/// <summary>A JSON response written with <see cref="Utf8JsonWriter"/> (the same writers the WebSocket API uses).</summary>
internal sealed class JsonResult(int status, byte[] body) : IResult
{
    public static JsonResult Write<TState>(int status, TState state, Action<Utf8JsonWriter, TState> write) =>
        new(status, FrameEncoder.Encode(state, write));

    /// <summary>A body of one number field, such as <c>{"count": 3}</c>.</summary>
    public static JsonResult Number(int status, string name, long value) => Write(status, (name, value), static (w, s) =>
    {
        w.WriteStartObject();
        w.WriteNumber(s.name, s.value);
        w.WriteEndObject();
    });

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = status;
        httpContext.Response.ContentType = "application/json; charset=utf-8";
        httpContext.Response.ContentLength = body.Length;
        await httpContext.Response.Body.WriteAsync(body);
    }
}
