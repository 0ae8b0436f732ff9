namespace Daakia.Core.Tests;

/// <summary>An owner of subscriptions that is not a connection (as an MQTT session will be); records what it is offered.</summary>
internal sealed class TopicTestSubscriber(string client, bool accepts = true) : ISubscriber
{
    public ClientId Client { get; } = ClientId.Parse(client);

    public bool Accepts { get; set; } = accepts;

    public List<(Publication Publication, Subscription[] Matched)> Offered { get; } = [];

    public bool TryPublish(Publication publication, ReadOnlySpan<Subscription> matched)
    {
        lock (Offered)
        {
            Offered.Add((publication, matched.ToArray()));
        }

        return Accepts;
    }

    public override string ToString() => Client.Value;
}
