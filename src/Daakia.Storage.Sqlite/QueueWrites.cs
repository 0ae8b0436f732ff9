using Daakia.Core;
using Daakia.Core.Storage;

namespace Daakia.Storage.Sqlite;

/// <summary>
/// The queue writes, run on the writer thread inside the caller's savepoint: one op, or every op of a unit of work
/// under one savepoint (so a unit is all or nothing however many of these it runs). Positions are given out here, from
/// the <see cref="QueueLedger"/>, in the writer's order, which is the store's order.
/// </summary>
internal static class QueueWrites
{
    /// <summary>
    /// Appends one message to every queue, unless that would pass the quota for any of them: its content once (one
    /// <c>messages</c> row), and one small entry per queue at the queue's next position. Returns the positions.
    /// </summary>
    /// <remarks>With <paramref name="pair"/> (one queue, acknowledged later in this batch: <see cref="AckPairing"/>)
    /// nothing is written unless an entry of this id is already in the queue.</remarks>
    public static long[] Append(WriterStatements s, Letter message, IReadOnlyList<QueueKey> queues, InboxQuota quota, AckPair? pair = null)
    {
        // Checked on the writer thread against committed usage plus this batch's: exact under any concurrency.
        // A message counts its payload and headers (Letter.Size); the entries keep that size unless it is the payload's.
        var tenant = message.Tenant.Value;
        var entrySize = InboxQuota.StoredSize(message);
        long? counted = message.Size != message.Payload.Length ? message.Size : null;
        var ledger = s.Queues;
        var totalsKey = QueueName.TotalsOf(tenant);
        var totals = ledger.GetOrCreate(totalsKey);
        var tenantSize = InboxQuota.TenantSize(message, queues.Count);
        if (totals.Bytes + tenantSize > quota.MaxTenantBytes)
        {
            throw QuotaStore.TenantFull(message.Tenant, new InboxUsage(totals.Entries, totals.Bytes), quota);
        }

        // The entries of the tenant's named queues together (only named queues' entries count).
        var named = InboxQuota.NamedQueueEntries(queues);
        var namedKey = QueueName.NamedQueueTotalsOf(tenant);
        if (named > 0 && quota.MaxTenantQueueMessages != long.MaxValue
            && (ledger.Find(namedKey)?.Entries ?? 0) is var held && held + named > quota.MaxTenantQueueMessages)
        {
            throw QuotaStore.TenantQueuesFull(message.Tenant, held, quota);
        }

        for (var i = 0; i < queues.Count; i++)
        {
            var key = queues[i];
            if (key.Tenant != message.Tenant)
            {
                // A message's bytes count in its own tenant, and a read names it by the queue's tenant.
                throw new ArgumentException($"Queue {key} is not of the message's tenant '{message.Tenant}'.", nameof(queues));
            }

            var row = ledger.GetOrCreate(QueueName.Of(key));
            if (row.Entries + 1 > quota.MaxLetters || row.Bytes + entrySize > quota.MaxBytes)
            {
                throw QuotaStore.InboxFull(key, new InboxUsage(row.Entries, row.Bytes), quota);
            }
        }

        Span<byte> id = stackalloc byte[16];
        message.Id.TryWriteBytes(id);
        if (pair is not null && !HasEntry(s, ledger.GetOrCreate(QueueName.Of(queues[0])).Qid, id))
        {
            var row = ledger.Push(QueueName.Of(queues[0]), entrySize);
            ledger.Add(totalsKey, 1, tenantSize);
            if (named > 0)
            {
                ledger.AddOrCreate(namedKey, 1, entrySize);
            }

            pair.ContentBytes = message.Size;
            pair.Present = true;
            s.PairedChanges++;
            return [row.LastPosition];
        }

        var insert = s.InsertMessage;
        insert.Bind(1, id);
        insert.Bind(2, message.Author.Value);
        insert.Bind(3, Codec.JoinRecipients(message.Recipients));
        insert.Bind(4, message.Payload.Span);
        insert.Bind(5, Codec.Ms(message.Timestamp));
        insert.Bind(6, queues.Count);
        insert.Bind(7, Codec.StoredContentType(message.ContentType), nullable: true);
        insert.BindBlobOrNull(8, Codec.EncodeHeaders(message.Headers));
        long? visibleAt = message.VisibleAt is { } v ? Codec.Ms(v) : null;
        insert.Bind(9, visibleAt);
        insert.BindBlobOrNull(10, Codec.EncodeEnvelope(message.Envelope));
        insert.Execute();
        var mid = s.LastInsertRowId;

        var entry = s.InsertEntry;
        entry.Bind(3, mid);
        entry.Bind(4, id);
        long? expires = message.ExpiresAt is { } e ? Codec.Ms(e) : null;
        entry.Bind(5, expires);
        entry.Bind(6, 0);
        entry.Bind(7, visibleAt);
        entry.Bind(8, counted);
        var positions = new long[queues.Count];
        for (var i = 0; i < positions.Length; i++)
        {
            var row = ledger.Push(QueueName.Of(queues[i]), entrySize);
            positions[i] = row.LastPosition;
            entry.Bind(1, row.Qid);
            entry.Bind(2, row.LastPosition);
            entry.Execute();
        }

        ledger.Add(totalsKey, queues.Count, tenantSize);
        if (named > 0)
        {
            ledger.AddOrCreate(namedKey, named, named * entrySize);
        }

        return positions;
    }

