using Daakia.Core;
using Daakia.Core.Storage;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite;

public sealed partial class SqliteStore
{
    private readonly ReaderPool _readers;

    public ValueTask<IReadOnlyList<QueueEntry>> ReadAsync(QueueKey queue, long afterPosition, int limit, long maxBytes = long.MaxValue, CancellationToken cancellationToken = default) =>
        ReadEntriesAsync(queue, afterPosition, limit, maxBytes, newestFirst: false, cancellationToken);

    /// <inheritdoc />
    public bool SkipsUnclaimable => true;

    /// <summary>
    /// A read of the last committed snapshot: a reader connection sees what was committed when its statement starts, so
    /// this only skips the wait for the writes in flight (up to one group commit, on every claim under load).
    /// </summary>
    /// <remarks>With <paramref name="claimableAt"/>, the entries expired or hidden then are skipped in the query, before
    /// their messages (payloads) are read: most of a busy queue's head is claimed.</remarks>
    public ValueTask<IReadOnlyList<QueueEntry>> ReadCommittedAsync(QueueKey queue, long afterPosition, int limit, long maxBytes = long.MaxValue, DateTimeOffset? claimableAt = null, CancellationToken cancellationToken = default) =>
        ReadEntriesAsync(queue, afterPosition, limit, maxBytes, newestFirst: false, cancellationToken, committedOnly: true, claimableAt);

    private const string ReadEntriesSql = $"SELECT {Codec.EntryColumns} FROM queues q JOIN entries e ON e.qid = q.qid JOIN messages m ON m.mid = e.mid " +
        "WHERE q.tenant=$t AND q.kind=$k AND q.name=$n AND e.pos>$after ORDER BY e.pos";

    private const string ReadOldestSql = ReadEntriesSql + " LIMIT $limit";

    private const string ReadNewestSql = ReadEntriesSql + " DESC LIMIT $limit";

    // Visible and unexpired at $now (ms), as QueueService's Claimable has it; the entry's columns are tested before its
    // message row is joined.
    private const string ReadClaimableSql = $"SELECT {Codec.EntryColumns} FROM queues q JOIN entries e ON e.qid = q.qid JOIN messages m ON m.mid = e.mid " +
        "WHERE q.tenant=$t AND q.kind=$k AND q.name=$n AND e.pos>$after AND (e.visible_at IS NULL OR e.visible_at <= $now) " +
        "AND (e.expires IS NULL OR e.expires > $now) ORDER BY e.pos LIMIT $limit";

    private static void DeclareEntries(SqliteParameterCollection p)
    {
        p.Add("$t", SqliteType.Text);
        p.Add("$k", SqliteType.Integer);
        p.Add("$n", SqliteType.Text);
        p.Add("$after", SqliteType.Integer);
        p.Add("$limit", SqliteType.Integer);
    }

    private static void DeclareClaimable(SqliteParameterCollection p)
    {
        DeclareEntries(p);
        p.Add("$now", SqliteType.Integer);
    }

    private async ValueTask<IReadOnlyList<QueueEntry>> ReadEntriesAsync(QueueKey queue, long afterPosition, int limit, long maxBytes, bool newestFirst, CancellationToken cancellationToken,
        bool committedOnly = false, DateTimeOffset? claimableAt = null)
    {
        if (committedOnly)
        {
            ThrowIfUnavailable();
            await Task.Yield(); // off the caller's thread, as BeginReadAsync: the read blocks on SQLite
        }
        else
        {
            await BeginReadAsync(cancellationToken);
        }

        using var lease = await _readers.RentAsync(cancellationToken);
        var claimable = claimableAt is not null;
        var cmd = lease.Prepared(claimable ? ReadClaimableSql : newestFirst ? ReadNewestSql : ReadOldestSql, claimable ? DeclareClaimable : DeclareEntries);
        var parameters = cmd.Parameters;
        parameters[0].Value = queue.Tenant.Value;
        parameters[1].Value = (int)queue.Kind;
        parameters[2].Value = queue.Name;
        parameters[3].Value = afterPosition;
        parameters[4].Value = limit;
        if (claimableAt is { } at)
        {
            parameters[5].Value = Codec.Ms(at);
        }

        var result = new List<QueueEntry>(Math.Min(limit, 256));
        long bytes = 0;
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var entry = Codec.ReadEntry(r, queue.Tenant);
            bytes += entry.Message.Payload.Length;
            if (result.Count > 0 && bytes > maxBytes)
            {
                break;
            }

            result.Add(entry);
        }

