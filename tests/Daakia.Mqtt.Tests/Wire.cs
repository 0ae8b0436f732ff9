using System.Buffers;
using System.Text;

namespace Daakia.Mqtt.Tests;

/// <summary>Encodes sample packets and decodes whatever comes back into one comparable description.</summary>
internal static class Wire
{
    public static byte[] Encode(Action<ArrayBufferWriter<byte>> write)
    {
        var w = new ArrayBufferWriter<byte>();
        write(w);
        return w.WrittenSpan.ToArray();
    }

    public static MqttFrame Frame(byte[] bytes, int maxPacketSize = 1 << 20)
    {
        var status = new MqttFrameReader(maxPacketSize).TryRead(new ReadOnlySequence<byte>(bytes), out var frame, out var consumed, out var error);
        Assert.True(status == MqttFrameStatus.Complete, $"{status}: {error.Message}");
        Assert.Equal(bytes.Length, (int)new ReadOnlySequence<byte>(bytes).Slice(0, consumed).Length);
        return frame;
    }

    /// <summary>Splits bytes into segments at the given offsets.</summary>
    public static ReadOnlySequence<byte> Segments(byte[] bytes, params int[] cuts)
    {
        var bounds = cuts.Where(c => c > 0 && c < bytes.Length).Distinct().Order().Prepend(0).Append(bytes.Length).ToArray();
        Segment? first = null, last = null;
        for (var i = 0; i + 1 < bounds.Length; i++)
        {
            var chunk = bytes.AsMemory(bounds[i], bounds[i + 1] - bounds[i]);
            if (first is null)
            {
                first = last = new Segment(chunk, 0);
            }
            else
            {
                last = last!.Append(chunk);
            }
        }

        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    /// <summary>Decodes a frame of any type into a canonical text, or "error 0xNN" when it does not decode.</summary>
    public static string Describe(in MqttFrame frame, MqttVersion version, bool fromClient = true)
    {
        switch (frame.Type)
        {
            case MqttPacketType.Connect:
                if (!MqttDecoder.TryDecodeConnect(frame, out var c, out var ce, out _))
                {
                    return Err(ce);
                }

                return $"CONNECT v{(byte)c.Version} clean={c.CleanStart} ka={c.KeepAlive} id={c.ClientId} user={c.UserName} pw={Hex(c.Password)} props={Props(c.Properties)} " +
                    (c.Will is { } w ? $"will={w.Topic}/{Hex(w.Payload)}/q{w.Qos}/r{w.Retain}/{Props(w.Properties)}" : "nowill");
            case MqttPacketType.ConnAck:
                return MqttDecoder.TryDecodeConnAck(frame, version, out var ca, out var cae) ? $"CONNACK sp={ca.SessionPresent} code={ca.Code} props={Props(ca.Properties)}" : Err(cae);
            case MqttPacketType.Publish:
                if (!MqttDecoder.TryDecodePublish(frame, version, out var p, out var pe, fromClient))
                {
                    return Err(pe);
                }

                var users = new StringBuilder();
                var e = p.EnumerateProperties();
                while (e.MoveNext())
                {
                    if (e.Current.Id == MqttPropertyId.UserProperty)
                    {
                        users.Append(e.Current.String).Append('=').Append(e.Current.PairValue).Append(';');
                    }
                    else if (e.Current.Id == MqttPropertyId.SubscriptionIdentifier)
                    {
                        users.Append("sid").Append(e.Current.Number).Append(';');
                    }
                }

                return $"PUBLISH q{p.Qos} dup={p.Dup} r={p.Retain} id={p.PacketId} topic={p.TopicString()} payload={Hex(p.Payload.ToArray())} alias={p.TopicAlias} " +
                    $"pfi={p.PayloadFormatIndicator} exp={p.MessageExpiryInterval} ct={(p.HasContentType ? Encoding.UTF8.GetString(p.ContentType.Span) : "-")} " +
                    $"rt={(p.HasResponseTopic ? Encoding.UTF8.GetString(p.ResponseTopic.Span) : "-")} cd={(p.HasCorrelationData ? Hex(p.CorrelationData.ToArray()) : "-")} users={users}";
            case MqttPacketType.PubAck or MqttPacketType.PubRec or MqttPacketType.PubRel or MqttPacketType.PubComp:
                return MqttDecoder.TryDecodeAck(frame, version, out var a, out var ae) ? $"{a.Type} id={a.PacketId} reason={a.Reason} props={Props(a.Properties)}" : Err(ae);
            case MqttPacketType.Subscribe:
                return MqttDecoder.TryDecodeSubscribe(frame, version, out var s, out var se)
                    ? $"SUBSCRIBE id={s.PacketId} props={Props(s.Properties)} " + string.Join(",", s.Filters.Select(f => $"{f.Filter}/q{f.Qos}/nl{f.NoLocal}/rap{f.RetainAsPublished}/rh{f.RetainHandling}"))
                    : Err(se);
            case MqttPacketType.SubAck:
                return MqttDecoder.TryDecodeSubAck(frame, version, out var sa, out var sae) ? $"SUBACK id={sa.PacketId} props={Props(sa.Properties)} codes={Hex(sa.Codes)}" : Err(sae);
            case MqttPacketType.Unsubscribe:
                return MqttDecoder.TryDecodeUnsubscribe(frame, version, out var u, out var ue) ? $"UNSUBSCRIBE id={u.PacketId} props={Props(u.Properties)} {string.Join(",", u.Filters)}" : Err(ue);
            case MqttPacketType.UnsubAck:
                return MqttDecoder.TryDecodeUnsubAck(frame, version, out var ua, out var uae) ? $"UNSUBACK id={ua.PacketId} props={Props(ua.Properties)} codes={Hex(ua.Codes)}" : Err(uae);
            case MqttPacketType.PingReq or MqttPacketType.PingResp:
                return MqttDecoder.TryDecodeEmpty(frame, out var pie) ? frame.Type.ToString() : Err(pie);
            default:
                return MqttDecoder.TryDecodeReason(frame, version, out var r, out var re) ? $"{r.Type} reason={r.Reason} props={Props(r.Properties)}" : Err(re);
        }
    }

    public static string Err(MqttError e) => $"error 0x{(byte)e.Code:X2}";

    public static string Props(MqttProperties? p)
    {
        if (p is null)
        {
            return "none";
        }

        var parts = new List<string>();
        foreach (var prop in typeof(MqttProperties).GetProperties())
        {
            var v = prop.GetValue(p);
            if (v is null)
            {
                continue;
            }

            parts.Add(prop.Name + "=" + v switch
            {
                byte[] b => Hex(b),
                List<int> l => string.Join("|", l),
                List<KeyValuePair<string, string>> kv => string.Join("|", kv.Select(x => x.Key + ":" + x.Value)),
                _ => v.ToString(),
            });
        }

        return parts.Count == 0 ? "empty" : string.Join(";", parts);
    }

    public static string Hex(byte[]? b) => b is null ? "null" : Convert.ToHexString(b);

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long index)
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
