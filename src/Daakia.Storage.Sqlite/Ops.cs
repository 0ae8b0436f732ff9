using Daakia.Core;

namespace Daakia.Storage.Sqlite;

/// <summary>Puts one letter into every recipient's inbox.</summary>
internal sealed class AppendLetterOp(Letter letter, IReadOnlyList<ClientId> recipients) : WriteOp<bool>
{
    protected override void Run(WriterStatements s)
    {
        var cmd = s.InsertLetter;
        WriterStatements.Set(cmd, 0, letter.Tenant.Value);
        WriterStatements.Set(cmd, 2, letter.Sequence);
        WriterStatements.Set(cmd, 3, letter.Id.ToByteArray());
        WriterStatements.Set(cmd, 4, letter.Author.Value);
        WriterStatements.Set(cmd, 5, Codec.JoinRecipients(letter.Recipients));
        WriterStatements.Set(cmd, 6, letter.Payload.ToArray());
        WriterStatements.Set(cmd, 7, Codec.Ms(letter.Timestamp));
        WriterStatements.Set(cmd, 8, letter.ExpiresAt is { } e ? Codec.Ms(e) : null);
        s.BatchHighWater = Math.Max(s.BatchHighWater, letter.Sequence);
        Result = true;
        if (recipients.Count == 1)
        {
            WriterStatements.Set(cmd, 1, recipients[0].Value);
            cmd.ExecuteNonQuery();
            return;
        }

        // All recipients or none: a failure after the first insert must not leave a partial multicast behind.
        Exec("SAVEPOINT letter");
        try
        {
            foreach (var r in recipients)
            {
                WriterStatements.Set(cmd, 1, r.Value);
                cmd.ExecuteNonQuery();
            }

            Exec("RELEASE letter");
        }
        catch
        {
            Exec("ROLLBACK TO letter");
            Exec("RELEASE letter");
            throw;
        }

        void Exec(string sql)
        {
            using var c = s.Connection.CreateCommand();
            c.Transaction = cmd.Transaction;
            c.CommandText = sql;
            c.ExecuteNonQuery();
        }
    }
}

/// <summary>Removes acknowledged letters from one inbox.</summary>
internal sealed class DeleteLettersOp(TenantId tenant, ClientId recipient, IReadOnlyList<Guid> ids) : WriteOp<int>
{
    protected override void Run(WriterStatements s)
    {
        var cmd = s.DeleteLetter;
        WriterStatements.Set(cmd, 0, tenant.Value);
        WriterStatements.Set(cmd, 1, recipient.Value);
        var removed = 0;
        foreach (var id in ids)
        {
            WriterStatements.Set(cmd, 2, id.ToByteArray());
            removed += cmd.ExecuteNonQuery();
        }

        Result = removed;
    }
}

/// <summary>Removes and returns expired inbox entries.</summary>
internal sealed class RemoveExpiredOp(DateTimeOffset now, int limit) : WriteOp<IReadOnlyList<ExpiredLetter>>
{
    protected override void Run(WriterStatements s)
    {
        var found = new List<(ExpiredLetter Letter, string Tenant)>();
        var select = s.SelectExpired;
        WriterStatements.Set(select, 0, Codec.Ms(now));
        WriterStatements.Set(select, 1, limit);
        using (var r = select.ExecuteReader())
        {
            while (r.Read())
            {
                var letter = Codec.ReadLetter(r);
                found.Add((new ExpiredLetter(ClientId.Parse(r.GetString(1)), letter), r.GetString(0)));
            }
        }

        var delete = s.DeleteBySeq;
        foreach (var (e, tenant) in found)
        {
            WriterStatements.Set(delete, 0, tenant);
            WriterStatements.Set(delete, 1, e.Recipient.Value);
            WriterStatements.Set(delete, 2, e.Letter.Sequence);
            delete.ExecuteNonQuery();
        }

        Result = found.ConvertAll(f => f.Letter);
    }
}

/// <summary>Records that a client was seen.</summary>
internal sealed class RecordSeenOp(TenantId tenant, ClientId client, DateTimeOffset at) : WriteOp<bool>
{
    protected override void Run(WriterStatements s)
    {
        var cmd = s.UpsertClient;
        WriterStatements.Set(cmd, 0, tenant.Value);
        WriterStatements.Set(cmd, 1, client.Value);
        WriterStatements.Set(cmd, 2, Codec.Ms(at));
        cmd.ExecuteNonQuery();
        Result = true;
    }
}

/// <summary>Appends activity entries.</summary>
internal sealed class AppendActivityOp(IReadOnlyList<ActivityEntry> entries) : WriteOp<bool>
{
    protected override void Run(WriterStatements s)
    {
        var cmd = s.InsertActivity;
        foreach (var e in entries)
        {
            WriterStatements.Set(cmd, 0, e.Tenant.Value);
            WriterStatements.Set(cmd, 1, Codec.Ms(e.At));
            WriterStatements.Set(cmd, 2, e.Kind);
            WriterStatements.Set(cmd, 3, WriterStatements.Text(e.Actor));
            WriterStatements.Set(cmd, 4, e.Subject);
            WriterStatements.Set(cmd, 5, e.Detail);
            cmd.ExecuteNonQuery();
        }

        Result = true;
    }
}

/// <summary>Nothing to write: completes when everything before it is durable.</summary>
internal sealed class FlushOp : WriteOp<bool>
{
    protected override void Run(WriterStatements s) => Result = true;
}
