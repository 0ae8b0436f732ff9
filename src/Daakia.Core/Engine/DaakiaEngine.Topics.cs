namespace Daakia.Core;

public sealed partial class DaakiaEngine
{
    /// <summary>Adds topic filters (MQTT wildcards) to a connection. Validates all before adding any.</summary>
    public void Subscribe(ClientConnection connection, IReadOnlyList<string> filters)
    {
        foreach (var f in filters)
        {
            if (!TopicNames.IsValidFilter(f, _options, out var error))
            {
                throw DaakiaException.Invalid(error!);
            }
        }

        var t = Tenant(connection.Tenant);
        lock (t.Gate)
        {
            if (connection.Removed)
            {
                throw new DaakiaException(DaakiaErrorCode.Unavailable, "The connection is closed.");
            }

            var adding = 0;
            foreach (var f in filters)
            {
                adding += connection.Subscriptions.Contains(f) ? 0 : 1;
            }

            if (connection.Subscriptions.Count + adding > _options.MaxSubscriptionsPerConnection)
            {
                throw new DaakiaException(DaakiaErrorCode.LimitExceeded, $"At most {_options.MaxSubscriptionsPerConnection} subscriptions per connection.");
            }

            foreach (var f in filters)
            {
                if (connection.Subscriptions.Add(f))
                {
                    t.Topics.Add(f, connection);
                }
            }
        }
    }

    /// <summary>Removes topic filters from a connection; unknown filters are ignored.</summary>
    public void Unsubscribe(ClientConnection connection, IReadOnlyList<string> filters)
    {
        var t = Tenant(connection.Tenant);
        lock (t.Gate)
        {
            foreach (var f in filters)
            {
                if (connection.Subscriptions.Remove(f))
                {
                    t.Topics.Remove(f, connection);
                }
            }
        }
    }

    /// <summary>
    /// Publishes to a topic (non-durable): every connection subscribed now gets it once. Topics starting with
    /// <c>$</c> are the server's. Returns the number of connections it was queued for.
    /// </summary>
    public int Publish(TenantId tenant, ClientId? author, string topic, ReadOnlyMemory<byte> payload)
    {
        EnsureAccepting();
        if (!TopicNames.IsValidName(topic, _options, out var error))
        {
            throw DaakiaException.Invalid(error!);
        }

        if (topic.StartsWith('$'))
        {
            throw new DaakiaException(DaakiaErrorCode.Forbidden, "Topics starting with '$' are reserved for the server.");
        }

        if (payload.Length > _options.MaxPayloadBytes)
        {
            throw new DaakiaException(DaakiaErrorCode.PayloadTooLarge, $"The payload is {payload.Length} bytes; at most {_options.MaxPayloadBytes} are allowed.");
        }

        var publication = new Publication
        {
            Tenant = tenant,
            Topic = topic,
            Author = author,
            Payload = payload,
            Timestamp = _time.GetUtcNow(),
        };
        return Route(Tenant(tenant), publication);
    }

    private int Route(TenantState t, Publication publication)
    {
        var subscribers = t.Topics.Match(publication.Topic);
        var queued = 0;
        foreach (var c in subscribers)
        {
            if (c.Target.TryPublish(publication))
            {
                queued++;
            }
            else
            {
                // Publications are at-most-once: a full outbox drops this one and counts it (the slow-consumer policy
                // for QoS 0); letters, which are durable, are bounded by the in-flight window instead.
                _metrics.PublicationDropped();
            }
        }

        _metrics.Publication();
        return queued;
    }
}
