namespace Daakia.Core;

/// <summary>
/// What a publisher attached to a publication besides its payload and content type (MQTT 5's request/response and
/// user properties), carried unchanged to every subscriber.
/// </summary>
public sealed class PublicationProperties
{
    /// <summary>1: the payload is UTF-8 text (MQTT's Payload Format Indicator); 0: unspecified bytes; null: not said.</summary>
    public byte? PayloadFormat { get; init; }

    /// <summary>Where the publisher wants a reply published (MQTT's Response Topic).</summary>
    public string? ResponseTopic { get; init; }

    /// <summary>Opaque bytes the replier sends back with its reply (MQTT's Correlation Data).</summary>
    public ReadOnlyMemory<byte>? CorrelationData { get; init; }

    /// <summary>Name/value pairs, in order, names may repeat (MQTT's User Properties).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> UserProperties { get; init; } = [];

    /// <summary>Bytes these properties add, for the bounds that count a publication's size.</summary>
    public int Size
    {
        get
        {
            var size = (ResponseTopic?.Length ?? 0) + (CorrelationData?.Length ?? 0);
            foreach (var (k, v) in UserProperties)
            {
                size += k.Length + v.Length + 4;
            }

            return size;
        }
    }
}
