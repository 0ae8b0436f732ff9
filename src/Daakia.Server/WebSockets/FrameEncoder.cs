using System.Buffers;
using System.Text.Json;

namespace Daakia.Server.WebSockets;

/// <summary>Encodes one JSON frame into an exact-size array through a reusable thread-local buffer.</summary>
internal static class FrameEncoder
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    public static byte[] Encode<TState>(TState state, Action<Utf8JsonWriter, TState> write)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        var writer = t_writer ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true });
        writer.Reset(buffer);
        write(writer, state);
        writer.Flush();
        var result = buffer.WrittenSpan.ToArray();
        if (buffer.Capacity > 64 * 1024)
        {
            // Don't keep a large buffer on the thread after one large frame.
            t_buffer = null;
        }

        return result;
    }

    /// <summary>
    /// A cached frame with its last <paramref name="cut"/> bytes replaced by <paramref name="prefix"/>, the number
    /// <paramref name="n"/> and <paramref name="suffix"/>: how a redelivery's delivery count goes into the bytes shared
    /// by first deliveries, without encoding the letter again.
    /// </summary>
    public static byte[] Splice(byte[] cached, int cut, ReadOnlySpan<byte> prefix, int n, ReadOnlySpan<byte> suffix)
    {
        Span<byte> digits = stackalloc byte[11];
        System.Buffers.Text.Utf8Formatter.TryFormat(n, digits, out var written);
        var keep = cached.Length - cut;
        var result = new byte[keep + prefix.Length + written + suffix.Length];
        cached.AsSpan(0, keep).CopyTo(result);
        prefix.CopyTo(result.AsSpan(keep));
        digits[..written].CopyTo(result.AsSpan(keep + prefix.Length));
        suffix.CopyTo(result.AsSpan(keep + prefix.Length + written));
        return result;
    }
}
