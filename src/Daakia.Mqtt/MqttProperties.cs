using System.Buffers.Binary;
using System.Text;

namespace Daakia.Mqtt;

/// <summary>Where a property block sits: each property is allowed in some of these only (MQTT 5.0 §2.2.2.2).</summary>
[Flags]
internal enum PropertyContext : ushort
{
    None = 0,
    Connect = 1 << 0,
    ConnAck = 1 << 1,
    Publish = 1 << 2,
    Will = 1 << 3,
    /// <summary>PUBACK, PUBREC, PUBREL and PUBCOMP.</summary>
    Ack = 1 << 4,
    Subscribe = 1 << 5,
    SubAck = 1 << 6,
    Unsubscribe = 1 << 7,
    UnsubAck = 1 << 8,
    Disconnect = 1 << 9,
    Auth = 1 << 10,
    All = 0x7FF,
}

/// <summary>The wire type of a property's value (MQTT 5.0 §1.5).</summary>
internal enum PropertyType : byte
{
    Unknown,
    Byte,
    UInt16,
    UInt32,
    VarInt,
    Utf8,
    Binary,
    Pair,
}

/// <summary>
/// The properties of one packet, for the packets that are not on the hot path (CONNECT, CONNACK, SUBSCRIBE, acks with
/// a reason, DISCONNECT, AUTH, a will). PUBLISH reads its properties without allocating (<see cref="PublishPacket"/>).
/// </summary>
internal sealed class MqttProperties
{
    public byte? PayloadFormatIndicator { get; set; }

    public uint? MessageExpiryInterval { get; set; }

    public string? ContentType { get; set; }

    public string? ResponseTopic { get; set; }

    public byte[]? CorrelationData { get; set; }

    /// <summary>Subscription identifiers: one in SUBSCRIBE, any number in a PUBLISH sent to a client.</summary>
    public List<int>? SubscriptionIdentifiers { get; set; }

    public uint? SessionExpiryInterval { get; set; }

    public string? AssignedClientIdentifier { get; set; }

    public ushort? ServerKeepAlive { get; set; }

    public string? AuthenticationMethod { get; set; }

    public byte[]? AuthenticationData { get; set; }

    public byte? RequestProblemInformation { get; set; }

    public uint? WillDelayInterval { get; set; }

    public byte? RequestResponseInformation { get; set; }

    public string? ResponseInformation { get; set; }

    public string? ServerReference { get; set; }

    public string? ReasonString { get; set; }

    public ushort? ReceiveMaximum { get; set; }

    public ushort? TopicAliasMaximum { get; set; }

    public ushort? TopicAlias { get; set; }

    public byte? MaximumQos { get; set; }

    public byte? RetainAvailable { get; set; }

    public List<KeyValuePair<string, string>>? UserProperties { get; set; }

    public uint? MaximumPacketSize { get; set; }

    public byte? WildcardSubscriptionAvailable { get; set; }

    public byte? SubscriptionIdentifierAvailable { get; set; }

    public byte? SharedSubscriptionAvailable { get; set; }

    /// <summary>The type of each property identifier (index = identifier); Unknown where none is defined.</summary>
    private static readonly PropertyType[] Types = BuildTypes();

    /// <summary>Where each property identifier is allowed (index = identifier).</summary>
    private static readonly PropertyContext[] Allowed = BuildAllowed();

    public static PropertyType TypeOf(byte id) => id < Types.Length ? Types[id] : PropertyType.Unknown;

    /// <summary>
    /// Checks a property block: every identifier known and allowed in <paramref name="context"/>, none twice that may
    /// appear once (User Property may repeat anywhere, Subscription Identifier in PUBLISH), values in range. Throws
    /// <see cref="MqttDecodeException"/> (malformed for a bad encoding, protocol error for a rule).
    /// </summary>
    public static void Validate(ReadOnlyMemory<byte> block, PropertyContext context)
    {
        ulong seen = 0;
        var e = new MqttPropertyEnumerator(block);
        while (e.MoveNext())
        {
            Check(e.Current, context, ref seen);
        }
    }

