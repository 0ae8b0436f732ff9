using Daakia.Server.Mqtt;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>The packet ids a persistent session holds for messages it sent, across connections.</summary>
public sealed class MqttSessionStateTests
{
    [Fact]
    public void ASentMessage_KeepsItsPacketId_UntilAnswered_OrRemovedFromTheQueue_HoweverManyConnectionsPass()
    {
        var state = new MqttSessionState();
        var answered = Guid.NewGuid();
        var expired = Guid.NewGuid();
        state.Sent(answered, 5);
        state.Sent(expired, 6);

        // Connections come and go without resending either (each closed before its window loaded): nothing frees them,
        // so no other message takes an id the client may still hold a QoS 2 message under.
        Assert.Equal(5, state.PacketIdOf(answered));
        Assert.True(state.IsReserved(6));

        state.Done(answered); // PUBACK
        Assert.False(state.IsReserved(5));
        Assert.Equal(0, state.PacketIdOf(answered));

        ((Daakia.Core.ISessionAdapterState)state).Removed(expired); // the core: it expired in the queue
        Assert.False(state.IsReserved(6));
        Assert.Equal(0, state.PacketIdOf(expired));
    }
}
