using System.Buffers.Binary;
using System.Text;

namespace Daakia.Core;

/// <summary>
/// One subscription of a named queue in memory (under the tenant's lock): its definition, what its outbox holds (an
/// upper bound, for the outbox's limits), its delivery counts, and its dispatcher's state.
/// </summary>
internal sealed class SubscriptionState(QueueSubscription info, TenantState owner)
{
    public QueueSubscription Info { get; set; } = info;

    public TenantState Owner { get; } = owner;

    public TenantId Tenant => Owner.Id;

    public QueueKey Outbox { get; } = new(owner.Id, QueueKind.Notifications, SubscriptionRecords.Key(info.Queue, info.Id));

    /// <summary>The live connection notified (<see cref="SubscriberKind.Connection"/> only).</summary>
    public IQueueWatcher? Watcher { get; init; }

    /// <summary>Entries in the outbox, and their bytes as <see cref="Storage.InboxQuota.StoredSize"/> counts them: raised
    /// when an append is started, lowered when one fails or an entry goes (delivered, failed, expired).</summary>
    public long Pending { get; set; }

    public long PendingBytes { get; set; }

    public long Delivered { get; set; }

    public long Retried { get; set; }

    public long Failed { get; set; }

    public long Dropped { get; set; }

    /// <summary>Live-connection notifications handed over and dropped (counted outside the lock).</summary>
#pragma warning disable SA1401, CA1051 // fields: counted with Interlocked outside the tenant's lock
    public long LiveDelivered;
    public long LiveDropped;
#pragma warning restore SA1401, CA1051

    public string? LastError { get; set; }

    public DateTimeOffset? LastAttemptAt { get; set; }

    /// <summary>The dispatcher runs for this subscription (one at a time).</summary>
    public bool Pumping { get; set; }

    /// <summary>Something arrived in the outbox since the dispatcher last looked.</summary>
    public bool Dirty { get; set; }

    /// <summary>Completes when something arrives (the dispatcher waits on it while entries wait for their retry time).</summary>
    public TaskCompletionSource? Wake { get; set; }

    /// <summary>Deleted (or expired, or its queue deleted): the dispatcher stops.</summary>
    public bool Gone { get; set; }

    public SubscriptionDeliveryStats Stats() => new(Pending, Delivered + Volatile.Read(ref LiveDelivered), Retried, Failed, Dropped + Volatile.Read(ref LiveDropped), LastError, LastAttemptAt);

    /// <summary>An entry of <paramref name="bytes"/> goes into the outbox (caller holds the lock).</summary>
    public void Add(long bytes)
    {
        Pending++;
        PendingBytes += bytes;
        Owner.NotificationBytes += bytes;
    }

    /// <summary>
    /// An entry of <paramref name="bytes"/> left the outbox (caller holds the lock); 0 when its size is not known (the
    /// sweep does not read payloads): the bytes then stay counted until the outbox is empty, an upper bound either way.
    /// </summary>
    public void Left(long bytes)
    {
        Pending = Math.Max(0, Pending - 1);
        var gone = Pending == 0 ? PendingBytes : Math.Min(bytes, PendingBytes);
        PendingBytes -= gone;
        Owner.NotificationBytes = Math.Max(0, Owner.NotificationBytes - gone);
    }

    /// <summary>What the outbox holds as measured by the store (a restart).</summary>
    public void Measured(long entries, long bytes)
    {
        Owner.NotificationBytes += bytes - PendingBytes;
        Pending = entries;
        PendingBytes = bytes;
    }

    /// <summary>The outbox is emptied (the subscription goes).</summary>
    public void Emptied()
    {
        Owner.NotificationBytes = Math.Max(0, Owner.NotificationBytes - PendingBytes);
        Pending = 0;
        PendingBytes = 0;
    }
}

/// <summary>The store encoding of a queue subscription's record (<see cref="Storage.RecordKind.QueueSubscription"/>),
/// version 1. Live-connection subscriptions are never stored.</summary>
internal static class SubscriptionRecords
{
    private const byte Version = 1;

