namespace Daakia.Core;

/// <summary>
/// The last publication kept on a topic (MQTT's retained message): one per topic and tenant, stored durably and handed
/// to each new subscription whose filter matches it (by the subscription's retain handling).
/// </summary>
public sealed record RetainedMessage(
    TenantId Tenant,
    string Topic,
    ClientId? Author,
    ReadOnlyMemory<byte> Payload,
    string ContentType,
    QualityOfService Qos,
    DateTimeOffset Timestamp,
    DateTimeOffset? ExpiresAt = null,
    PublicationProperties? Properties = null)
{
    /// <summary>What the message counts against the tenant's retained bytes: topic, content type, payload and properties.</summary>
    public long Size => Payload.Length + Topic.Length + ContentType.Length + (Properties?.Size ?? 0);
}
