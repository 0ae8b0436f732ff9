namespace Daakia.Core.Storage;

/// <summary>
/// One record of a unit of work (<see cref="IQueueStore.WriteAsync"/>): the store applies every op of a unit in one
/// commit, all or nothing.
/// </summary>
public abstract record StoreOp;

/// <summary>Appends <paramref name="Message"/> to every queue of <paramref name="Queues"/> (payload stored once), unless
/// that would pass <paramref name="Quota"/>.</summary>
public sealed record AppendOp(Letter Message, IReadOnlyList<QueueKey> Queues, InboxQuota? Quota = null) : StoreOp;

/// <summary>Removes the entries of the given message ids from one queue (acknowledged, or deleted by a consumer).</summary>
public sealed record DeleteOp(QueueKey Queue, IReadOnlyList<Guid> Ids) : StoreOp;

/// <summary>Records entries that came back unacknowledged: their delivery counts and when they are visible again.</summary>
public sealed record ReturnOp(QueueKey Queue, IReadOnlyList<ReturnedEntry> Entries) : StoreOp;

/// <summary>
/// Moves entries from one queue to the end of another (dead-lettering), keeping their delivery counts, and records an
/// activity entry for each moved one: kind <paramref name="ActivityKind"/>, at <paramref name="At"/>, actor the message's
/// author, subject the source queue's name, detail the message id.
/// </summary>
public sealed record MoveOp(QueueKey From, QueueKey To, IReadOnlyList<Guid> Ids, string ActivityKind, DateTimeOffset At) : StoreOp;

/// <summary>
/// Sets when the named entries of one queue expire: each found entry's expiry becomes the given time, or, with
/// <paramref name="ExtendOnly"/>, the later of its own and the given one (an entry that never expires keeps that).
/// Expiry is the entry's, not the message's: another queue holding the same message keeps its own. From then on every
/// read, the expiry sweep and the usage see the entry expire at the new time.
/// </summary>
/// <remarks>Moving an expiry into the past makes the entry expired at once (reads return it, the next sweep removes it,
/// as for any expired entry).</remarks>
public sealed record ExpiryOp(QueueKey Queue, IReadOnlyList<EntryExpiry> Entries, bool ExtendOnly = false) : StoreOp;

/// <summary>Appends activity entries.</summary>
public sealed record ActivityOp(IReadOnlyList<ActivityEntry> Entries) : StoreOp;

/// <summary>Keeps <paramref name="Message"/> as its topic's retained message, replacing the one there.</summary>
public sealed record RetainOp(RetainedMessage Message) : StoreOp;

/// <summary>Removes a topic's retained message, if it has one.</summary>
public sealed record ClearRetainedOp(TenantId Tenant, string Topic) : StoreOp;

/// <summary>
/// What one op of a unit of work did: for an append, the position the message got in each of its queues (in the order
/// of <see cref="AppendOp.Queues"/>); for a delete, return, move or expiry change, how many entries it found (an expiry
/// change counts an entry found whether or not its expiry changed).
/// </summary>
public readonly record struct StoreOpResult(int Count, IReadOnlyList<long>? Positions = null);
