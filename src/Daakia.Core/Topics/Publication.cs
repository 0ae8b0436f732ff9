namespace Daakia.Core;

/// <summary>A non-durable message on a topic, shared by every subscriber it reaches.</summary>
public sealed class Publication
{
    public required TenantId Tenant { get; init; }

    /// <summary>The topic name (no wildcards).</summary>
    public required string Topic { get; init; }

    /// <summary>The publishing client; null for events the server makes (presence).</summary>
    public ClientId? Author { get; init; }

    /// <summary>The payload's bytes; empty when <see cref="Presence"/> carries the content. Its meaning is
    /// <see cref="ContentType"/>'s: UTF-8 JSON text from the JSON API and REST, opaque bytes from MQTT.</summary>
    public ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>
    /// The payload's media type: <see cref="Letter.JsonContentType"/> (the JSON API, REST, presence) is known to be one
    /// JSON value; anything else (MQTT's publications: <see cref="OpaqueContentType"/> unless MQTT 5 names one) may be
    /// any bytes.
    /// </summary>
    public string ContentType { get; init; } = Letter.JsonContentType;

    /// <summary>The QoS it was published with (MQTT); a subscriber gets the lower of this and its subscription's maximum.</summary>
    public QualityOfService Qos { get; init; }

    /// <summary>The publisher's response topic, correlation data and user properties (MQTT 5); null when none.</summary>
    public PublicationProperties? Properties { get; init; }

    /// <summary>When it expires (MQTT 5's Message Expiry Interval): not delivered after, and sent with what remains.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>Published with the retain flag (MQTT): it is also kept as the topic's retained message.</summary>
    public bool Retain { get; init; }

    /// <summary>
    /// This copy is a retained message handed to a new subscription (MQTT sends it with the retain flag set; the JSON
    /// API marks it <c>"retained": true</c>), not a live publication.
    /// </summary>
    public bool IsRetainedCopy { get; init; }

    /// <summary>The content type of bytes whose type nobody named (an MQTT 3.1.1 payload).</summary>
    public const string OpaqueContentType = "application/octet-stream";

    /// <summary>For presence events on <c>$presence/{client}</c>: the new presence, rendered by each adapter.</summary>
    public PresenceInfo? Presence { get; init; }

    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>Encode-once slot for adapters (see <see cref="Letter.EncodedCache"/>).</summary>
    public object? EncodedCache { get; set; }
}
