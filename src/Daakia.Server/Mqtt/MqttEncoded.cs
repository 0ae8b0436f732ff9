using System.Text;
using Daakia.Core;
using Daakia.Mqtt;

namespace Daakia.Server.Mqtt;

/// <summary>What every MQTT delivery of one publication shares, made once: the topic's UTF-8 bytes and the 5.0
/// property block (content type).</summary>
internal sealed class MqttEncoded
{
    private MqttEncoded(byte[] topic, byte[] properties)
    {
        Topic = topic;
        Properties = properties;
    }

    public byte[] Topic { get; }

    public byte[] Properties { get; }

    public static MqttEncoded For(Publication p) => new(Encoding.UTF8.GetBytes(p.Topic), PropertiesOf(p, null));

    /// <summary>The 5.0 property block of a publication: content type, payload format, response topic, correlation data,
    /// user properties, and the message expiry that remains when given.</summary>
    public static byte[] PropertiesOf(Publication p, uint? expiry)
    {
        var x = p.Properties;
        if (p.ContentType is Publication.OpaqueContentType && x is null && expiry is null)
        {
            return [];
        }

        return MqttEncoder.EncodeProperties(new MqttProperties
        {
            ContentType = p.ContentType is Publication.OpaqueContentType ? null : p.ContentType,
            PayloadFormatIndicator = x?.PayloadFormat,
            ResponseTopic = x?.ResponseTopic,
            CorrelationData = x?.CorrelationData?.ToArray(),
            UserProperties = x is { UserProperties.Count: > 0 } ? [.. x.UserProperties] : null,
            MessageExpiryInterval = expiry,
        });
    }
}
