using Daakia.Core;
using Daakia.Core.Storage;

namespace Daakia.Storage.Journal;

/// <summary>How letters, activity entries, retained messages and sessions are written in the journal.</summary>
public sealed partial class JournalStore
{
    // Letter flags.
    private const byte HasContentType = 1, HasHeaders = 2, HasEnvelope = 4, HasVisibleAt = 8, HasExpiresAt = 16;

    private static void WriteLetter(RecordBuffer log, Letter m)
    {
        var custom = !string.Equals(m.ContentType, Letter.JsonContentType, StringComparison.Ordinal);
        var flags = (byte)((custom ? HasContentType : 0) | (m.Headers.Count > 0 ? HasHeaders : 0) | (m.Envelope is not null ? HasEnvelope : 0)
            | (m.VisibleAt is not null ? HasVisibleAt : 0) | (m.ExpiresAt is not null ? HasExpiresAt : 0));
        log.Byte(flags);
        log.Guid(m.Id);
        log.String(m.Tenant.Value);
        log.String(m.Author.Value);
        log.Varint((ulong)m.Recipients.Count);
        foreach (var r in m.Recipients)
        {
            log.String(r.Value);
        }

        log.Time(m.Timestamp);
        if (custom)
        {
            log.String(m.ContentType);
        }

        if (m.Headers.Count > 0)
        {
            log.Varint((ulong)m.Headers.Count);
            foreach (var (key, value) in m.Headers)
            {
                log.String(key);
                log.String(value);
            }
        }

        if (m.Envelope is { } e)
        {
            log.String(e.Topic);
            log.Byte((byte)((int)e.Qos | (e.Retain ? 4 : 0)));
            log.Byte(e.PayloadFormat ?? 0xFF);
            log.OptionalString(e.ResponseTopic);
            if (e.CorrelationData is { } c)
            {
                log.Byte(1);
                log.Bytes(c.Span);
            }
            else
            {
                log.Byte(0);
            }
        }

        if (m.VisibleAt is { } v)
        {
            log.Time(v);
        }

        if (m.ExpiresAt is { } x)
        {
            log.Time(x);
        }

        log.Bytes(m.Payload.Span);
    }

    private static Letter ReadLetter(ref RecordReader r)
    {
        var flags = r.Byte();
        var id = r.Guid();
        var tenant = TenantId.Parse(r.String());
        var author = ClientId.Parse(r.String());
        var recipients = new ClientId[r.Int()];
        for (var i = 0; i < recipients.Length; i++)
        {
            recipients[i] = ClientId.Parse(r.String());
        }

        var timestamp = r.Time();
        var contentType = (flags & HasContentType) != 0 ? r.String() : Letter.JsonContentType;
        IReadOnlyList<KeyValuePair<string, string>> headers = [];
        if ((flags & HasHeaders) != 0)
        {
            var list = new KeyValuePair<string, string>[r.Int()];
            for (var i = 0; i < list.Length; i++)
            {
                var key = r.String();
                list[i] = new(key, r.String());
            }

            headers = list;
        }

        PublicationEnvelope? envelope = null;
        if ((flags & HasEnvelope) != 0)
        {
            var topic = r.String();
            var qos = r.Byte();
            var format = r.Byte();
            var response = r.OptionalString();
            var correlation = r.Byte() == 1 ? r.Bytes() : null;
            envelope = new PublicationEnvelope(topic, (QualityOfService)(qos & 3), (qos & 4) != 0)
            {
                PayloadFormat = format == 0xFF ? null : format,
                ResponseTopic = response,
                CorrelationData = correlation is null ? (ReadOnlyMemory<byte>?)null : correlation, // not an empty, present one
            };
        }

        var visible = (flags & HasVisibleAt) != 0 ? r.Time() : (DateTimeOffset?)null;
        var expires = (flags & HasExpiresAt) != 0 ? r.Time() : (DateTimeOffset?)null;
        var payload = r.Bytes();
        return new Letter
        {
            Id = id,
            Tenant = tenant,
            Author = author,
            Recipients = recipients,
            Payload = payload,
            ContentType = contentType,
            Headers = headers,
            Envelope = envelope,
            VisibleAt = visible,
            Timestamp = timestamp,
            ExpiresAt = expires,
        };
    }

