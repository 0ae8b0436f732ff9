using Daakia.Core;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.Mqtt;

/// <summary>MQTT over TCP: Kestrel hands each connection of the MQTT listener (<c>--mqtt-port</c>) to a session.</summary>
internal sealed class MqttConnectionHandler(DaakiaEngine engine, TenantResolver tenants, DaakiaServerOptions options, MqttSessionRegistry registry, ILogger<MqttSession> logger)
    : ConnectionHandler
{
    public override Task OnConnectedAsync(ConnectionContext connection)
    {
        if (!engine.IsAccepting)
        {
            connection.Abort();
            return Task.CompletedTask;
        }

        var session = new MqttSession(engine, tenants, options.Mqtt, registry, logger, connection.Transport,
            connection.RemoteEndPoint, connection.Abort);
        return session.RunAsync(connection.ConnectionClosed);
    }
}
