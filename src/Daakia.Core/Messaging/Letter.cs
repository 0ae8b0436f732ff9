namespace Daakia.Core;

/// <summary>
/// A message as the durable queues hold it — a direct message ("letter") in each recipient's inbox is its first use.
/// Immutable once made; one instance is shared by every queue and every connection it is delivered to. Where it sits in
/// a queue (its position, delivery count) is the queue's <see cref="QueueEntry"/>, not the message's.
/// </summary>
public sealed class Letter
{
    /// <summary>The message id, the same for every recipient of a multicast (a version 7 UUID: time ordered).</summary>
    public required Guid Id { get; init; }

    public required TenantId Tenant { get; init; }

    public required ClientId Author { get; init; }

    /// <summary>Every recipient as the author addressed them, distinct, in the author's order.</summary>
    public required IReadOnlyList<ClientId> Recipients { get; init; }

    /// <summary>The payload, as bytes. Its meaning is <see cref="ContentType"/>'s; the core never looks inside.</summary>
    public required ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>The payload's media type. The JSON API and texto send the UTF-8 text of one JSON value
    /// (<see cref="JsonContentType"/>, the default); MQTT payloads are opaque bytes.</summary>
    public string ContentType { get; init; } = JsonContentType;

    /// <summary>Headers (MQTT 5 user properties, application metadata), in the sender's order; empty for most letters.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    /// <summary>For a message queued for an MQTT persistent session: its topic, QoS, retain flag and MQTT 5
    /// properties (user properties are <see cref="Headers"/>). Null on a letter.</summary>
    public PublicationEnvelope? Envelope { get; init; }

    /// <summary>Not delivered before this time (a delayed message); null: at once.</summary>
    public DateTimeOffset? VisibleAt { get; init; }

    /// <summary>When the server accepted the letter.</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>When the letter expires undelivered, if it carries a TTL.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>
    /// Encode-once slot: the first adapter that renders this letter for a wire variant keeps the bytes here, so every
    /// further connection on the same variant reuses them. Adapters own what they put in it.
    /// </summary>
    public object? EncodedCache { get; set; }

    /// <summary>
    /// The bytes the message holds in memory beyond its fixed fields — payload plus the UTF-8 bytes of every header key
    /// and value — as windows, in-flight limits and outboxes count it (computed once).
    /// </summary>
    public int Size
    {
        get
        {
            if (_size == 0)
            {
                var size = Payload.Length;
                foreach (var (key, value) in Headers)
                {
                    size += System.Text.Encoding.UTF8.GetByteCount(key) + System.Text.Encoding.UTF8.GetByteCount(value);
                }

                size += Envelope?.Size ?? 0;
                _size = size + 1; // 0 means "not computed yet"
            }

            return _size - 1;
        }
    }

    private int _size;

    public bool IsExpired(DateTimeOffset now) => ExpiresAt is { } e && e <= now;

    /// <summary>
    /// The same message with another expiry: what a store hands out for an entry whose expiry was moved
    /// (<see cref="Storage.ExpiryOp"/>). The payload and headers are shared, not copied; the encode-once slot starts empty.
    /// </summary>
    public Letter WithExpiresAt(DateTimeOffset? expiresAt) => new()
    {
        Id = Id,
        Tenant = Tenant,
        Author = Author,
        Recipients = Recipients,
        Payload = Payload,
        ContentType = ContentType,
        Headers = Headers,
        Envelope = Envelope,
        VisibleAt = VisibleAt,
        Timestamp = Timestamp,
        ExpiresAt = expiresAt,
        _size = _size,
    };

    /// <summary>The default <see cref="ContentType"/>.</summary>
    public const string JsonContentType = "application/json";
}