    /// <summary>One step of <see cref="Validate"/>, for a reader that takes the values in the same pass (PUBLISH).</summary>
    public static void Check(in MqttProperty p, PropertyContext context, ref ulong seen)
    {
        var id = (byte)p.Id;
        if ((Allowed[id] & context) == 0)
        {
            throw MqttDecodeException.Protocol($"Property 0x{id:X2} is not allowed in this packet.");
        }

        var repeatable = p.Id == MqttPropertyId.UserProperty
            || (p.Id == MqttPropertyId.SubscriptionIdentifier && context == PropertyContext.Publish);
        var bit = 1UL << id;
        if (!repeatable && (seen & bit) != 0)
        {
            throw MqttDecodeException.Protocol($"Property 0x{id:X2} appears more than once.");
        }

        seen |= bit;
        CheckValue(p);
    }

    private static void CheckValue(in MqttProperty p)
    {
        switch (p.Id)
        {
            case MqttPropertyId.PayloadFormatIndicator:
            case MqttPropertyId.RequestProblemInformation:
            case MqttPropertyId.RequestResponseInformation:
            case MqttPropertyId.MaximumQos:
            case MqttPropertyId.RetainAvailable:
            case MqttPropertyId.WildcardSubscriptionAvailable:
            case MqttPropertyId.SubscriptionIdentifierAvailable:
            case MqttPropertyId.SharedSubscriptionAvailable:
                if (p.Number > 1)
                {
                    throw MqttDecodeException.Protocol($"Property 0x{(byte)p.Id:X2} must be 0 or 1.");
                }

                break;
            case MqttPropertyId.ReceiveMaximum:
            case MqttPropertyId.MaximumPacketSize:
            case MqttPropertyId.TopicAlias:
            case MqttPropertyId.SubscriptionIdentifier:
                if (p.Number == 0)
                {
                    throw MqttDecodeException.Protocol($"Property 0x{(byte)p.Id:X2} must not be 0.");
                }

                break;
        }
    }

    /// <summary>Reads a validated block into an object.</summary>
    public static MqttProperties? Read(ReadOnlyMemory<byte> block, PropertyContext context)
    {
        Validate(block, context);
        if (block.IsEmpty)
        {
            return null;
        }

        var props = new MqttProperties();
        var e = new MqttPropertyEnumerator(block);
        while (e.MoveNext())
        {
            props.Set(e.Current);
        }

        return props;
    }

    private void Set(in MqttProperty p)
    {
        var n = p.Number;
        switch (p.Id)
        {
            case MqttPropertyId.PayloadFormatIndicator: PayloadFormatIndicator = (byte)n; break;
            case MqttPropertyId.MessageExpiryInterval: MessageExpiryInterval = n; break;
            case MqttPropertyId.ContentType: ContentType = p.String; break;
            case MqttPropertyId.ResponseTopic: ResponseTopic = p.String; break;
            case MqttPropertyId.CorrelationData: CorrelationData = p.Value.ToArray(); break;
            case MqttPropertyId.SubscriptionIdentifier: (SubscriptionIdentifiers ??= []).Add((int)n); break;
            case MqttPropertyId.SessionExpiryInterval: SessionExpiryInterval = n; break;
            case MqttPropertyId.AssignedClientIdentifier: AssignedClientIdentifier = p.String; break;
            case MqttPropertyId.ServerKeepAlive: ServerKeepAlive = (ushort)n; break;
            case MqttPropertyId.AuthenticationMethod: AuthenticationMethod = p.String; break;
            case MqttPropertyId.AuthenticationData: AuthenticationData = p.Value.ToArray(); break;
            case MqttPropertyId.RequestProblemInformation: RequestProblemInformation = (byte)n; break;
            case MqttPropertyId.WillDelayInterval: WillDelayInterval = n; break;
            case MqttPropertyId.RequestResponseInformation: RequestResponseInformation = (byte)n; break;
            case MqttPropertyId.ResponseInformation: ResponseInformation = p.String; break;
            case MqttPropertyId.ServerReference: ServerReference = p.String; break;
            case MqttPropertyId.ReasonString: ReasonString = p.String; break;
            case MqttPropertyId.ReceiveMaximum: ReceiveMaximum = (ushort)n; break;
            case MqttPropertyId.TopicAliasMaximum: TopicAliasMaximum = (ushort)n; break;
            case MqttPropertyId.TopicAlias: TopicAlias = (ushort)n; break;
            case MqttPropertyId.MaximumQos: MaximumQos = (byte)n; break;
            case MqttPropertyId.RetainAvailable: RetainAvailable = (byte)n; break;
            case MqttPropertyId.UserProperty: (UserProperties ??= []).Add(new(p.String, p.PairValue)); break;
            case MqttPropertyId.MaximumPacketSize: MaximumPacketSize = n; break;
            case MqttPropertyId.WildcardSubscriptionAvailable: WildcardSubscriptionAvailable = (byte)n; break;
            case MqttPropertyId.SubscriptionIdentifierAvailable: SubscriptionIdentifierAvailable = (byte)n; break;
            case MqttPropertyId.SharedSubscriptionAvailable: SharedSubscriptionAvailable = (byte)n; break;
        }
    }

