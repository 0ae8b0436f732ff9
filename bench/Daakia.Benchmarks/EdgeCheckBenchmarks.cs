using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Daakia.Server.WebSockets;

namespace Daakia.Benchmarks;

/// <summary>
/// The edge check of every request frame (UTF-8 and lone surrogate escapes, <see cref="FrameText"/>) beside the JSON parse
/// the session does anyway, on the frames of the <c>ws-direct</c> load: a send with a 256-byte payload and an ack.
/// Also a 64 KiB payload with escapes, where the scan has to step from backslash to backslash.
/// </summary>
[MemoryDiagnoser]
public class EdgeCheckBenchmarks
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64 };

    private readonly byte[] _send = Encoding.UTF8.GetBytes(
        "{\"id\":12345,\"type\":\"send\",\"recipients\":[\"r-00000003\"],\"payload\":{\"t\":638999999999999999,\"s\":4711,\"pad\":\""
        + new string('x', 200) + "\"}}");

    private readonly byte[] _ack = Encoding.UTF8.GetBytes("{\"id\":12346,\"type\":\"ack\",\"message_ids\":[\"019ae1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b\"]}");

    private readonly byte[] _escaped = Encoding.UTF8.GetBytes(
        "{\"id\":1,\"type\":\"send\",\"recipients\":[\"bob\"],\"payload\":\"" + string.Concat(Enumerable.Repeat("caf\\u00e9 \\\"q\\\" \\ud83d\\ude00 ", 2400)) + "\"}");

    [Benchmark]
    public int CheckSend() => (int)FrameText.Check(_send);

    [Benchmark]
    public int ParseSend() => Parse(_send);

    [Benchmark]
    public int CheckAck() => (int)FrameText.Check(_ack);

    [Benchmark]
    public int ParseAck() => Parse(_ack);

    [Benchmark]
    public int CheckEscaped64K() => (int)FrameText.Check(_escaped);

    [Benchmark]
    public int ParseEscaped64K() => Parse(_escaped);

    private static int Parse(byte[] frame)
    {
        using var doc = JsonDocument.Parse(frame, Options);
        return doc.RootElement.GetProperty("type"u8).GetString()!.Length;
    }
}
