using System.Buffers;
using System.Text.Json;

namespace Daakia.Server.Http;

/// <summary>
/// A request body checked once at the edge: valid UTF-8, one JSON object, no escaped lone surrogate. The document reads
/// straight from a pooled buffer (no second copy); disposing returns it.
/// </summary>
internal sealed class RestBody : IDisposable
{
    private readonly JsonDocument _document;
    private byte[]? _buffer;

    public RestBody(JsonDocument document, byte[] buffer)
    {
        _document = document;
        _buffer = buffer;
    }

    public JsonElement RootElement => _document.RootElement;

    public void Dispose()
    {
        _document.Dispose();
        if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
