namespace Daakia.Server;

/// <summary>
/// Settings of the protocol adapters. Bound from the <c>Daakia</c> configuration section (the core's limits are in
/// <c>Daakia:Core</c>); every value is listed in docs/configuration.md.
/// </summary>
public sealed class DaakiaServerOptions
{
    /// <summary>Tenants that accept clients without credentials. The newcomer's default is the one open dev tenant.</summary>
    public List<string> OpenTenants { get; set; } = [];

    /// <summary>Largest WebSocket message (all frames of it) accepted, in bytes; larger ones close the connection with 1009.</summary>
    public int MaxFrameBytes { get; set; } = 1024 * 1024;

    /// <summary>Frames queued for one connection before it counts as a slow consumer.</summary>
    public int OutboxCapacity { get; set; } = 2048;

    /// <summary>
    /// Bytes queued for one connection (replies, letters, publications) before it counts as a slow consumer. Must exceed
    /// the core's <c>MaxInflightBytesPerConnection</c>, which bounds the letters part.
    /// </summary>
    public long OutboxBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Requests per second one connection may make (a token bucket refilled at this rate).</summary>
    public int MaxRequestsPerSecond { get; set; } = 20_000;

    /// <summary>Requests one connection may make in a burst above the rate.</summary>
    public int RequestBurst { get; set; } = 20_000;

    /// <summary>Seconds a new WebSocket connection has to identify itself (<c>hello</c>) before it is closed.</summary>
    public int HelloTimeoutSeconds { get; set; } = 30;

    /// <summary>Deepest nesting of a JSON request (frame or body), payload included.</summary>
    public int MaxJsonDepth { get; set; } = 64;

    /// <summary>Longest request <c>id</c> (WebSocket JSON API and texto), in characters.</summary>
    public int MaxRequestIdLength { get; set; } = 128;

    /// <summary>Largest REST request body, in bytes.</summary>
    public int MaxRequestBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// The key (base64, at least 32 bytes) under which texto's resume secrets are made: an HMAC of tenant and client
    /// id, so a texto identity can be resumed only by the client it was given to. Unset: a random key made at start-up,
    /// so secrets given out before a restart no longer resume. Set it to resume across restarts and cluster nodes.
    /// </summary>
    public string? TextoResumeKey { get; set; }

    /// <summary>How queue notifications leave the server: webhooks and e-mail (<c>Daakia:Notifications</c>).</summary>
    public Notifications.NotificationOptions Notifications { get; set; } = new();

    /// <summary>The MQTT listener's limits (<c>Daakia:Mqtt</c>).</summary>
    public Mqtt.MqttOptions Mqtt { get; set; } = new();

    /// <summary>The Zaqar v2 adapter's settings (<c>Daakia:Zaqar</c>): the key of pre-signed URLs.</summary>
    public Zaqar.ZaqarOptions Zaqar { get; set; } = new();

    /// <summary>Seconds to wait for connections to close during a drain before the store is flushed anyway.</summary>
    public int DrainTimeoutSeconds { get; set; } = 10;

    // --- The HTTP edge: what a web page may make the server do, and REST read memory (docs/security.md). ---

    /// <summary>
    /// Host names requests may carry in <c>Host</c> (ports ignored; <c>*.example.com</c> for subdomains; <c>*</c> for any).
    /// Empty: the bound addresses and <c>localhost</c>, which refuses DNS-rebinding pages (421).
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>
    /// Origins (<c>https://app.example.com</c>) whose pages may open a WebSocket, besides the server's own origin and,
    /// while bound to loopback only, loopback origins. <c>*</c> allows any.
    /// </summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>
    /// Bytes of REST inbox pages read and being written at once, server-wide; a read that would pass it gets 503 with
    /// <c>Retry-After</c>. Each read reserves its worst case (<c>Core:MaxReadPageBytes</c>) until it knows its size.
    /// </summary>
    public long MaxConcurrentReadBytes { get; set; } = 64L * 1024 * 1024;
}
