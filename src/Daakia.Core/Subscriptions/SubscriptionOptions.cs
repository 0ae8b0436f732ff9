namespace Daakia.Core;

/// <summary>
/// What a subscriber asked for along with a filter: the subscription options of MQTT 5.0 §3.8.3.1 and the
/// subscription identifier of §3.8.2.1.2. The default (QoS 0, nothing else) is what MQTT 3.1.1's QoS 0 and the JSON
/// API get.
/// </summary>
public readonly record struct SubscriptionOptions
{
    /// <summary>Largest subscription identifier MQTT can carry (a variable byte integer) [MQTT 5.0 §3.8.2.1.2].</summary>
    public const int MaxSubscriptionIdentifier = 268_435_455;

    /// <summary>The maximum QoS granted: messages are delivered at the lower of this and their published QoS.</summary>
    public QualityOfService MaxQos { get; init; }

    /// <summary>Messages published by the subscriber's own client are not delivered through this subscription (MQTT-3.8.3-3).</summary>
    public bool NoLocal { get; init; }

    /// <summary>Forwarded messages keep the RETAIN flag they were published with (MQTT-3.3.1-12, MQTT-3.3.1-13).</summary>
    public bool RetainAsPublished { get; init; }

    /// <summary>Whether retained messages are sent when the subscription is made.</summary>
    public RetainHandling RetainHandling { get; init; }

    /// <summary>The subscription identifier to send with matching messages (MQTT-3.3.4-3), 1 to <see cref="MaxSubscriptionIdentifier"/>.</summary>
    public int? SubscriptionIdentifier { get; init; }

    /// <summary>Whether these options can be used with <paramref name="shared"/> or a subscription that is not shared.</summary>
    internal bool IsValid(bool shared, out string? error)
    {
        error = MaxQos > QualityOfService.ExactlyOnce ? "The maximum QoS must be 0, 1 or 2 [MQTT 5.0 §3.8.3.1]."
            : RetainHandling > RetainHandling.DoNotSend ? "Retain handling must be 0, 1 or 2 [MQTT 5.0 §3.8.3.1]."
            : SubscriptionIdentifier is < 1 or > MaxSubscriptionIdentifier ? $"A subscription identifier must be between 1 and {MaxSubscriptionIdentifier} [MQTT 5.0 §3.8.2.1.2]."
            : shared && NoLocal ? "No-local cannot be set on a shared subscription [MQTT-3.8.3-4]."
            : null;
        return error is null;
    }
}
