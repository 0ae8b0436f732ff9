namespace Daakia.Core;

/// <summary>How a client's letters are spread over its connections.</summary>
public enum DeliveryMode
{
    /// <summary>Every connection gets a copy (a person's phone and laptop).</summary>
    All,
    /// <summary>One connection gets each letter, balanced by in-flight count (instances of a scaled-out service).</summary>
    Any,
}
