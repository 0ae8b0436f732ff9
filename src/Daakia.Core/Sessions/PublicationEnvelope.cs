namespace Daakia.Core;

/// <summary>
/// The topic side of a message queued for an MQTT persistent session: the topic it was published on, its QoS and
/// retain flag, and the MQTT 5 properties besides user properties (those are the message's
/// <see cref="Letter.Headers"/>). Null on a letter.
/// </summary>
public sealed record PublicationEnvelope(string Topic, QualityOfService Qos, bool Retain = false)
{
    /// <summary>1: the payload is UTF-8 text; 0: unspecified bytes; null: not said (MQTT's Payload Format Indicator).</summary>
    public byte? PayloadFormat { get; init; }

    /// <summary>MQTT's Response Topic.</summary>
    public string? ResponseTopic { get; init; }

    /// <summary>MQTT's Correlation Data.</summary>
    public ReadOnlyMemory<byte>? CorrelationData { get; init; }

    /// <summary>Bytes the envelope adds to its message (counted in <see cref="Letter.Size"/>).</summary>
    public int Size => Topic.Length + (ResponseTopic?.Length ?? 0) + (CorrelationData?.Length ?? 0) + 8;

    /// <summary>The envelope of a publication.</summary>
    public static PublicationEnvelope Of(Publication p) => new(p.Topic, p.Qos, p.Retain)
    {
        PayloadFormat = p.Properties?.PayloadFormat,
        ResponseTopic = p.Properties?.ResponseTopic,
        CorrelationData = p.Properties?.CorrelationData,
    };
}
