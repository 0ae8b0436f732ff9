using System.Diagnostics.Metrics;

namespace Daakia.Core;

/// <summary>
/// The core's instruments on the <c>Daakia</c> meter (System.Diagnostics.Metrics, no exporter dependency here);
/// the host exports them as Prometheus metrics.
/// </summary>
internal sealed class DaakiaMetrics : IDisposable
{
    public const string MeterName = "Daakia";

    private readonly Meter _meter = new(MeterName);

    public DaakiaMetrics(Func<long> connections)
    {
        LettersSent = _meter.CreateCounter<long>("daakia.letters.sent", description: "Letters accepted (durable in every recipient's inbox).");
        LettersDelivered = _meter.CreateCounter<long>("daakia.letters.delivered", description: "Letters handed to a connection.");
        LettersAcknowledged = _meter.CreateCounter<long>("daakia.letters.acknowledged", description: "Letters removed from inboxes by an ack.");
        LettersExpired = _meter.CreateCounter<long>("daakia.letters.expired", description: "Letters removed from inboxes because their TTL passed.");
        Publications = _meter.CreateCounter<long>("daakia.publications", description: "Topic publications routed.");
        PublicationsDropped = _meter.CreateCounter<long>("daakia.publications.dropped", description: "Publications dropped because a subscriber's outbox was full.");
        ConnectionsClosed = _meter.CreateCounter<long>("daakia.connections.closed", description: "Connections the server closed, by reason.");
        _meter.CreateObservableGauge("daakia.connections", connections, description: "Live connections.");
    }

    public Counter<long> LettersSent { get; }

    public Counter<long> LettersDelivered { get; }

    public Counter<long> LettersAcknowledged { get; }

    public Counter<long> LettersExpired { get; }

    public Counter<long> Publications { get; }

    public Counter<long> PublicationsDropped { get; }

    public Counter<long> ConnectionsClosed { get; }

    public void Dispose() => _meter.Dispose();
}