    /// <summary>Removes the entries of the named ids from one queue; returns how many were there.</summary>
    /// <remarks>An id in <paramref name="pairs"/> whose append booked it without writing it is taken from there.</remarks>
    public static int Delete(WriterStatements s, QueueKey queue, IReadOnlyList<Guid> ids, Dictionary<Guid, AckPair>? pairs = null)
    {
        var key = QueueName.Of(queue);
        if (s.Queues.Find(key) is not { } row)
        {
            return 0; // a queue never written to holds nothing
        }

        var find = s.SelectEntryById;
        var delete = s.DeleteEntryByPos;
        Span<byte> bytes = stackalloc byte[16];
        var removed = 0;
        for (var i = 0; i < ids.Count; i++)
        {
            var id = ids[i];
            if (pairs is not null && pairs.TryGetValue(id, out var pair) && pair.Present)
            {
                pair.Present = false;
                s.PairedChanges++;
                s.Unwritten++;
                Booked(s, key, pair.ContentBytes, lastReference: true);
                removed++;
                continue;
            }

            id.TryWriteBytes(bytes);
            find.Bind(1, row.Qid);
            find.Bind(2, bytes);
            if (FindOne(find, out var position, out var mid, out var counted))
            {
                delete.Bind(1, row.Qid);
                delete.Bind(2, position);
                delete.Execute();
                var (size, last) = Release(s, mid, counted);
                Booked(s, key, size, last);
                removed++;
            }
        }

        return removed;
    }

    /// <summary>Entries back unacknowledged: delivery counts only rise, visibility as given. Returns how many were found.</summary>
    public static int Return(WriterStatements s, QueueKey queue, IReadOnlyList<ReturnedEntry> entries)
    {
        if (s.Queues.Find(QueueName.Of(queue)) is not { } row)
        {
            return 0;
        }

        var update = s.ReturnEntry;
        update.Bind(1, row.Qid);
        Span<byte> bytes = stackalloc byte[16];
        var found = 0;
        foreach (var r in entries)
        {
            r.Id.TryWriteBytes(bytes);
            update.Bind(2, bytes);
            update.Bind(3, r.Deliveries);
            long? visibleAt = r.VisibleAt is { } v ? Codec.Ms(v) : null;
            update.Bind(4, visibleAt);
            found += update.Execute();
        }

        return found;
    }