    /// <summary>The encoded size of the block (without its length prefix); <paramref name="lean"/> leaves out the reason
    /// string and user properties (what a packet drops first to fit the peer's Maximum Packet Size, MQTT-3.1.2-25).</summary>
    public int Size(bool lean = false)
    {
        var size = 0;
        size += PayloadFormatIndicator is null ? 0 : 2;
        size += MessageExpiryInterval is null ? 0 : 5;
        size += StringSize(ContentType);
        size += StringSize(ResponseTopic);
        size += CorrelationData is null ? 0 : 3 + CorrelationData.Length;
        if (SubscriptionIdentifiers is { } ids)
        {
            foreach (var id in ids)
            {
                size += 1 + MqttWire.VarIntSize(id);
            }
        }

        size += SessionExpiryInterval is null ? 0 : 5;
        size += StringSize(AssignedClientIdentifier);
        size += ServerKeepAlive is null ? 0 : 3;
        size += StringSize(AuthenticationMethod);
        size += AuthenticationData is null ? 0 : 3 + AuthenticationData.Length;
        size += RequestProblemInformation is null ? 0 : 2;
        size += WillDelayInterval is null ? 0 : 5;
        size += RequestResponseInformation is null ? 0 : 2;
        size += StringSize(ResponseInformation);
        size += StringSize(ServerReference);
        size += lean ? 0 : StringSize(ReasonString);
        size += ReceiveMaximum is null ? 0 : 3;
        size += TopicAliasMaximum is null ? 0 : 3;
        size += TopicAlias is null ? 0 : 3;
        size += MaximumQos is null ? 0 : 2;
        size += RetainAvailable is null ? 0 : 2;
        if (!lean && UserProperties is { } users)
        {
            foreach (var (k, v) in users)
            {
                size += 5 + Encoding.UTF8.GetByteCount(k) + Encoding.UTF8.GetByteCount(v);
            }
        }

        size += MaximumPacketSize is null ? 0 : 5;
        size += WildcardSubscriptionAvailable is null ? 0 : 2;
        size += SubscriptionIdentifierAvailable is null ? 0 : 2;
        size += SharedSubscriptionAvailable is null ? 0 : 2;
        return size;
    }

    /// <summary>Writes the block (without its length prefix); returns the bytes written, <see cref="Size"/> of them.</summary>
    public int Write(Span<byte> span, bool lean = false)
    {
        var w = new SpanWriter(span);
        w.Byte(MqttPropertyId.PayloadFormatIndicator, PayloadFormatIndicator);
        w.UInt32(MqttPropertyId.MessageExpiryInterval, MessageExpiryInterval);
        w.String(MqttPropertyId.ContentType, ContentType);
        w.String(MqttPropertyId.ResponseTopic, ResponseTopic);
        w.Binary(MqttPropertyId.CorrelationData, CorrelationData);
        if (SubscriptionIdentifiers is { } ids)
        {
            foreach (var id in ids)
            {
                w.Raw((byte)MqttPropertyId.SubscriptionIdentifier);
                w.VarInt(id);
            }
        }

        w.UInt32(MqttPropertyId.SessionExpiryInterval, SessionExpiryInterval);
        w.String(MqttPropertyId.AssignedClientIdentifier, AssignedClientIdentifier);
        w.UInt16(MqttPropertyId.ServerKeepAlive, ServerKeepAlive);
        w.String(MqttPropertyId.AuthenticationMethod, AuthenticationMethod);
        w.Binary(MqttPropertyId.AuthenticationData, AuthenticationData);
        w.Byte(MqttPropertyId.RequestProblemInformation, RequestProblemInformation);
        w.UInt32(MqttPropertyId.WillDelayInterval, WillDelayInterval);
        w.Byte(MqttPropertyId.RequestResponseInformation, RequestResponseInformation);
        w.String(MqttPropertyId.ResponseInformation, ResponseInformation);
        w.String(MqttPropertyId.ServerReference, ServerReference);
        if (!lean)
        {
            w.String(MqttPropertyId.ReasonString, ReasonString);
        }

        w.UInt16(MqttPropertyId.ReceiveMaximum, ReceiveMaximum);
        w.UInt16(MqttPropertyId.TopicAliasMaximum, TopicAliasMaximum);
        w.UInt16(MqttPropertyId.TopicAlias, TopicAlias);
        w.Byte(MqttPropertyId.MaximumQos, MaximumQos);
        w.Byte(MqttPropertyId.RetainAvailable, RetainAvailable);
        if (!lean && UserProperties is { } users)
        {
            foreach (var (k, v) in users)
            {
                w.Raw((byte)MqttPropertyId.UserProperty);
                w.Utf8(k);
                w.Utf8(v);
            }
        }

        w.UInt32(MqttPropertyId.MaximumPacketSize, MaximumPacketSize);
        w.Byte(MqttPropertyId.WildcardSubscriptionAvailable, WildcardSubscriptionAvailable);
        w.Byte(MqttPropertyId.SubscriptionIdentifierAvailable, SubscriptionIdentifierAvailable);
        w.Byte(MqttPropertyId.SharedSubscriptionAvailable, SharedSubscriptionAvailable);
        return w.Written;
    }

