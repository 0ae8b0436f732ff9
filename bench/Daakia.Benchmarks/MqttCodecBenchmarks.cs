using System.Buffers;
using BenchmarkDotNet.Attributes;
using Daakia.Mqtt;
using MQTTnet.Adapter;
using MQTTnet.Formatter;
using MQTTnet.Packets;

namespace Daakia.Benchmarks;

/// <summary>
/// Decoding and encoding a 256-byte QoS 1 PUBLISH with Daakia's codec and with MQTTnet 5.2's formatter (the library
/// we chose not to use for the broker): 3.1.1, and 5.0 with a content type and two user properties; one segment, and
/// split over two (as a packet that straddles two socket reads arrives).
/// </summary>
[MemoryDiagnoser]
public class MqttCodecBenchmarks
{
    private readonly MqttFrameReader _reader = new(1 << 20);
    private readonly ArrayBufferWriter<byte> _out = new(1024);
    private readonly MqttPacketFormatterAdapter _theirs311 = new(MqttProtocolVersion.V311, new MqttBufferWriter(4096, 65536));
    private readonly MqttPacketFormatterAdapter _theirs500 = new(MqttProtocolVersion.V500, new MqttBufferWriter(4096, 65536));
    private readonly byte[] _payload = new byte[256];
    private byte[] _props = [];
    private byte[] _publish311 = [];
    private byte[] _publish500 = [];
    private ReadOnlySequence<byte> _split500;
    private MqttPublishPacket _theirPacket500 = null!;

    [GlobalSetup]
    public void Setup()
    {
        _props = MqttEncoder.EncodeProperties(new MqttProperties { ContentType = "application/json", UserProperties = [new("trace", "abc123"), new("unit", "C")] });
        var w = new ArrayBufferWriter<byte>();
        MqttEncoder.TryWritePublish(w, MqttVersion.V311, "sensors/building-1/floor-2/temperature"u8, _payload, 1, false, false, 7);
        _publish311 = w.WrittenSpan.ToArray();
        w.Clear();
        MqttEncoder.TryWritePublish(w, MqttVersion.V500, "sensors/building-1/floor-2/temperature"u8, _payload, 1, false, false, 7, _props);
        _publish500 = w.WrittenSpan.ToArray();
        var first = new Segment(_publish500.AsMemory(0, 100));
        var last = first.Append(_publish500.AsMemory(100));
        _split500 = new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        _theirPacket500 = (MqttPublishPacket)_theirs500.Decode(Received(_publish500));
    }

    [Benchmark(Baseline = true)]
    public int DecodeOurs311() => DecodeOurs(new ReadOnlySequence<byte>(_publish311), MqttVersion.V311);

    [Benchmark]
    public int DecodeOurs500() => DecodeOurs(new ReadOnlySequence<byte>(_publish500), MqttVersion.V500);

    [Benchmark]
    public int DecodeOurs500Split() => DecodeOurs(_split500, MqttVersion.V500);

    [Benchmark]
    public int DecodeTheirs311() => ((MqttPublishPacket)_theirs311.Decode(Received(_publish311))).PacketIdentifier;

    [Benchmark]
    public int DecodeTheirs500() => ((MqttPublishPacket)_theirs500.Decode(Received(_publish500))).PacketIdentifier;

    [Benchmark]
    public int EncodeOurs500()
    {
        _out.ResetWrittenCount();
        MqttEncoder.TryWritePublish(_out, MqttVersion.V500, "sensors/building-1/floor-2/temperature"u8, _payload, 1, false, false, 7, _props);
        return _out.WrittenCount;
    }

    [Benchmark]
    public int EncodeTheirs500() => _theirs500.Encode(_theirPacket500).Length;

    private int DecodeOurs(ReadOnlySequence<byte> input, MqttVersion version)
    {
        _reader.TryRead(input, out var frame, out _, out _);
        MqttDecoder.TryDecodePublish(frame, version, out var p, out _);
        return p.PacketId + p.Topic.Length;
    }

    /// <summary>A received packet as MQTTnet's channel adapter hands it to the formatter (fixed header and body cut out).</summary>
    private static ReceivedMqttPacket Received(byte[] packet)
    {
        var headerLength = 2;
        while ((packet[headerLength - 1] & 0x80) != 0)
        {
            headerLength++;
        }

        return new ReceivedMqttPacket(packet[0], new ArraySegment<byte>(packet, headerLength, packet.Length - headerLength), packet.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long index = 0)
        {
            Memory = memory;
            RunningIndex = index;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
