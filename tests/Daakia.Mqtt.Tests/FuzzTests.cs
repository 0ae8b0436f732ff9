using System.Buffers;
using CsCheck;

namespace Daakia.Mqtt.Tests;

/// <summary>Random and mutated input never throws out of the codec, never consumes more than it was given, and
/// generated valid packets round-trip.</summary>
public class FuzzTests
{
    private static readonly string[] SampleNames = Samples.All().Select(s => s.Name).ToArray();

    /// <summary>Frames and decodes everything in <paramref name="bytes"/> as both versions; false on any exception.</summary>
    private static bool SurvivesBothVersions(byte[] bytes, int cut)
    {
        foreach (var version in new[] { MqttVersion.V311, MqttVersion.V500 })
        {
            var reader = new MqttFrameReader(4096);
            var input = Wire.Segments(bytes, cut);
            while (true)
            {
                var status = reader.TryRead(input, out var frame, out var consumed, out _);
                if (status != MqttFrameStatus.Complete)
                {
                    break;
                }

                var used = input.Slice(0, consumed).Length;
                if (used <= 0 || used > input.Length)
                {
                    return false;
                }

                _ = Wire.Describe(frame, version);
                input = input.Slice(consumed);
            }
        }

        return true;
    }

    [Fact]
    public void RandomBytes_NeverThrow() =>
        Gen.Select(Gen.Byte.Array[0, 400], Gen.Int[0, 400])
            .Sample((bytes, cut) => SurvivesBothVersions(bytes, cut), iter: 20_000);

    [Fact]
    public void RandomBytesBehindAValidFixedHeader_NeverThrow() =>
        Gen.Select(Gen.Int[1, 15], Gen.Int[0, 15], Gen.Byte.Array[0, 120])
            .Sample((type, flags, body) => SurvivesBothVersions([(byte)((type << 4) | flags), (byte)body.Length, .. body], 2), iter: 20_000);

    [Fact]
    public void MutatedValidPackets_NeverThrow() =>
        Gen.Select(Gen.Int[0, SampleNames.Length - 1], Gen.Int[0, 2], Gen.Int[0, 1000], Gen.Byte)
            .Sample((which, kind, where, value) =>
            {
                var bytes = Samples.Named(SampleNames[which]).Bytes.ToList();
                var at = where % bytes.Count;
                switch (kind)
                {
                    case 0: bytes[at] = value; break;
                    case 1: bytes.Insert(at, value); break;
                    default: bytes.RemoveAt(at); break;
                }

                return SurvivesBothVersions([.. bytes], at);
            }, iter: 20_000);

    private static readonly Gen<string> TopicName = Gen.String[Gen.OneOf(Gen.Char['a', 'z'], Gen.Const('/'), Gen.Const('ü'), Gen.Const('$'), Gen.Const(' ')), 1, 40];

    [Fact]
    public void GeneratedPublishes_RoundTrip() =>
        Gen.Select(TopicName, Gen.Byte.Array[0, 600], Gen.Int[0, 2], Gen.Bool, Gen.UShort[1, ushort.MaxValue], Gen.Bool)
            .Sample((topic, payload, qos, retain, id, v5) =>
            {
                var version = v5 ? MqttVersion.V500 : MqttVersion.V311;
                var topicBytes = System.Text.Encoding.UTF8.GetBytes(topic);
                var bytes = Wire.Encode(w => MqttEncoder.TryWritePublish(w, version, topicBytes, payload, (byte)qos, retain, false, qos > 0 ? id : (ushort)0));
                var frame = Wire.Frame(bytes);
                return MqttDecoder.TryDecodePublish(frame, version, out var p, out _)
                    && p.TopicString() == topic && p.Payload.Span.SequenceEqual(payload) && p.Qos == qos && p.Retain == retain
                    && p.PacketId == (qos > 0 ? id : 0);
            }, iter: 5_000);

    [Fact]
    public void GeneratedSubscribes_RoundTrip() =>
        Gen.Select(TopicName.Array[1, 5], Gen.Int[0, 2], Gen.Int[0, 2], Gen.Bool)
            .Sample((filters, qos, handling, v5) =>
            {
                var version = v5 ? MqttVersion.V500 : MqttVersion.V311;
                var subs = filters.Select(f => new TopicSubscription(f, (byte)qos, false, false, v5 ? (byte)handling : (byte)0)).ToList();
                var bytes = Wire.Encode(w => MqttEncoder.WriteSubscribe(w, version, new SubscribePacket { PacketId = 1, Filters = subs }));
                return MqttDecoder.TryDecodeSubscribe(Wire.Frame(bytes), version, out var s, out _) && s.Filters.SequenceEqual(subs);
            }, iter: 3_000);

    [Fact]
    public void DecodingAPublish_AllocatesNothing()
    {
        var props = MqttEncoder.EncodeProperties(Samples.FullMessageProperties());
        var bytes = Wire.Encode(w => MqttEncoder.TryWritePublish(w, MqttVersion.V500, "sensors/1/temp"u8, new byte[256], 1, false, false, 9, props));
        var split = Wire.Segments(bytes, 10);
        var reader = new MqttFrameReader(4096);
        var inputs = new[] { new ReadOnlySequence<byte>(bytes), split };
        long total = 0;
        for (var round = 0; round < 2; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
            {
                foreach (var input in inputs)
                {
                    reader.TryRead(input, out var frame, out _, out _);
                    MqttDecoder.TryDecodePublish(frame, MqttVersion.V500, out var p, out _);
                    total += p.Payload.Length;
                    var e = p.EnumerateProperties();
                    while (e.MoveNext())
                    {
                        total += e.Current.Value.Length;
                    }
                }
            }

            if (round == 1)
            {
                Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
            }
        }

        Assert.True(total > 0);
    }
}
