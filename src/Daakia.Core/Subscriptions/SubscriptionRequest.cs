namespace Daakia.Core;

/// <summary>One filter of a subscribe call with its options (one entry of an MQTT SUBSCRIBE packet's payload).</summary>
/// <param name="Filter">A topic filter, or <c>$share/{group}/{filter}</c> for a shared subscription.</param>
/// <param name="Options">Options of the subscription; the default is QoS 0 and nothing else.</param>
public readonly record struct SubscriptionRequest(string Filter, SubscriptionOptions Options = default);
