namespace Daakia.Core;

/// <summary>Whether retained messages are sent when a subscription is made (MQTT 5.0 §3.8.3.1, Retain Handling).</summary>
public enum RetainHandling : byte
{
    /// <summary>0: send retained messages at the time of the subscribe.</summary>
    SendOnSubscribe = 0,

    /// <summary>1: send them only if the subscription did not already exist.</summary>
    SendIfNew = 1,

    /// <summary>2: do not send retained messages at the time of the subscribe.</summary>
    DoNotSend = 2,
}
