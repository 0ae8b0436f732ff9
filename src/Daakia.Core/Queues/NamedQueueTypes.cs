namespace Daakia.Core;

/// <summary>
/// A named queue's own settings (Zaqar's reserved metadata keys, parsed by the adapter): each null means the server's
/// default. The core acts on these; the rest of the metadata is the adapter's JSON, kept as it is.
/// </summary>
public sealed record NamedQueueSettings
{
    /// <summary>The TTL of a message posted without one (<c>_default_message_ttl</c>).</summary>
    public TimeSpan? DefaultMessageTtl { get; init; }

    /// <summary>The delay of a message posted without one (<c>_default_message_delay</c>).</summary>
    public TimeSpan? DefaultMessageDelay { get; init; }

    /// <summary>The largest post to this queue, in bytes of the request (<c>_max_messages_post_size</c>); the server's
    /// bound still applies.</summary>
    public int? MaxPostBytes { get; init; }

    /// <summary>How many times a message may be claimed before the next claim moves it to <see cref="DeadLetterQueue"/>
    /// (<c>_max_claim_count</c>; only with a dead-letter queue).</summary>
    public int? MaxClaimCount { get; init; }

    /// <summary>The queue of the same tenant that takes messages claimed <see cref="MaxClaimCount"/> times
    /// (<c>_dead_letter_queue</c>).</summary>
    public string? DeadLetterQueue { get; init; }

    /// <summary>The TTL a message gets when it is moved to the dead-letter queue (<c>_dead_letter_queue_messages_ttl</c>).</summary>
    public TimeSpan? DeadLetterTtl { get; init; }

    public static readonly NamedQueueSettings None = new();
}

/// <summary>A named queue as the core keeps it: its name, the adapter's metadata (JSON bytes), its settings, and when it
/// was made.</summary>
public sealed record NamedQueueInfo(string Name, ReadOnlyMemory<byte> Metadata, NamedQueueSettings Settings, DateTimeOffset CreatedAt);

/// <summary>One message of a post: its body (JSON bytes, as the adapter received it), its TTL and delay (null: the
/// queue's default, then the server's).</summary>
public readonly record struct NewQueueMessage(ReadOnlyMemory<byte> Body, TimeSpan? Ttl = null, TimeSpan? Delay = null)
{
    /// <summary>Message attributes (beyond Zaqar): text key/value pairs kept with the message and read back with it,
    /// bounded as a letter's headers are (<see cref="DaakiaCoreOptions.MaxHeadersPerLetter"/>, <see cref="DaakiaCoreOptions.MaxHeaderBytes"/>).</summary>
    public IReadOnlyList<KeyValuePair<string, string>>? Attributes { get; init; }
}

/// <summary>
/// A message of a named queue as a read returns it: its id, body, author (the poster's client id), when it was posted
/// and expires, its position (the listing marker), how many times it was claimed, and the live claim holding it (if any).
/// </summary>
public sealed record QueueMessage(
    Guid Id,
    ReadOnlyMemory<byte> Body,
    ClientId Author,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    long Position,
    int ClaimCount,
    Guid? ClaimId,
    DateTimeOffset? VisibleAt)
{
    /// <summary>The attributes the message was posted with (empty: none).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Attributes { get; init; } = [];

    /// <summary>
    /// Its TTL as Zaqar reports it: from its post until <see cref="ExpiresAt"/>; while the live claim that extended it
    /// holds it, that claim's TTL plus grace (Zaqar re-stamps the message so; its age still counts from the post). Null
    /// when it never expires.
    /// </summary>
    public TimeSpan? Ttl { get; init; }

    /// <summary>The topic it was published on, for a message a topic binding appended (null: posted to the queue). Its
    /// <see cref="Body"/> is then the publication's payload as published: any bytes, of <see cref="ContentType"/>.</summary>
    public string? Topic { get; init; }

    /// <summary>The body's media type: <see cref="Letter.JsonContentType"/> for a posted message (its body is one JSON
    /// value); a routed message's is its publication's (MQTT's payloads: <see cref="Publication.OpaqueContentType"/>
    /// unless an MQTT 5 publisher named one, which nobody checked).</summary>
    public string ContentType { get; init; } = Letter.JsonContentType;
}

/// <summary>A topic filter a named queue is bound to, and when it was bound.</summary>
public sealed record QueueBinding(string Filter, DateTimeOffset CreatedAt);

/// <summary>One page of a queue's messages, and the marker to read on after it (the last position looked at; null when
/// nothing was).</summary>
public sealed record QueueMessagePage(IReadOnlyList<QueueMessage> Messages, long? NextMarker)
{
    /// <summary>The listing stopped before the end of the queue (a full page, or its read budget spent on messages it
    /// does not show): a next page may hold more, even after an empty one.</summary>
    public bool More { get; init; }
}

/// <summary>A claim on a queue's messages: they are invisible to other claimers until it expires, renewed or released.</summary>
public sealed record QueueClaim(Guid Id, string Queue, TimeSpan Ttl, TimeSpan Grace, DateTimeOffset UpdatedAt, DateTimeOffset ExpiresAt, IReadOnlyList<Guid> Messages)
{
    public bool IsLive(DateTimeOffset now) => ExpiresAt > now;
}

/// <summary>A claim made: the claim and its messages (empty: nothing was claimable, and no claim was made).</summary>
public sealed record QueueClaimResult(QueueClaim? Claim, IReadOnlyList<QueueMessage> Messages);

/// <summary>What a queue holds: free (not under a live claim), claimed, total; its oldest and newest messages.</summary>
public sealed record QueueStats(long Free, long Claimed, long Total, QueueMessage? Oldest, QueueMessage? Newest);