    /// <summary>The record's key, and its outbox's queue name: the queue name, '/', the id.</summary>
    public static string Key(string queue, Guid id) => queue + "/" + id.ToString("N");

    public static byte[] Encode(QueueSubscription s)
    {
        var subscriber = Encoding.UTF8.GetBytes(s.Subscriber);
        var secret = Encoding.UTF8.GetBytes(s.Secret);
        var project = Encoding.UTF8.GetBytes(s.Project);
        var buffer = new byte[1 + 16 + 1 + 1 + (3 * 8) + (4 * 4) + subscriber.Length + s.Options.Length + secret.Length + project.Length + (3 * 4) + (2 * 8) + 1];
        var w = new Span<byte>(buffer);
        var at = 0;
        w[at++] = Version;
        s.Id.TryWriteBytes(w[at..]);
        at += 16;
        w[at++] = (byte)s.Kind;
        w[at++] = s.Confirmed ? (byte)1 : (byte)0;
        Long(w, ref at, (long)s.Ttl.TotalMilliseconds);
        Long(w, ref at, s.UpdatedAt.ToUnixTimeMilliseconds());
        Long(w, ref at, s.ExpiresAt.ToUnixTimeMilliseconds());
        Bytes(w, ref at, subscriber);
        Bytes(w, ref at, s.Options.Span);
        Bytes(w, ref at, secret);
        var p = s.RetryPolicy;
        Int(w, ref at, p.RetriesWithNoDelay);
        Int(w, ref at, p.MinimumDelayRetries);
        Int(w, ref at, p.MaximumDelayRetries);
        Long(w, ref at, (long)p.MinimumDelay.TotalMilliseconds);
        Long(w, ref at, (long)p.MaximumDelay.TotalMilliseconds);
        w[at++] = (byte)p.Backoff;
        Bytes(w, ref at, project);
        return buffer;
    }

    public static QueueSubscription Decode(string key, ReadOnlySpan<byte> value)
    {
        var slash = key.LastIndexOf('/');
        var r = new Storage.RecordReader(value);
        if (slash <= 0 || value.Length < 1 || r.Byte() != Version)
        {
            throw new InvalidDataException($"Subscription record '{key}' is of an unknown version.");
        }

        var id = r.Guid();
        var kind = (SubscriberKind)r.Byte();
        var confirmed = r.Byte() == 1;
        var ttl = TimeSpan.FromMilliseconds(r.Long());
        var updated = DateTimeOffset.FromUnixTimeMilliseconds(r.Long());
        var expires = DateTimeOffset.FromUnixTimeMilliseconds(r.Long());
        var subscriber = Encoding.UTF8.GetString(r.Bytes());
        var options = r.Bytes().ToArray();
        var secret = Encoding.UTF8.GetString(r.Bytes());
        var policy = new NotificationRetryPolicy
        {
            RetriesWithNoDelay = r.Int(),
            MinimumDelayRetries = r.Int(),
            MaximumDelayRetries = r.Int(),
            MinimumDelay = TimeSpan.FromMilliseconds(r.Long()),
            MaximumDelay = TimeSpan.FromMilliseconds(r.Long()),
            Backoff = (RetryBackoff)r.Byte(),
        };
        var project = Encoding.UTF8.GetString(r.Bytes());
        return new QueueSubscription(id, key[..slash], subscriber, kind, ttl, updated, expires, options, confirmed, secret, policy) { Project = project };
    }

    private static void Long(Span<byte> w, ref int at, long v)
    {
        BinaryPrimitives.WriteInt64LittleEndian(w[at..], v);
        at += 8;
    }

    private static void Int(Span<byte> w, ref int at, int v)
    {
        BinaryPrimitives.WriteInt32LittleEndian(w[at..], v);
        at += 4;
    }

    private static void Bytes(Span<byte> w, ref int at, ReadOnlySpan<byte> v)
    {
        Int(w, ref at, v.Length);
        v.CopyTo(w[at..]);
        at += v.Length;
    }
}
