namespace Daakia.Server.Mqtt;

/// <summary>
/// What MQTT keeps of a persistent session beyond the core's queue, for as long as the server runs (the core holds it
/// as <see cref="Core.PersistentSession.AdapterState"/>): the packet id each queued message was sent with, so a
/// reconnect resends it with the same id (MQTT-4.4.0-1); QoS 2 messages PUBRECed and awaiting PUBCOMP, whose PUBREL is
/// resent first on reconnect; and QoS 2 messages from the client awaiting PUBREL, which are not routed again
/// (MQTT-4.3.3-10). A takeover can leave the old connection finishing while the new one starts, so it has its own lock.
/// </summary>
internal sealed class MqttSessionState : Core.ISessionAdapterState
{
    private readonly Lock _gate = new();
    // Each made on first use: most connections never hold a QoS 1/2 flow, and an idle one holds none of them.
    private Dictionary<Guid, ushort>? _sent; // queued messages sent (in any connection) and not answered
    private HashSet<ushort>? _awaitingComplete;
    private Dictionary<ushort, Task>? _awaitingRelease;
    private Dictionary<ushort, int>? _held; // ids of _sent, counted

    /// <param name="awaitingComplete">QoS 2 ids awaiting PUBCOMP when the session was read back at start-up.</param>
    /// <param name="fromRestart">The session was read back at start-up (see <see cref="FromRestart"/>).</param>
    public MqttSessionState(IReadOnlyList<ushort>? awaitingComplete = null, bool fromRestart = false)
    {
        FromRestart = fromRestart;
        foreach (var id in awaitingComplete ?? [])
        {
            (_awaitingComplete ??= []).Add(id);
        }
    }

    /// <summary>Made for a session read back at start-up: what was sent before the restart is not known here.</summary>
    public bool FromRestart { get; }

    /// <summary>The packet id a queued message was last sent with, or 0.</summary>
    public ushort PacketIdOf(Guid message)
    {
        lock (_gate)
        {
            return _sent is not null && _sent.TryGetValue(message, out var id) ? id : (ushort)0;
        }
    }

    /// <summary>Whether a packet id is held by this session (a message in flight, a PUBREL not completed).</summary>
    public bool IsReserved(ushort packetId)
    {
        lock (_gate)
        {
            return _awaitingComplete?.Contains(packetId) == true || _held?.ContainsKey(packetId) == true;
        }
    }

    /// <summary>A queued message went out with this packet id.</summary>
    public void Sent(Guid message, ushort packetId)
    {
        lock (_gate)
        {
            Forget(message);
            (_sent ??= [])[message] = packetId;
            _held ??= [];
            _held[packetId] = _held.GetValueOrDefault(packetId) + 1;
        }
    }

    /// <summary>Takes a message out of both maps, freeing its id (caller holds the lock).</summary>
    private void Forget(Guid message)
    {
        if (_sent is not null && _sent.Remove(message, out var id))
        {
            Unhold(id);
        }
    }

    private void Unhold(ushort id)
    {
        if (_held is null)
        {
            return;
        }

        if (_held.TryGetValue(id, out var n) && n > 1)
        {
            _held[id] = n - 1;
        }
        else
        {
            _held.Remove(id);
        }
    }

    /// <summary>A queued message left the queue without an answer from the client (it expired): its id is free. Sent
    /// messages' ids are held until then, across any number of connections, so a resend keeps its id and no other
    /// message takes an id the client may still hold a QoS 2 message under.</summary>
    public void Removed(Guid messageId) => Done(messageId);

    /// <summary>QoS 1 PUBACK (or a refused or discarded message): the message's flow is over and its id free.</summary>
    public void Done(Guid message)
    {
        lock (_gate)
        {
            Forget(message);
        }
    }

    /// <summary>QoS 2 PUBREC: the message leaves the queue; its id waits for PUBCOMP.</summary>
    public void Received(Guid message, ushort packetId)
    {
        lock (_gate)
        {
            Forget(message);
            (_awaitingComplete ??= []).Add(packetId);
        }
    }

    /// <summary>QoS 2 PUBCOMP: the id is free. False if it was not awaiting one.</summary>
    public bool Completed(ushort packetId)
    {
        lock (_gate)
        {
            return _awaitingComplete?.Remove(packetId) == true;
        }
    }

    /// <summary>Ids whose PUBREL is to be sent again on reconnect, in id order.</summary>
    public ushort[] AwaitingComplete()
    {
        lock (_gate)
        {
            var ids = _awaitingComplete?.ToArray() ?? [];
            Array.Sort(ids);
            return ids;
        }
    }

    /// <summary>Inbound QoS 2: the message with this id is routed; <paramref name="stored"/> completes when what it
    /// reached is durable (a resend is answered only after it).</summary>
    public void StartRelease(ushort packetId, Task stored)
    {
        lock (_gate)
        {
            (_awaitingRelease ??= [])[packetId] = stored;
        }
    }

    /// <summary>Inbound QoS 2: whether the id awaits PUBREL (a resend: not routed again), and the write its PUBREC waits for.</summary>
    public bool IsAwaitingRelease(ushort packetId, out Task stored)
    {
        lock (_gate)
        {
            if (_awaitingRelease is not null && _awaitingRelease.TryGetValue(packetId, out var task))
            {
                stored = task;
                return true;
            }

            stored = Task.CompletedTask;
            return false;
        }
    }

    public int AwaitingReleaseCount
    {
        get
        {
            lock (_gate)
            {
                return _awaitingRelease?.Count ?? 0;
            }
        }
    }

    /// <summary>Inbound QoS 2, a route that failed or was refused: the id is free again, if it still names that route
    /// (<paramref name="stored"/>) and not a newer one a client reusing the id started since.</summary>
    public void Release(ushort packetId, Task stored)
    {
        lock (_gate)
        {
            if (_awaitingRelease is not null && _awaitingRelease.TryGetValue(packetId, out var task) && ReferenceEquals(task, stored))
            {
                _awaitingRelease.Remove(packetId);
            }
        }
    }

    /// <summary>Inbound QoS 2 PUBREL: the id may be used again. False if it was unknown.</summary>
    public bool Release(ushort packetId)
    {
        lock (_gate)
        {
            return _awaitingRelease?.Remove(packetId) == true;
        }
    }
}
