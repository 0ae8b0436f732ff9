namespace Daakia.Core;

/// <summary>MQTT's delivery guarantee levels (MQTT 3.1.1 §4.3, MQTT 5.0 §4.3).</summary>
public enum QualityOfService : byte
{
    /// <summary>QoS 0: at most once.</summary>
    AtMostOnce = 0,

    /// <summary>QoS 1: at least once.</summary>
    AtLeastOnce = 1,

    /// <summary>QoS 2: exactly once.</summary>
    ExactlyOnce = 2,
}
