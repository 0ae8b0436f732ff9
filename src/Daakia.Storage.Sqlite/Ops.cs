using Daakia.Core;
using Daakia.Core.Storage;

namespace Daakia.Storage.Sqlite;

/// <summary>
/// Puts one letter into every recipient's inbox, unless that would pass the quota for any of them: its content once
/// (one <c>messages</c> row, however many recipients), and one small entry per inbox.
/// </summary>
internal sealed class AppendLetterOp(Letter letter, IReadOnlyList<ClientId> recipients, InboxQuota quota) : WriteOp<bool>
{
    // Several statements (the message, its entries, maybe new queues): all or none.
    protected override bool IsMultiStatement => true;

    protected override void Run(WriterStatements s)
    {
        // Checked on the writer thread against committed usage plus this batch's: exact under any concurrency.
        var tenant = letter.Tenant.Value;
        var payload = letter.Payload.Length;
        var entrySize = InboxQuota.StoredSize(letter);
        var queues = s.Queues;
        var total = queues.GetOrCreate(tenant, "");
        var tenantSize = payload + ((long)InboxQuota.EntryOverhead * recipients.Count);
        if (total.Bytes + tenantSize > quota.MaxTenantBytes)
        {
            throw QuotaStore.TenantFull(letter.Tenant, new InboxUsage(total.Letters, total.Bytes), quota);
        }

        Span<long> qids = recipients.Count <= 16 ? stackalloc long[recipients.Count] : new long[recipients.Count];
        for (var i = 0; i < recipients.Count; i++)
        {
            var inbox = queues.GetOrCreate(tenant, recipients[i].Value);
            if (inbox.Letters + 1 > quota.MaxLetters || inbox.Bytes + entrySize > quota.MaxBytes)
            {
                throw QuotaStore.InboxFull(recipients[i], new InboxUsage(inbox.Letters, inbox.Bytes), quota);
            }

            qids[i] = inbox.Qid;
        }

        Span<byte> id = stackalloc byte[16];
        letter.Id.TryWriteBytes(id);
        var message = s.InsertMessage;
        message.Bind(1, letter.Sequence);
        message.Bind(2, id);
        message.Bind(3, letter.Author.Value);
        message.Bind(4, Codec.JoinRecipients(letter.Recipients));
        message.Bind(5, letter.Payload.Span);
        message.Bind(6, Codec.Ms(letter.Timestamp));
        message.Bind(7, recipients.Count);
        message.Execute();

        var entry = s.InsertEntry;
        entry.Bind(2, letter.Sequence);
        entry.Bind(3, id);
        if (letter.ExpiresAt is { } e)
        {
            entry.Bind(4, Codec.Ms(e));
        }
        else
        {
            entry.BindNull(4);
        }

        for (var i = 0; i < qids.Length; i++)
        {
            entry.Bind(1, qids[i]);
            entry.Execute();
        }

        for (var i = 0; i < recipients.Count; i++)
        {
            queues.Add(tenant, recipients[i].Value, 1, entrySize);
        }

        queues.Add(tenant, "", recipients.Count, tenantSize);
        s.BatchHighWater = Math.Max(s.BatchHighWater, letter.Sequence);
        Result = true;
    }
}

/// <summary>Removes one inbox entry and drops its message's reference (the message goes with its last one).</summary>
internal static class Entries
{
    /// <summary>Deletes the message row if this was its last entry, else drops a reference; returns the payload size
    /// and whether the message went.</summary>
    public static (long PayloadBytes, bool Last) Release(WriterStatements s, long seq)
    {
        var last = s.DeleteLastReference;
        last.Bind(1, seq);
        if (StepOne(last, out var size))
        {
            return (size, true);
        }

        var drop = s.DropReference;
        drop.Bind(1, seq);
        return StepOne(drop, out size) ? (size, false) : (0, false);
    }

