namespace Daakia.Server.Mqtt;

/// <summary>
/// What MQTT keeps of a persistent session beyond the core's queue, for as long as the server runs (the core holds it
/// as <see cref="Core.PersistentSession.AdapterState"/>): the packet id each queued message was sent with, so a
/// reconnect resends it with the same id (MQTT-4.4.0-1); QoS 2 messages PUBRECed and awaiting PUBCOMP, whose PUBREL is
/// resent first on reconnect; and QoS 2 messages from the client awaiting PUBREL, which are not routed again
/// (MQTT-4.3.3-10). A takeover can leave the old connection finishing while the new one starts, so it has its own lock.
/// </summary>
internal sealed class MqttSessionState
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, ushort> _sent = [];
    private readonly HashSet<ushort> _reserved = [];
    private readonly HashSet<ushort> _awaitingComplete = [];
    private readonly HashSet<ushort> _awaitingRelease = [];

    /// <summary>The packet id a queued message was last sent with, or 0.</summary>
    public ushort PacketIdOf(Guid message)
    {
        lock (_gate)
        {
            return _sent.GetValueOrDefault(message);
        }
    }

    /// <summary>Whether a packet id is held by this session (a message in flight, a PUBREL not completed).</summary>
    public bool IsReserved(ushort packetId)
    {
        lock (_gate)
        {
            return _reserved.Contains(packetId);
        }
    }

    /// <summary>A queued message went out with this packet id.</summary>
    public void Sent(Guid message, ushort packetId)
    {
        lock (_gate)
        {
            _sent[message] = packetId;
            _reserved.Add(packetId);
        }
    }

    /// <summary>QoS 1 PUBACK (or a refused QoS 2): the message's flow is over and its id free.</summary>
    public void Done(Guid message)
    {
        lock (_gate)
        {
            if (_sent.Remove(message, out var id) && !_awaitingComplete.Contains(id))
            {
                _reserved.Remove(id);
            }
        }
    }

    /// <summary>QoS 2 PUBREC: the message left the queue; its id waits for PUBCOMP.</summary>
    public void Received(Guid message, ushort packetId)
    {
        lock (_gate)
        {
            _sent.Remove(message);
            _awaitingComplete.Add(packetId);
            _reserved.Add(packetId);
        }
    }

    /// <summary>QoS 2 PUBCOMP: the id is free.</summary>
    public void Completed(ushort packetId)
    {
        lock (_gate)
        {
            if (_awaitingComplete.Remove(packetId))
            {
                _reserved.Remove(packetId);
            }
        }
    }

    /// <summary>Ids whose PUBREL is to be sent again on reconnect, in id order.</summary>
    public ushort[] AwaitingComplete()
    {
        lock (_gate)
        {
            var ids = _awaitingComplete.ToArray();
            Array.Sort(ids);
            return ids;
        }
    }

    /// <summary>Inbound QoS 2: true if the id was not awaiting PUBREL yet (the message is new and routed).</summary>
    public bool StartRelease(ushort packetId)
    {
        lock (_gate)
        {
            return _awaitingRelease.Add(packetId);
        }
    }

    public bool IsAwaitingRelease(ushort packetId)
    {
        lock (_gate)
        {
            return _awaitingRelease.Contains(packetId);
        }
    }

    public int AwaitingReleaseCount
    {
        get
        {
            lock (_gate)
            {
                return _awaitingRelease.Count;
            }
        }
    }

    /// <summary>Inbound QoS 2 PUBREL (or a failed route): the id may be used again. False if it was unknown.</summary>
    public bool Release(ushort packetId)
    {
        lock (_gate)
        {
            return _awaitingRelease.Remove(packetId);
        }
    }
}
