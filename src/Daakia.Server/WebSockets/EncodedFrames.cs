using Daakia.Core;

namespace Daakia.Server.WebSockets;

/// <summary>The encode-once cache a letter or publication carries: one slot per wire variant.</summary>
internal sealed class EncodedFrames
{
    public byte[]? JsonApi { get; set; }

    public byte[]? Texto { get; set; }

    /// <summary>MQTT's shared part of a PUBLISH (topic bytes, 5.0 properties): <see cref="Mqtt.MqttEncoded"/>.</summary>
    public object? Mqtt { get; set; }

    // Two writer loops may race here; the loser's bytes are equal, so either result is right.
    public static EncodedFrames Of(Letter letter) => letter.EncodedCache as EncodedFrames ?? (EncodedFrames)(letter.EncodedCache = new EncodedFrames());

    public static EncodedFrames Of(Publication publication) => publication.EncodedCache as EncodedFrames ?? (EncodedFrames)(publication.EncodedCache = new EncodedFrames());
}
