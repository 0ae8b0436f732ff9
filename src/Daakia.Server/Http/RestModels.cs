using System.Text.Json;
using System.Text.Json.Serialization;

namespace Daakia.Server.Http;

// Shapes of the REST bodies, for the OpenAPI document. Handlers read and write JSON directly (payloads pass through
// byte for byte), but these records describe exactly what goes over the wire.

/// <summary>A letter to send.</summary>
public sealed record SendMessageRequest(
    [property: JsonPropertyName("recipients")] IReadOnlyList<string> Recipients,
    [property: JsonPropertyName("payload")] JsonElement Payload,
    [property: JsonPropertyName("ttl")] double? Ttl,
    [property: JsonPropertyName("delay")] double? Delay,
    [property: JsonPropertyName("headers")] IReadOnlyDictionary<string, string>? Headers);

/// <summary>A letter accepted: durable in every recipient's inbox.</summary>
public sealed record SendMessageResponse(
    [property: JsonPropertyName("message_id")] Guid MessageId,
    [property: JsonPropertyName("timestamp")] string Timestamp,
    [property: JsonPropertyName("recipients")] int Recipients);

/// <summary>A letter in an inbox.</summary>
public sealed record InboxMessage(
    [property: JsonPropertyName("message_id")] Guid MessageId,
    [property: JsonPropertyName("sequence")] long Sequence,
    [property: JsonPropertyName("author")] string Author,
    [property: JsonPropertyName("recipients")] IReadOnlyList<string> Recipients,
    [property: JsonPropertyName("payload")] JsonElement Payload,
    [property: JsonPropertyName("timestamp")] string Timestamp,
    [property: JsonPropertyName("expires_at")] string? ExpiresAt,
    [property: JsonPropertyName("headers")] IReadOnlyDictionary<string, string>? Headers,
    [property: JsonPropertyName("deliveries")] int Deliveries);

/// <summary>A page of an inbox; <c>next</c> is the <c>after</c> of the following page.</summary>
public sealed record InboxPage(
    [property: JsonPropertyName("messages")] IReadOnlyList<InboxMessage> Messages,
    [property: JsonPropertyName("next")] long? Next);

/// <summary>Message ids to acknowledge.</summary>
public sealed record AckRequest([property: JsonPropertyName("message_ids")] IReadOnlyList<Guid> MessageIds);

/// <summary>How many of the ids were in the inbox.</summary>
public sealed record AckResponse([property: JsonPropertyName("acknowledged")] int Acknowledged);

/// <summary>Letters waiting.</summary>
public sealed record CountResponse([property: JsonPropertyName("count")] long Count);

/// <summary>A client's presence.</summary>
public sealed record PresenceView(
    [property: JsonPropertyName("client")] string Client,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("available")] bool Available,
    [property: JsonPropertyName("active")] bool Active,
    [property: JsonPropertyName("status_text")] string? StatusText,
    [property: JsonPropertyName("connections")] int Connections,
    [property: JsonPropertyName("last_seen")] string? LastSeen);

/// <summary>A topic publication.</summary>
public sealed record PublishRequest(
    [property: JsonPropertyName("topic")] string Topic,
    [property: JsonPropertyName("payload")] JsonElement Payload);

/// <summary>Connections the publication was queued for.</summary>
public sealed record PublishResponse([property: JsonPropertyName("delivered")] int Delivered);

/// <summary>Body of <c>POST /v1/clients/{client}/inbox/release</c>.</summary>
public sealed record ReleaseRequest(
    [property: JsonPropertyName("message_ids")] IReadOnlyList<Guid> MessageIds,
    [property: JsonPropertyName("delay")] double? Delay);

/// <summary>Reply of <c>POST /v1/clients/{client}/inbox/release</c>.</summary>
public sealed record ReleaseResponse([property: JsonPropertyName("released")] int Released);

/// <summary>Body of <c>PUT /v1/queues/{queue}/bindings</c>: a topic filter (<c>+</c> and <c>#</c> wildcards; not <c>$…</c>).</summary>
public sealed record QueueBindingRequest([property: JsonPropertyName("filter")] string Filter);

/// <summary>A queue's binding to a topic filter: 201 when made, 200 when it was there already.</summary>
public sealed record QueueBindingView(
    [property: JsonPropertyName("queue")] string Queue,
    [property: JsonPropertyName("filter")] string Filter,
    [property: JsonPropertyName("created_at")] string CreatedAt);

/// <summary>One filter a queue is bound to.</summary>
public sealed record QueueBindingItem(
    [property: JsonPropertyName("filter")] string Filter,
    [property: JsonPropertyName("created_at")] string CreatedAt);

/// <summary>Reply of <c>GET /v1/queues/{queue}/bindings</c>.</summary>
public sealed record QueueBindingList(
    [property: JsonPropertyName("queue")] string Queue,
    [property: JsonPropertyName("bindings")] IReadOnlyList<QueueBindingItem> Bindings);