    /// <summary>Runs a statement that returns at most one integer row.</summary>
    public static bool StepOne(RawStatement statement, out long value)
    {
        value = 0;
        var found = false;
        try
        {
            while (statement.Step())
            {
                value = statement.Int64(0);
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

    /// <summary>Books the removal of one entry in the inbox's and the tenant's usage.</summary>
    public static void Booked(WriterStatements s, string tenant, string name, long payloadBytes, bool lastReference)
    {
        s.Queues.Add(tenant, name, -1, -(payloadBytes + InboxQuota.EntryOverhead));
        s.Queues.Add(tenant, "", -1, -((lastReference ? payloadBytes : 0) + InboxQuota.EntryOverhead));
    }
}

/// <summary>Removes acknowledged letters from one inbox.</summary>
internal sealed class DeleteLettersOp(TenantId tenant, ClientId recipient, IReadOnlyList<Guid> ids) : WriteOp<int>
{
    // An entry and its message's reference go together, and an ack of many letters is whole or nothing.
    protected override bool IsMultiStatement => true;

    protected override void Run(WriterStatements s)
    {
        Result = 0;
        if (s.Queues.Find(tenant.Value, recipient.Value) is not { } inbox)
        {
            return; // an inbox never written to holds nothing
        }

        var delete = s.DeleteEntryById;
        delete.Bind(1, inbox.Qid);
        Span<byte> bytes = stackalloc byte[16];
        var removed = 0;
        foreach (var id in ids)
        {
            id.TryWriteBytes(bytes);
            delete.Bind(2, bytes);
            if (Entries.StepOne(delete, out var seq))
            {
                var (size, last) = Entries.Release(s, seq);
                Entries.Booked(s, tenant.Value, recipient.Value, size, last);
                removed++;
            }
        }

        Result = removed;
    }
}

/// <summary>
/// Removes expired inbox entries and records each in the activity log, in one write: a crash cannot remove a letter
/// without its record, or record one that is still there.
/// </summary>
/// <remarks>
/// It runs on the writer thread, so it is kept small for every tenant waiting on the next commit: at most
/// <see cref="MaxPerWrite"/> entries, and their payloads are never read (the letters it returns carry an empty payload).
/// </remarks>
internal sealed class RemoveExpiredOp(DateTimeOffset now, int limit) : WriteOp<IReadOnlyList<ExpiredLetter>>
{
    /// <summary>Most entries one call removes; the core's sweep asks for this many and repeats while it gets them.</summary>
    public const int MaxPerWrite = 1000;

    protected override bool IsMultiStatement => true;

    protected override void Run(WriterStatements s)
    {
        var found = new List<(ExpiredLetter Letter, long Qid)>();
        var select = s.SelectExpired;
        select.Bind(1, Codec.Ms(now));
        select.Bind(2, Math.Min(limit, MaxPerWrite));
        try
        {
            while (select.Step())
            {
                found.Add((new ExpiredLetter(ClientId.Parse(select.Text(1)), new Letter
                {
                    Tenant = TenantId.Parse(select.Text(0)),
                    Sequence = select.Int64(2),
                    Id = new Guid(select.Blob(3)),
                    Author = ClientId.Parse(select.Text(4)),
                    Recipients = Codec.SplitRecipients(select.Text(5)),
                    Payload = ReadOnlyMemory<byte>.Empty,
                    Timestamp = default,
                    ExpiresAt = Codec.Time(select.Int64(6)),
                }), select.Int64(8)));
            }
        }
        finally
        {
            select.Reset();
        }

        var delete = s.DeleteEntryBySeq;
        var record = s.InsertActivity;
        var at = Codec.Ms(now);
        foreach (var (e, qid) in found)
        {
            var tenant = e.Letter.Tenant.Value;
            delete.Bind(1, qid);
            delete.Bind(2, e.Letter.Sequence);
            if (delete.Execute() > 0)
            {
                var (size, last) = Entries.Release(s, e.Letter.Sequence);
                Entries.Booked(s, tenant, e.Recipient.Value, size, last);
            }

            record.Bind(1, tenant);
            record.Bind(2, at);
            record.Bind(3, ActivityKinds.Expired);
            record.Bind(4, e.Letter.Author.Value);
            record.Bind(5, e.Recipient.Value);
            record.Bind(6, e.Letter.Id.ToString());
            record.Execute();
        }

        Result = found.ConvertAll(f => f.Letter);
    }
}

/// <summary>Records that a client was seen.</summary>
internal sealed class RecordSeenOp(TenantId tenant, ClientId client, DateTimeOffset at) : WriteOp<bool>
{
    protected override bool IsMultiStatement => false;

    protected override void Run(WriterStatements s)
    {
        var upsert = s.UpsertClient;
        upsert.Bind(1, tenant.Value);
        upsert.Bind(2, client.Value);
        upsert.Bind(3, Codec.Ms(at));
        upsert.Execute();
        Result = true;
    }
}

/// <summary>Appends activity entries.</summary>
internal sealed class AppendActivityOp(IReadOnlyList<ActivityEntry> entries) : WriteOp<bool>
{
    protected override bool IsMultiStatement => entries.Count > 1;

    protected override void Run(WriterStatements s)
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

        Result = true;
    }
}

/// <summary>Bounded retention of the activity log: removes the oldest entries past their age or the row bound.</summary>
internal sealed class PruneActivityOp(DateTimeOffset olderThan, long keepEntries, int limit) : WriteOp<int>
{
    protected override bool IsMultiStatement => false;

    protected override void Run(WriterStatements s)
    {
        // Only the oldest `limit` entries are looked at (the log is appended in time order): bounded work per call.
        var prune = s.PruneActivity;
        prune.Bind(1, limit);
        prune.Bind(2, Codec.Ms(olderThan));
        prune.Bind(3, keepEntries);
        Result = prune.Execute();
    }
}

/// <summary>Nothing to write: completes when everything before it is durable.</summary>
internal sealed class FlushOp : WriteOp<bool>
{
    protected override bool IsMultiStatement => false;

    protected override void Run(WriterStatements s) => Result = true;
}
