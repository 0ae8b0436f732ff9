using System.Text.Json.Nodes;

namespace Daakia.Testing;

/// <summary>An <c>error</c> frame arrived while a test waited for a frame of another type or kind.</summary>
public sealed class UnexpectedErrorFrameException(string expected, JsonObject frame)
    : Exception($"Waiting for '{expected}', the server sent an error instead: {frame.ToJsonString()}")
{
    public JsonObject Frame { get; } = frame;
}