    /// <summary>Sets (or, with <paramref name="extendOnly"/>, moves later only) the expiry of the named entries of one
    /// queue: the entry's own column, so the message's other entries keep theirs. Returns how many were found.</summary>
    public static int SetExpiry(WriterStatements s, QueueKey queue, IReadOnlyList<EntryExpiry> entries, bool extendOnly)
    {
        if (s.Queues.Find(QueueName.Of(queue)) is not { } row)
        {
            return 0;
        }

        var update = extendOnly ? s.ExtendEntryExpiry : s.SetEntryExpiry;
        update.Bind(1, row.Qid);
        Span<byte> bytes = stackalloc byte[16];
        var found = 0;
        foreach (var x in entries)
        {
            x.Id.TryWriteBytes(bytes);
            update.Bind(2, bytes);
            update.Bind(3, Codec.Ms(x.ExpiresAt));
            found += update.Execute();
        }

        return found;
    }

    /// <summary>
    /// Moves entries to the end of another queue of the same tenant (new positions there), keeping their expiry and
    /// delivery counts and their message's references, and records an activity entry for each. Returns how many moved.
    /// </summary>
    public static int Move(WriterStatements s, QueueKey from, QueueKey to, IReadOnlyList<Guid> ids, string kind, DateTimeOffset at)
    {
        if (from.Tenant != to.Tenant)
        {
            throw new ArgumentException($"A move stays in one tenant ({from} to {to}).", nameof(to));
        }

        var fromKey = QueueName.Of(from);
        if (s.Queues.Find(fromKey) is not { } source)
        {
            return 0;
        }

        var toKey = QueueName.Of(to);
        var take = s.TakeEntryById;
        var insert = s.InsertEntry;
        var record = s.InsertActivity;
        var tenant = from.Tenant.Value;
        Span<byte> bytes = stackalloc byte[16];
        var moved = 0;
        foreach (var id in ids)
        {
            id.TryWriteBytes(bytes);
            take.Bind(1, source.Qid);
            take.Bind(2, bytes);
            if (!TakeOne(take, out var mid, out var expires, out var deliveries, out var counted))
            {
                continue;
            }

            var (author, payloadBytes) = ReadMoved(s, mid);
            var size = counted ?? payloadBytes;
            s.Queues.GetOrCreate(toKey);
            // The payload stays in the tenant and keeps its references: only the two queues' own usage changes.
            s.Queues.Add(fromKey, -1, -(size + InboxQuota.EntryOverhead));
            var target = s.Queues.Push(toKey, size + InboxQuota.EntryOverhead);
            if (fromKey.IsNamedQueue != toKey.IsNamedQueue)
            {
                var sign = toKey.IsNamedQueue ? 1 : -1;
                s.Queues.AddOrCreate(QueueName.NamedQueueTotalsOf(tenant), sign, sign * (size + InboxQuota.EntryOverhead));
            }

            insert.Bind(1, target.Qid);
            insert.Bind(2, target.LastPosition);
            insert.Bind(3, mid);
            insert.Bind(4, bytes);
            insert.Bind(5, expires);
            insert.Bind(6, deliveries);
            insert.BindNull(7);
            insert.Bind(8, counted);
            insert.Execute();

            record.Bind(1, tenant);
            record.Bind(2, Codec.Ms(at));
            record.Bind(3, kind);
            record.Bind(4, author);
            record.Bind(5, from.Name);
            record.Bind(6, id.ToString());
            record.Execute();
            moved++;
        }

        return moved;
    }

    /// <summary>Appends activity entries.</summary>
    public static int Record(WriterStatements s, IReadOnlyList<ActivityEntry> entries)
    {
        var insert = s.InsertActivity;
        foreach (var e in entries)
        {
            insert.Bind(1, e.Tenant.Value);
            insert.Bind(2, Codec.Ms(e.At));
            insert.Bind(3, e.Kind);
            insert.Bind(4, WriterStatements.Text(e.Actor), nullable: true);
            insert.Bind(5, e.Subject, nullable: true);
            insert.Bind(6, e.Detail, nullable: true);
            insert.Execute();
        }

        return entries.Count;
    }