    private static void WriteActivity(RecordBuffer log, ActivityEntry e)
    {
        log.Varint(e.Id);
        log.String(e.Tenant.Value);
        log.Time(e.At);
        log.String(e.Kind);
        log.OptionalString(e.Actor?.Value);
        log.OptionalString(e.Subject);
        log.OptionalString(e.Detail);
    }

    private static ActivityEntry ReadActivity(ref RecordReader r)
    {
        var id = r.Long();
        var tenant = TenantId.Parse(r.String());
        var at = r.Time();
        var kind = r.String();
        var actor = r.OptionalString() is { } a ? ClientId.Parse(a) : (ClientId?)null;
        return new ActivityEntry(id, tenant, at, kind, actor, r.OptionalString(), r.OptionalString());
    }

    private static void WriteRetained(RecordBuffer log, RetainedMessage m)
    {
        log.String(m.Tenant.Value);
        log.String(m.Topic);
        log.OptionalString(m.Author?.Value);
        log.String(m.ContentType);
        log.Byte((byte)m.Qos);
        log.Time(m.Timestamp);
        log.OptionalTime(m.ExpiresAt);
        log.Bytes(m.Payload.Span);
        if (Core.Storage.PropertiesBlob.Encode(m.Properties) is { } properties)
        {
            log.Byte(1);
            log.Bytes(properties);
        }
        else
        {
            log.Byte(0);
        }
    }

    /// <summary>A retained message of <see cref="Effect.RetainWithProperties"/> (or, without them, of <see cref="Effect.Retain"/>).</summary>
    private static RetainedMessage ReadRetained(ref RecordReader r, bool withProperties)
    {
        var tenant = TenantId.Parse(r.String());
        var topic = r.String();
        var author = r.OptionalString() is { } a ? ClientId.Parse(a) : (ClientId?)null;
        var contentType = r.String();
        var qos = (QualityOfService)r.Byte();
        var timestamp = r.Time();
        var expires = r.OptionalTime();
        var payload = r.Bytes();
        var properties = withProperties && r.Byte() == 1 ? Core.Storage.PropertiesBlob.Decode(r.Bytes()) : null;
        return new RetainedMessage(tenant, topic, author, payload, contentType, qos, timestamp, expires, properties);
    }

    private static void WriteSession(RecordBuffer log, SessionRecord s, bool withAwaiting)
    {
        log.String(s.Tenant.Value);
        log.String(s.Client.Value);
        log.Varint(s.ExpirySeconds);
        log.Varint((ulong)s.Subscriptions.Count);
        foreach (var sub in s.Subscriptions)
        {
            var o = sub.Options;
            log.String(sub.Filter);
            log.Byte((byte)((int)o.MaxQos | (o.NoLocal ? 4 : 0) | (o.RetainAsPublished ? 8 : 0) | ((int)o.RetainHandling << 4)));
            log.Varint((ulong)(o.SubscriptionIdentifier ?? 0));
        }

        if (withAwaiting)
        {
            log.Varint((ulong)s.AwaitingComplete.Count);
            foreach (var id in s.AwaitingComplete)
            {
                log.Varint(id);
            }
        }
    }

    private static SessionRecord ReadSession(ref RecordReader r, bool withAwaiting)
    {
        var tenant = TenantId.Parse(r.String());
        var client = ClientId.Parse(r.String());
        var expiry = checked((uint)r.Varint());
        var subscriptions = new SubscriptionRequest[r.Int()];
        for (var i = 0; i < subscriptions.Length; i++)
        {
            var filter = r.String();
            var flags = r.Byte();
            var id = r.Int();
            subscriptions[i] = new SubscriptionRequest(filter, new SubscriptionOptions
            {
                MaxQos = (QualityOfService)(flags & 3),
                NoLocal = (flags & 4) != 0,
                RetainAsPublished = (flags & 8) != 0,
                RetainHandling = (RetainHandling)((flags >> 4) & 3),
                SubscriptionIdentifier = id == 0 ? null : id,
            });
        }

        var record = new SessionRecord(tenant, client, expiry, subscriptions);
        if (withAwaiting)
        {
            var awaiting = new ushort[r.Int()];
            for (var i = 0; i < awaiting.Length; i++)
            {
                awaiting[i] = checked((ushort)r.Varint());
            }

            record = record with { AwaitingComplete = awaiting };
        }

        return record;
    }
}
