namespace Daakia.Server.Mqtt;

/// <summary>The MQTT listener's limits (the <c>Daakia:Mqtt</c> section); each is listed in docs/configuration.md.</summary>
public sealed class MqttOptions
{
    /// <summary>Largest packet accepted from a client, in bytes (CONNACK's Maximum Packet Size); larger ones end the
    /// connection (5.0: DISCONNECT 0x95) before they are buffered.</summary>
    public int MaxPacketSize { get; set; } = 1024 * 1024 + 1024;

    /// <summary>Seconds a new connection has to send CONNECT before it is closed.</summary>
    public int ConnectTimeoutSeconds { get; set; } = 10;

    /// <summary>Largest keep-alive a client may ask for, in seconds; a larger one (or 0, none) gets this as the Server Keep Alive (5.0).</summary>
    public int MaxKeepAliveSeconds { get; set; } = 3600;

    /// <summary>QoS 1 and 2 publications in flight to one client (no PUBACK / PUBCOMP yet), at most; also capped by the
    /// client's Receive Maximum.</summary>
    public int MaxInflight { get; set; } = 64;

    /// <summary>QoS 2 publications from one client awaiting PUBREL, at most (CONNACK's Receive Maximum); one more is
    /// DISCONNECT 0x93.</summary>
    public int ReceiveMaximum { get; set; } = 64;

    /// <summary>Topic aliases a 5.0 client may set (CONNACK's Topic Alias Maximum); 0 turns them off.</summary>
    public int TopicAliasMaximum { get; set; } = 32;

    /// <summary>Most topic aliases the server sets towards one 5.0 client (never more than the client's Topic Alias
    /// Maximum): the first topics it sends get one and are sent as a 2-byte alias from then on. 0 (the default): none,
    /// because several clients announce a Topic Alias Maximum and then hand their application an empty topic (MQTTnet
    /// 5.2 among them).</summary>
    public int MaxOutboundTopicAliases { get; set; }

    /// <summary>
    /// Pacing: once more than a subscriber's mark waits in its outbox, a client whose publication went into it is not
    /// read further (after the rest of that read) until that outbox is down to half its mark (or
    /// <see cref="PaceWaitMilliseconds"/> passed), so publishers go at the pace of their subscribers instead of
    /// queueing in the server. This is the highest mark, in bytes; 0 turns pacing off.
    /// </summary>
    public long PaceBytes { get; set; } = 256 * 1024;

    /// <summary>The mark follows what the subscriber drains in this many milliseconds, measured while its outbox is
    /// backlogged, so a slow subscriber's publications wait a few milliseconds in the server, not a quarter of a
    /// megabyte's worth. 0: the mark is always <see cref="PaceBytes"/>.</summary>
    public int PaceMilliseconds { get; set; } = 2;

    /// <summary>The lowest mark, in bytes (a subscriber that drains slowly or not at all); never above
    /// <see cref="PaceBytes"/>.</summary>
    public long PaceMinimumBytes { get; set; } = 16 * 1024;

    /// <summary>Longest a paced publisher waits for one subscriber (a subscriber that reads nothing must not stop its
    /// publishers for good; its outbox bound drops what it cannot take).</summary>
    public int PaceWaitMilliseconds { get; set; } = 1000;

    /// <summary>Packets queued for one connection before publications to it are dropped (a slow consumer).</summary>
    public int OutboxCapacity { get; set; } = 4096;

    /// <summary>Bytes queued for one connection before publications to it are dropped (a slow consumer).</summary>
    public long OutboxBytes { get; set; } = 16 * 1024 * 1024;
}
