namespace Daakia.Core.Storage;

/// <summary>What a <see cref="StoredRecord"/> describes: each kind is one capability's durable state beside its queue.</summary>
public enum RecordKind : byte
{
    /// <summary>A named queue (Zaqar): its metadata and when it was made; the key is the queue name.</summary>
    NamedQueue = 0,

    /// <summary>A claim on a named queue's messages; the key is the queue name, '/', the claim id.</summary>
    Claim = 1,

    /// <summary>A subscription of a named queue (a webhook, an e-mail address, a WebSocket); the key is the queue name,
    /// '/', the subscription id.</summary>
    QueueSubscription = 2,

    /// <summary>A post's idempotency key on a named queue and the ids it stored; the key is the queue name, '/', the
    /// client's key.</summary>
    Idempotency = 3,

    /// <summary>A named queue bound to a topic filter (publications matching it are appended to the queue); the key is
    /// the queue name, '/', the filter.</summary>
    QueueBinding = 4,

    /// <summary>A service of a tenant's workers (its description, when first registered); the key is the service name.</summary>
    TaskService = 5,

    /// <summary>A task (its state, priority, requirements, attempts, result); the key is the task id (32 hex digits).
    /// Its payload is its entry in the service's task queue (<see cref="QueueKind.Tasks"/>).</summary>
    Task = 6,
}

/// <summary>
/// One durable record: a tenant's value under a kind and a key, opaque to the store (the capability that writes it
/// encodes it). Written as ops of a unit of work (<see cref="PutRecordOp"/>, <see cref="DeleteRecordOp"/>), so that a
/// record changes in the same commit as the queue entries it describes (a claim and its messages' visibility), and read
/// in full when the core starts.
/// </summary>
public sealed record StoredRecord(TenantId Tenant, RecordKind Kind, string Key, ReadOnlyMemory<byte> Value);

/// <summary>Creates or replaces a record.</summary>
public sealed record PutRecordOp(StoredRecord Record) : StoreOp;

/// <summary>Removes a record, if there is one; the count of the result is 1 if there was, else 0.</summary>
public sealed record DeleteRecordOp(TenantId Tenant, RecordKind Kind, string Key) : StoreOp;

/// <summary>Removes every entry of one queue (each as an ack would: payloads freed with their last entry, usage
/// booked); the count of the result is the number of entries removed. The queue's positions are not reused.</summary>
public sealed record PurgeQueueOp(QueueKey Queue) : StoreOp;

/// <summary>Durable records, written as ops of a unit of work and read in full at start-up.</summary>
public interface IRecordStore
{
    /// <summary>
    /// Up to <paramref name="limit"/> records after <paramref name="after"/> (null: from the start), ordered by tenant,
    /// then kind, then key (ordinal).
    /// </summary>
    ValueTask<IReadOnlyList<StoredRecord>> ReadRecordsAsync((TenantId Tenant, RecordKind Kind, string Key)? after, int limit, CancellationToken cancellationToken = default);
}
