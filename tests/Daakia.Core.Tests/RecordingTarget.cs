using System.Collections.Concurrent;

namespace Daakia.Core.Tests;

/// <summary>A test double of the adapter seam: records what the core hands a connection; can play a full outbox.</summary>
internal sealed class RecordingTarget(int capacity = int.MaxValue) : IDeliveryTarget
{
    public ConcurrentQueue<Letter> Letters { get; } = new();

    /// <summary>The delivery count the core gave with each letter, in the order of <see cref="Letters"/>.</summary>
    public ConcurrentQueue<int> DeliveryCounts { get; } = new();

    public ConcurrentQueue<Publication> Publications { get; } = new();

    public CloseReason? Closed { get; private set; }

    public int Capacity { get; set; } = capacity;

    public bool TryDeliver(Letter letter, int deliveries)
    {
        if (Letters.Count + Publications.Count >= Capacity)
        {
            return false;
        }

        DeliveryCounts.Enqueue(deliveries);
        Letters.Enqueue(letter);
        return true;
    }

    public bool TryPublish(Publication publication)
    {
        if (Letters.Count + Publications.Count >= Capacity)
        {
            return false;
        }

        Publications.Enqueue(publication);
        return true;
    }

    public void Close(CloseReason reason) => Closed ??= reason;

    public List<int> Numbers() => Letters.Select(l => int.Parse(System.Text.Encoding.UTF8.GetString(l.Payload.Span), System.Globalization.CultureInfo.InvariantCulture)).ToList();
}