    /// <summary>
    /// Deletes the message row if this was its last entry, else drops a reference; returns the content bytes the entry
    /// was counted with (<paramref name="counted"/>, the entry's <c>size</c>, or else the payload's length) and whether
    /// the message went.
    /// </summary>
    public static (long ContentBytes, bool Last) Release(WriterStatements s, long mid, long? counted)
    {
        var select = s.SelectReferences;
        select.Bind(1, mid);
        if (!StepTwo(select, out var references, out var payloadBytes))
        {
            return (0, false);
        }

        var last = references <= 1;
        var change = last ? s.DeleteMessage : s.DropReference;
        change.Bind(1, mid);
        change.Execute();
        return (counted ?? payloadBytes, last);
    }

    /// <summary>Books the removal of one entry in the queue's and the tenant's usage (and, for a named queue, its named
    /// queues' totals): what its append added.</summary>
    public static void Booked(WriterStatements s, QueueName queue, long contentBytes, bool lastReference)
    {
        s.Queues.Add(queue, -1, -(contentBytes + InboxQuota.EntryOverhead));
        s.Queues.Add(QueueName.TotalsOf(queue.Tenant), -1, -((lastReference ? contentBytes : 0) + InboxQuota.EntryOverhead));
        if (queue.IsNamedQueue)
        {
            s.Queues.AddOrCreate(QueueName.NamedQueueTotalsOf(queue.Tenant), -1, -(contentBytes + InboxQuota.EntryOverhead));
        }
    }

    /// <summary>Whether the queue holds an entry of this id (committed, or written earlier in this batch).</summary>
    private static bool HasEntry(WriterStatements s, long qid, ReadOnlySpan<byte> id)
    {
        var find = s.SelectEntryById;
        find.Bind(1, qid);
        find.Bind(2, id);
        return StepTwo(find, out _, out _);
    }

    /// <summary>Runs a statement that returns at most one row of two integers.</summary>
    private static bool StepTwo(RawStatement statement, out long first, out long second)
    {
        (first, second) = (0, 0);
        var found = false;
        try
        {
            while (statement.Step())
            {
                first = statement.Int64(0);
                second = statement.Int64(1);
                found = true;
            }
        }
        catch
        {
            statement.Reset();
            throw;
        }

        return found;
    }

    /// <summary>Runs <see cref="WriterStatements.SelectEntryById"/>: the entry's position, message and counted size.</summary>
    private static bool FindOne(RawStatement find, out long position, out long mid, out long? counted)
    {
        (position, mid, counted) = (0, 0, null);
        var found = false;
        try
        {
            while (find.Step())
            {
                position = find.Int64(0);
                mid = find.Int64(1);
                counted = find.IsNull(2) ? null : find.Int64(2);
                found = true;
            }
        }
        catch
        {
            find.Reset();
            throw;
        }

        return found;
    }

    /// <summary>Runs <see cref="WriterStatements.TakeEntryById"/>: the removed entry's message, expiry, delivery count
    /// and counted size.</summary>
    private static bool TakeOne(RawStatement take, out long mid, out long? expires, out long deliveries, out long? counted)
    {
        (mid, expires, deliveries, counted) = (0, null, 0, null);
        var found = false;
        try
        {
            while (take.Step())
            {
                mid = take.Int64(0);
                expires = take.IsNull(1) ? null : take.Int64(1);
                deliveries = take.Int64(2);
                counted = take.IsNull(3) ? null : take.Int64(3);
                found = true;
            }
        }
        catch
        {
            take.Reset();
            throw;
        }

        return found;
    }

    private static (string Author, long PayloadBytes) ReadMoved(WriterStatements s, long mid)
    {
        var select = s.SelectMoved;
        select.Bind(1, mid);
        try
        {
            if (!select.Step())
            {
                throw new InvalidOperationException($"Message {mid} of an entry is missing.");
            }

            return (select.Text(0), select.Int64(1));
        }
        finally
        {
            select.Reset();
        }
    }
}
