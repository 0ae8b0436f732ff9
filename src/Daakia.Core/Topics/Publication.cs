namespace Daakia.Core;

/// <summary>A non-durable message on a topic, shared by every subscriber it reaches.</summary>
public sealed class Publication
{
    public required TenantId Tenant { get; init; }

    /// <summary>The topic name (no wildcards).</summary>
    public required string Topic { get; init; }

    /// <summary>The publishing client; null for events the server makes (presence).</summary>
    public ClientId? Author { get; init; }

    /// <summary>The payload as UTF-8 JSON text; empty when <see cref="Presence"/> carries the content.</summary>
    public ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>For presence events on <c>$presence/{client}</c>: the new presence, rendered by each adapter.</summary>
    public PresenceInfo? Presence { get; init; }

    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>Encode-once slot for adapters (see <see cref="Letter.EncodedCache"/>).</summary>
    public object? EncodedCache { get; set; }
}