    private static int StringSize(string? s) => s is null ? 0 : 3 + Encoding.UTF8.GetByteCount(s);

    private static PropertyType[] BuildTypes()
    {
        var t = new PropertyType[0x2B];
        foreach (var id in new byte[] { 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A })
        {
            t[id] = PropertyType.Byte;
        }

        foreach (var id in new byte[] { 0x13, 0x21, 0x22, 0x23 })
        {
            t[id] = PropertyType.UInt16;
        }

        foreach (var id in new byte[] { 0x02, 0x11, 0x18, 0x27 })
        {
            t[id] = PropertyType.UInt32;
        }

        t[0x0B] = PropertyType.VarInt;
        foreach (var id in new byte[] { 0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F })
        {
            t[id] = PropertyType.Utf8;
        }

        t[0x09] = PropertyType.Binary;
        t[0x16] = PropertyType.Binary;
        t[0x26] = PropertyType.Pair;
        return t;
    }

    private static PropertyContext[] BuildAllowed()
    {
        const PropertyContext message = PropertyContext.Publish | PropertyContext.Will;
        var a = new PropertyContext[0x2B];
        a[0x01] = message;
        a[0x02] = message;
        a[0x03] = message;
        a[0x08] = message;
        a[0x09] = message;
        a[0x0B] = PropertyContext.Publish | PropertyContext.Subscribe;
        a[0x11] = PropertyContext.Connect | PropertyContext.ConnAck | PropertyContext.Disconnect;
        a[0x12] = PropertyContext.ConnAck;
        a[0x13] = PropertyContext.ConnAck;
        a[0x15] = PropertyContext.Connect | PropertyContext.ConnAck | PropertyContext.Auth;
        a[0x16] = PropertyContext.Connect | PropertyContext.ConnAck | PropertyContext.Auth;
        a[0x17] = PropertyContext.Connect;
        a[0x18] = PropertyContext.Will;
        a[0x19] = PropertyContext.Connect;
        a[0x1A] = PropertyContext.ConnAck;
        a[0x1C] = PropertyContext.ConnAck | PropertyContext.Disconnect;
        a[0x1F] = PropertyContext.ConnAck | PropertyContext.Ack | PropertyContext.SubAck | PropertyContext.UnsubAck | PropertyContext.Disconnect | PropertyContext.Auth;
        a[0x21] = PropertyContext.Connect | PropertyContext.ConnAck;
        a[0x22] = PropertyContext.Connect | PropertyContext.ConnAck;
        a[0x23] = PropertyContext.Publish;
        a[0x24] = PropertyContext.ConnAck;
        a[0x25] = PropertyContext.ConnAck;
        a[0x26] = PropertyContext.All;
        a[0x27] = PropertyContext.Connect | PropertyContext.ConnAck;
        a[0x28] = PropertyContext.ConnAck;
        a[0x29] = PropertyContext.ConnAck;
        a[0x2A] = PropertyContext.ConnAck;
        return a;
    }