        if (committedOnly)
        {
            AfterCommittedReadForTest?.Invoke();
        }

        return result;
    }

    public async ValueTask<IReadOnlyList<QueueEntry>> ReadByIdsAsync(QueueKey queue, IReadOnlyList<Guid> messageIds, CancellationToken cancellationToken = default)
    {
        await BeginReadAsync(cancellationToken);
        if (messageIds.Count == 0)
        {
            return [];
        }

        using var lease = await _readers.RentAsync(cancellationToken);
        var cmd = lease.Prepared(ReadByIdSql, static p =>
        {
            p.Add("$t", SqliteType.Text);
            p.Add("$k", SqliteType.Integer);
            p.Add("$n", SqliteType.Text);
            p.Add("$id", SqliteType.Blob);
        });
        cmd.Parameters[0].Value = queue.Tenant.Value;
        cmd.Parameters[1].Value = (int)queue.Kind;
        cmd.Parameters[2].Value = queue.Name;
        var id = cmd.Parameters[3];
        var result = new List<QueueEntry>();
        var seen = new HashSet<Guid>();
        foreach (var messageId in messageIds)
        {
            if (!seen.Add(messageId))
            {
                continue;
            }

            // One indexed probe per id (entries_by_id).
            id.Value = messageId.ToByteArray();
            using var r = cmd.ExecuteReader();
            if (r.Read())
            {
                result.Add(Codec.ReadEntry(r, queue.Tenant));
            }
        }

        result.Sort(static (a, b) => a.Position.CompareTo(b.Position));
        return result;
    }

    private const string ReadByIdSql = $"SELECT {Codec.EntryColumns} FROM queues q JOIN entries e ON e.qid = q.qid JOIN messages m ON m.mid = e.mid " +
        "WHERE q.tenant=$t AND q.kind=$k AND q.name=$n AND e.id=$id";

    public ValueTask<IReadOnlyList<QueueEntry>> ReadLastAsync(QueueKey queue, int limit, CancellationToken cancellationToken = default) =>
        ReadEntriesAsync(queue, long.MinValue, limit, long.MaxValue, newestFirst: true, cancellationToken);

    public async ValueTask<IReadOnlyList<StoredRecord>> ReadRecordsAsync((TenantId Tenant, RecordKind Kind, string Key)? after, int limit, CancellationToken cancellationToken = default)
    {
        await BeginReadAsync(cancellationToken);
        using var lease = await _readers.RentAsync(cancellationToken);
        using var cmd = lease.Connection.CreateCommand();
        cmd.CommandText = "SELECT tenant, kind, key, value FROM records WHERE (tenant, kind, key) > ($t, $k, $key) ORDER BY tenant, kind, key LIMIT $limit";
        cmd.Parameters.AddWithValue("$t", after?.Tenant.Value ?? "");
        cmd.Parameters.AddWithValue("$k", after is { } a ? (int)a.Kind : -1);
        cmd.Parameters.AddWithValue("$key", after?.Key ?? "");
        cmd.Parameters.AddWithValue("$limit", limit);
        var result = new List<StoredRecord>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            result.Add(new StoredRecord(TenantId.Parse(r.GetString(0)), (RecordKind)r.GetInt64(1), r.GetString(2), (byte[])r.GetValue(3)));
        }

        return result;
    }

    public ValueTask<InboxUsage> GetUsageAsync(QueueKey queue, CancellationToken cancellationToken = default) =>
        ReadUsageAsync(QueueName.Of(queue), cancellationToken);

    public ValueTask<InboxUsage> GetTenantUsageAsync(TenantId tenant, CancellationToken cancellationToken = default) =>
        ReadUsageAsync(QueueName.TotalsOf(tenant.Value), cancellationToken);

    private async ValueTask<InboxUsage> ReadUsageAsync(QueueName queue, CancellationToken cancellationToken)
    {
        await BeginReadAsync(cancellationToken);
        using var lease = await _readers.RentAsync(cancellationToken);
        using var cmd = lease.Connection.CreateCommand();
        cmd.CommandText = "SELECT letters, bytes FROM queues WHERE tenant=$t AND kind=$k AND name=$n";
        cmd.Parameters.AddWithValue("$t", queue.Tenant);
        cmd.Parameters.AddWithValue("$k", queue.Kind);
        cmd.Parameters.AddWithValue("$n", queue.Name);
        using var r = cmd.ExecuteReader();
        return r.Read() ? new InboxUsage(r.GetInt64(0), r.GetInt64(1)) : default;
    }

    public async ValueTask<long> CountAsync(QueueKey queue, CancellationToken cancellationToken = default)
    {
        await BeginReadAsync(cancellationToken);
        using var lease = await _readers.RentAsync(cancellationToken);
        using var cmd = lease.Connection.CreateCommand();
        // The queue's row counts its entries exactly (kept in the same transactions as they change).
        cmd.CommandText = "SELECT coalesce((SELECT letters FROM queues WHERE tenant=$t AND kind=$k AND name=$n), 0)";
        cmd.Parameters.AddWithValue("$t", queue.Tenant.Value);
        cmd.Parameters.AddWithValue("$k", (int)queue.Kind);
        cmd.Parameters.AddWithValue("$n", queue.Name);
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask<IReadOnlyList<RosterEntry>> ListClientsAsync(TenantId tenant, ClientId? after, int limit, CancellationToken cancellationToken = default)
    {
        await BeginReadAsync(cancellationToken);
        using var lease = await _readers.RentAsync(cancellationToken);
        using var cmd = lease.Connection.CreateCommand();
        cmd.CommandText = "SELECT client, first_seen, last_seen FROM clients WHERE tenant=$t AND client>$after ORDER BY client LIMIT $limit";
        cmd.Parameters.AddWithValue("$t", tenant.Value);
        cmd.Parameters.AddWithValue("$after", after?.Value ?? "");
        cmd.Parameters.AddWithValue("$limit", limit);
        var result = new List<RosterEntry>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            result.Add(new RosterEntry(ClientId.Parse(r.GetString(0)), Codec.Time(r.GetInt64(1)), Codec.Time(r.GetInt64(2))));
        }

        return result;
    }

    public async ValueTask<RosterEntry?> GetClientAsync(TenantId tenant, ClientId client, CancellationToken cancellationToken = default)
    {
        await BeginReadAsync(cancellationToken);
        using var lease = await _readers.RentAsync(cancellationToken);
        using var cmd = lease.Connection.CreateCommand();
        cmd.CommandText = "SELECT first_seen, last_seen FROM clients WHERE tenant=$t AND client=$c";
        cmd.Parameters.AddWithValue("$t", tenant.Value);
        cmd.Parameters.AddWithValue("$c", client.Value);
        using var r = cmd.ExecuteReader();
        return r.Read() ? new RosterEntry(client, Codec.Time(r.GetInt64(0)), Codec.Time(r.GetInt64(1))) : null;
    }

    public async ValueTask<long> LastActivityIdAsync(TenantId tenant, CancellationToken cancellationToken = default)
    {
        await BeginReadAsync(cancellationToken);
        using var lease = await _readers.RentAsync(cancellationToken);
        using var cmd = lease.Connection.CreateCommand();
        cmd.CommandText = "SELECT coalesce(max(id), 0) FROM activity WHERE tenant=$t";
        cmd.Parameters.AddWithValue("$t", tenant.Value);
        return (long)cmd.ExecuteScalar()!;
    }

    public async ValueTask<IReadOnlyList<ActivityEntry>> ReadActivityAsync(TenantId tenant, long afterId, int limit, CancellationToken cancellationToken = default)
    {
        await BeginReadAsync(cancellationToken);
        using var lease = await _readers.RentAsync(cancellationToken);
        using var cmd = lease.Connection.CreateCommand();
        cmd.CommandText = "SELECT id, at, kind, actor, subject, detail FROM activity WHERE tenant=$t AND id>$after ORDER BY id LIMIT $limit";
        cmd.Parameters.AddWithValue("$t", tenant.Value);
        cmd.Parameters.AddWithValue("$after", afterId);
        cmd.Parameters.AddWithValue("$limit", limit);
        var result = new List<ActivityEntry>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            result.Add(new ActivityEntry(
                r.GetInt64(0),
                tenant,
                Codec.Time(r.GetInt64(1)),
                r.GetString(2),
                r.IsDBNull(3) ? null : ClientId.Parse(r.GetString(3)),
                r.IsDBNull(4) ? null : r.GetString(4),
                r.IsDBNull(5) ? null : r.GetString(5)));
        }

        return result;
    }

    public async ValueTask<IReadOnlyList<RetainedMessage>> ReadRetainedAsync((TenantId Tenant, string Topic)? after, int limit, CancellationToken cancellationToken = default)
    {
        await BeginReadAsync(cancellationToken);
        using var lease = await _readers.RentAsync(cancellationToken);
        using var cmd = lease.Connection.CreateCommand();
        cmd.CommandText = "SELECT tenant, topic, author, payload, content_type, qos, ts, expires, properties FROM retained " +
            "WHERE (tenant, topic) > ($t, $topic) ORDER BY tenant, topic LIMIT $limit";
        cmd.Parameters.AddWithValue("$t", after?.Tenant.Value ?? "");
        cmd.Parameters.AddWithValue("$topic", after?.Topic ?? "");
        cmd.Parameters.AddWithValue("$limit", limit);
        var result = new List<RetainedMessage>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            result.Add(new RetainedMessage(
                TenantId.Parse(r.GetString(0)),
                r.GetString(1),
                r.IsDBNull(2) ? null : ClientId.Parse(r.GetString(2)),
                (byte[])r.GetValue(3),
                r.GetString(4),
                (QualityOfService)r.GetInt64(5),
                Codec.Time(r.GetInt64(6)),
                r.IsDBNull(7) ? null : Codec.Time(r.GetInt64(7)),
                r.IsDBNull(8) ? null : Core.Storage.PropertiesBlob.Decode(r.GetFieldValue<byte[]>(8))));
        }

        return result;
    }

    public async ValueTask<IReadOnlyList<SessionRecord>> ReadSessionsAsync((TenantId Tenant, ClientId Client)? after, int limit, CancellationToken cancellationToken = default)
    {
        await BeginReadAsync(cancellationToken);
        using var lease = await _readers.RentAsync(cancellationToken);
        using var cmd = lease.Connection.CreateCommand();
        cmd.CommandText = "SELECT tenant, client, expiry, subscriptions FROM sessions " +
            "WHERE (tenant, client) > ($t, $c) ORDER BY tenant, client LIMIT $limit";
        cmd.Parameters.AddWithValue("$t", after?.Tenant.Value ?? "");
        cmd.Parameters.AddWithValue("$c", after?.Client.Value ?? "");
        cmd.Parameters.AddWithValue("$limit", limit);
        var result = new List<SessionRecord>();
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                result.Add(new SessionRecord(
                    TenantId.Parse(r.GetString(0)),
                    ClientId.Parse(r.GetString(1)),
                    (uint)r.GetInt64(2),
                    Codec.DecodeSubscriptions((byte[])r.GetValue(3))));
            }
        }

        // The few QoS 2 ids awaiting PUBCOMP, per session (most have none: one indexed probe each).
        using var releases = lease.Connection.CreateCommand();
        releases.CommandText = "SELECT packet_id FROM session_releases WHERE tenant=$t AND client=$c ORDER BY packet_id";
        var t = releases.Parameters.Add("$t", Microsoft.Data.Sqlite.SqliteType.Text);
        var c = releases.Parameters.Add("$c", Microsoft.Data.Sqlite.SqliteType.Text);
        for (var i = 0; i < result.Count; i++)
        {
            t.Value = result[i].Tenant.Value;
            c.Value = result[i].Client.Value;
            List<ushort>? ids = null;
            using var r = releases.ExecuteReader();
            while (r.Read())
            {
                (ids ??= []).Add((ushort)r.GetInt64(0));
            }

            if (ids is not null)
            {
                result[i] = result[i] with { AwaitingComplete = ids };
            }
        }

        return result;
    }

    /// <summary>The order contract: a read starts after every write called before it has committed.</summary>
    /// <remarks>The query itself always runs after a yield, so a caller holding a lock never waits for disk under it.</remarks>
    private async ValueTask BeginReadAsync(CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        var prior = WaitForPriorWritesAsync();
        if (prior.IsCompleted)
        {
            await Task.Yield();
        }
        else
        {
            // A caller that gives up (a REST request cancelled during a stall) is released at once.
            await prior.AsTask().WaitAsync(cancellationToken);
        }
    }

}
