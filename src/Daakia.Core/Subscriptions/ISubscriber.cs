namespace Daakia.Core;

/// <summary>
/// The owner of subscriptions, as routing sees it: a connection today (<see cref="ClientConnection"/>), and an MQTT
/// persistent session, which outlives its connections, later. The topic trie knows owners only through this seam;
/// an owner's identity is the object itself.
/// </summary>
internal interface ISubscriber
{
    /// <summary>The client the subscriber acts for; no-local compares it with a publication's author (MQTT-3.8.3-3).</summary>
    ClientId Client { get; }

    /// <summary>
    /// Offers a publication that matched <paramref name="matched"/>: every non-shared subscription of this subscriber
    /// that matches the topic (MQTT 5.0 delivers one copy at the highest of their QoS, with all their subscription
    /// identifiers; MQTT 3.1.1 one copy at the highest QoS), or the one shared subscription the message was given to.
    /// False when it could not be queued (a full outbox). Called without locks or under the tenant lock; must not block.
    /// </summary>
    bool TryPublish(Publication publication, ReadOnlySpan<Subscription> matched);
}
