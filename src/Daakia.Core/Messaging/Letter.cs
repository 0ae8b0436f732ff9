namespace Daakia.Core;

/// <summary>
/// A direct message ("letter") as stored in each recipient's inbox. Immutable once made; one instance is shared
/// by every recipient and every connection it is delivered to.
/// </summary>
public sealed class Letter
{
    /// <summary>The message id, the same for every recipient of a multicast (a version 7 UUID: time ordered).</summary>
    public required Guid Id { get; init; }

    /// <summary>Store-wide increasing number; orders an inbox. Allocated by the core, persisted by the store.</summary>
    public required long Sequence { get; init; }

    public required TenantId Tenant { get; init; }

    public required ClientId Author { get; init; }

    /// <summary>Every recipient as the author addressed them, distinct, in the author's order.</summary>
    public required IReadOnlyList<ClientId> Recipients { get; init; }

    /// <summary>The payload: the UTF-8 text of one JSON value (the JSON adapters pass it through untouched).</summary>
    public required ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>When the server accepted the letter.</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>When the letter expires undelivered, if it carries a TTL.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>
    /// Encode-once slot: the first adapter that renders this letter for a wire variant keeps the bytes here, so every
    /// further connection on the same variant reuses them. Adapters own what they put in it.
    /// </summary>
    public object? EncodedCache { get; set; }

    public bool IsExpired(DateTimeOffset now) => ExpiresAt is { } e && e <= now;
}
