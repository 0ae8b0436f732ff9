using Daakia.Core;
using Daakia.Core.Storage;

namespace Daakia.Storage.Sqlite;

/// <summary>Puts one letter into every recipient's inbox, unless that would pass the quota for any of them.</summary>
internal sealed class AppendLetterOp(Letter letter, IReadOnlyList<ClientId> recipients, InboxQuota quota) : WriteOp<bool>
{
    // All recipients or none: a failure after the first insert must not leave a partial multicast behind.
    protected override bool IsMultiStatement => recipients.Count > 1;

    protected override void Run(WriterStatements s)
    {
        // Checked on the writer thread against committed usage plus this batch's: exact under any concurrency.
        var tenant = letter.Tenant.Value;
        var size = InboxQuota.StoredSize(letter);
        var usage = s.Usage;
        var total = usage.Get(tenant, "");
        if (total.Bytes + (size * recipients.Count) > quota.MaxTenantBytes)
        {
            throw QuotaStore.TenantFull(letter.Tenant, total, quota);
        }

        for (var i = 0; i < recipients.Count; i++)
        {
            var inbox = usage.Get(tenant, recipients[i].Value);
            if (inbox.Letters + 1 > quota.MaxLetters || inbox.Bytes + size > quota.MaxBytes)
            {
                throw QuotaStore.InboxFull(recipients[i], inbox, quota);
            }
        }

        var insert = s.InsertLetter;
        Span<byte> id = stackalloc byte[16];
        letter.Id.TryWriteBytes(id);
        insert.Bind(1, letter.Tenant.Value);
        insert.Bind(3, letter.Sequence);
        insert.Bind(4, id);
        insert.Bind(5, letter.Author.Value);
        insert.Bind(6, Codec.JoinRecipients(letter.Recipients));
        insert.Bind(7, letter.Payload.Span);
        insert.Bind(8, Codec.Ms(letter.Timestamp));
        if (letter.ExpiresAt is { } e)
        {
            insert.Bind(9, Codec.Ms(e));
        }
        else
        {
            insert.BindNull(9);
        }

        for (var i = 0; i < recipients.Count; i++)
        {
            insert.Bind(2, recipients[i].Value);
            insert.Execute();
        }

        for (var i = 0; i < recipients.Count; i++)
        {
            usage.Add(tenant, recipients[i].Value, 1, size);
        }

        s.BatchHighWater = Math.Max(s.BatchHighWater, letter.Sequence);
        Result = true;
    }
}

/// <summary>Removes acknowledged letters from one inbox.</summary>
internal sealed class DeleteLettersOp(TenantId tenant, ClientId recipient, IReadOnlyList<Guid> ids) : WriteOp<int>
{
    // An ack of many letters is applied whole or not at all: a failed ack must not have removed some of them.
    protected override bool IsMultiStatement => ids.Count > 1;

    protected override void Run(WriterStatements s)
    {
        var delete = s.DeleteLetter;
        delete.Bind(1, tenant.Value);
        delete.Bind(2, recipient.Value);
        Span<byte> bytes = stackalloc byte[16];
        var removed = 0;
        long freed = 0;
        foreach (var id in ids)
        {
            id.TryWriteBytes(bytes);
            delete.Bind(3, bytes);
            try
            {
                while (delete.Step())
                {
                    removed++;
                    freed += delete.Int64(0) + InboxQuota.EntryOverhead;
                }
            }
            catch
            {
                delete.Reset();
                throw;
            }
        }

        if (removed > 0)
        {
            s.Usage.Add(tenant.Value, recipient.Value, -removed, -freed);
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
        var found = new List<ExpiredLetter>();
        var sizes = new List<long>();
        var select = s.SelectExpired;
        select.Bind(1, Codec.Ms(now));
        select.Bind(2, Math.Min(limit, MaxPerWrite));
        try
        {
            while (select.Step())
            {
                found.Add(new ExpiredLetter(ClientId.Parse(select.Text(1)), new Letter
                {
                    Tenant = TenantId.Parse(select.Text(0)),
                    Sequence = select.Int64(2),
                    Id = new Guid(select.Blob(3)),
                    Author = ClientId.Parse(select.Text(4)),
                    Recipients = Codec.SplitRecipients(select.Text(5)),
                    Payload = ReadOnlyMemory<byte>.Empty,
                    Timestamp = default,
                    ExpiresAt = Codec.Time(select.Int64(6)),
                }));
                sizes.Add(select.Int64(7) + InboxQuota.EntryOverhead);
            }
        }
        finally
        {
            select.Reset();
        }

        var delete = s.DeleteBySeq;
        var record = s.InsertActivity;
        var at = Codec.Ms(now);
        for (var i = 0; i < found.Count; i++)
        {
            var e = found[i];
            var tenant = e.Letter.Tenant.Value;
            delete.Bind(1, tenant);
            delete.Bind(2, e.Recipient.Value);
            delete.Bind(3, e.Letter.Sequence);
            if (delete.Execute() > 0)
            {
                s.Usage.Add(tenant, e.Recipient.Value, -1, -sizes[i]);
            }

            record.Bind(1, tenant);
            record.Bind(2, at);
            record.Bind(3, ActivityKinds.Expired);
            record.Bind(4, e.Letter.Author.Value);
            record.Bind(5, e.Recipient.Value);
            record.Bind(6, e.Letter.Id.ToString());
            record.Execute();
        }

        Result = found;
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

/// <summary>Nothing to write: completes when everything before it is durable.</summary>
internal sealed class FlushOp : WriteOp<bool>
{
    protected override bool IsMultiStatement => false;

    protected override void Run(WriterStatements s) => Result = true;
}
