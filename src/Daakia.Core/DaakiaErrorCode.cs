namespace Daakia.Core;

/// <summary>
/// Why the core refused an operation. Every adapter maps each value to its wire form
/// (a WebSocket error code, an HTTP status with a JSON body, later an MQTT reason code).
/// </summary>
public enum DaakiaErrorCode
{
    /// <summary>A field is missing, mistyped or out of range.</summary>
    InvalidArgument,
    /// <summary>The payload is larger than the configured maximum.</summary>
    PayloadTooLarge,
    /// <summary>More recipients than the configured maximum.</summary>
    TooManyRecipients,
    /// <summary>A configured count limit (connections, subscriptions, …) was reached.</summary>
    LimitExceeded,
    /// <summary>The caller sends faster than its configured rate.</summary>
    RateLimited,
    /// <summary>The thing named does not exist (for example, an ack of a message not in the inbox).</summary>
    NotFound,
    /// <summary>The operation is not allowed for this caller.</summary>
    Forbidden,
    /// <summary>The server is shutting down or the store is not open.</summary>
    Unavailable,
    /// <summary>A stored-data quota (an inbox's letters or bytes, a tenant's bytes) would be passed; nothing was stored.</summary>
    QuotaExceeded,
    /// <summary>The server has as much accepted and not yet durable work as it is configured to hold; retry shortly.</summary>
    Overloaded,
}
