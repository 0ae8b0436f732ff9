using Microsoft.Extensions.Logging;

namespace Daakia.Server.Mqtt;

internal static partial class MqttLog
{
    [LoggerMessage(4001, LogLevel.Debug, "MQTT connection from {Remote} refused: {Reason}", EventName = "MqttRefused")]
    public static partial void Refused(ILogger logger, string? remote, string reason);

    [LoggerMessage(4002, LogLevel.Debug, "MQTT client '{Client}' ({Remote}) closed for a protocol violation: {Reason}", EventName = "MqttProtocolError")]
    public static partial void ProtocolError(ILogger logger, string client, string? remote, string reason);

    [LoggerMessage(4003, LogLevel.Error, "MQTT session of '{Client}' failed", EventName = "MqttSessionFailed")]
    public static partial void SessionFailed(ILogger logger, Exception exception, string client);

    [LoggerMessage(4004, LogLevel.Debug, "MQTT client '{Client}' taken over by a new connection", EventName = "MqttTakenOver")]
    public static partial void TakenOver(ILogger logger, string client);

    [LoggerMessage(4005, LogLevel.Warning, "The will of MQTT client '{Client}' on '{Topic}' could not be published: {Reason}", EventName = "MqttWillFailed")]
    public static partial void WillFailed(ILogger logger, string client, string topic, string reason);

    [LoggerMessage(4006, LogLevel.Error, "A write that MQTT client '{Client}' waited for (a retained or kept message, a subscription, a task request) could not be stored; answered with an error or left unacknowledged", EventName = "MqttStoreFailed")]
    public static partial void StoreFailed(ILogger logger, Exception exception, string client);

    [LoggerMessage(4007, LogLevel.Warning, "Letters PUBACKed by MQTT client '{Client}' could not be acknowledged in its inbox; they come again", EventName = "MqttLetterAckFailed")]
    public static partial void LetterAckFailed(ILogger logger, Exception exception, string client);
}