    /// <summary>Writes property values into a span sized by <see cref="Size"/>.</summary>
    private ref struct SpanWriter(Span<byte> span)
    {
        private readonly Span<byte> _span = span;

        public int Written { get; private set; }

        public void Raw(byte b) => _span[Written++] = b;

        public void VarInt(int v) => Written += MqttWire.WriteVarInt(_span[Written..], v);

        public void Utf8(string s)
        {
            var n = Encoding.UTF8.GetBytes(s, _span[(Written + 2)..]);
            BinaryPrimitives.WriteUInt16BigEndian(_span[Written..], (ushort)n);
            Written += 2 + n;
        }

        public void Byte(MqttPropertyId id, byte? v)
        {
            if (v is { } b)
            {
                Raw((byte)id);
                Raw(b);
            }
        }

        public void UInt16(MqttPropertyId id, ushort? v)
        {
            if (v is { } n)
            {
                Raw((byte)id);
                BinaryPrimitives.WriteUInt16BigEndian(_span[Written..], n);
                Written += 2;
            }
        }

        public void UInt32(MqttPropertyId id, uint? v)
        {
            if (v is { } n)
            {
                Raw((byte)id);
                BinaryPrimitives.WriteUInt32BigEndian(_span[Written..], n);
                Written += 4;
            }
        }

        public void String(MqttPropertyId id, string? s)
        {
            if (s is not null)
            {
                Raw((byte)id);
                Utf8(s);
            }
        }

        public void Binary(MqttPropertyId id, byte[]? data)
        {
            if (data is not null)
            {
                Raw((byte)id);
                BinaryPrimitives.WriteUInt16BigEndian(_span[Written..], (ushort)data.Length);
                data.CopyTo(_span[(Written + 2)..]);
                Written += 2 + data.Length;
            }
        }
    }
}

/// <summary>One property as <see cref="MqttPropertyEnumerator"/> reads it: its id, its number (integer types) or its
/// value bytes (strings, binary; for a pair, the key, with <see cref="PairValueBytes"/> the value).</summary>
internal readonly struct MqttProperty
{
    public MqttProperty(MqttPropertyId id, uint number, ReadOnlyMemory<byte> value, ReadOnlyMemory<byte> pairValue)
    {
        Id = id;
        Number = number;
        Value = value;
        PairValueBytes = pairValue;
    }

    public MqttPropertyId Id { get; }

    public uint Number { get; }

    public ReadOnlyMemory<byte> Value { get; }

    public ReadOnlyMemory<byte> PairValueBytes { get; }

    public string String => Encoding.UTF8.GetString(Value.Span);

    public string PairValue => Encoding.UTF8.GetString(PairValueBytes.Span);
}

/// <summary>
/// Walks a property block without allocating. Each step checks the encoding (a known identifier, the value inside
/// the block, UTF-8 strings well-formed) and throws <see cref="MqttDecodeException"/> where it is not.
/// </summary>
internal struct MqttPropertyEnumerator(ReadOnlyMemory<byte> block)
{
    private readonly ReadOnlyMemory<byte> _block = block;
    private int _pos;

    public MqttProperty Current { get; private set; }

    public bool MoveNext()
    {
        if (_pos >= _block.Length)
        {
            return false;
        }

        var r = new MqttBodyReader(_block[_pos..]);
        var idValue = r.ReadVarInt();
        if (idValue > 0x7F || MqttProperties.TypeOf((byte)idValue) == PropertyType.Unknown)
        {
            throw MqttDecodeException.Malformed($"Unknown property identifier 0x{idValue:X2}.");
        }

        var id = (MqttPropertyId)idValue;
        uint number = 0;
        ReadOnlyMemory<byte> value = default, pair = default;
        switch (MqttProperties.TypeOf((byte)idValue))
        {
            case PropertyType.Byte: number = r.ReadByte(); break;
            case PropertyType.UInt16: number = r.ReadUInt16(); break;
            case PropertyType.UInt32: number = r.ReadUInt32(); break;
            case PropertyType.VarInt: number = (uint)r.ReadVarInt(); break;
            case PropertyType.Utf8: value = r.ReadUtf8(); break;
            case PropertyType.Binary: value = r.ReadBinary(); break;
            case PropertyType.Pair:
                value = r.ReadUtf8();
                pair = r.ReadUtf8();
                break;
        }

        _pos += r.Position;
        Current = new MqttProperty(id, number, value, pair);
        return true;
    }
}
