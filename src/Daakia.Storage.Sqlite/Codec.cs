using Daakia.Core;
using Microsoft.Data.Sqlite;

namespace Daakia.Storage.Sqlite;

/// <summary>Row ↔ value conversions: times as unix milliseconds, ids as 16-byte blobs, recipient lists joined by newlines.</summary>
internal static class Codec
{
    public static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    public static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    public static string JoinRecipients(IReadOnlyList<ClientId> recipients)
    {
        if (recipients.Count == 1)
        {
            return recipients[0].Value;
        }

        return string.Join('\n', recipients.Select(r => r.Value));
    }

    public static ClientId[] SplitRecipients(string joined)
    {
        var parts = joined.Split('\n');
        var result = new ClientId[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            result[i] = ClientId.Parse(parts[i]);
        }

        return result;
    }

    /// <summary>Reads a letter from columns tenant, recipient, seq, id, author, recipients, payload, ts, expires.</summary>
    public static Letter ReadLetter(SqliteDataReader r) => new()
    {
        Tenant = TenantId.Parse(r.GetString(0)),
        Sequence = r.GetInt64(2),
        Id = new Guid(r.GetFieldValue<byte[]>(3)),
        Author = ClientId.Parse(r.GetString(4)),
        Recipients = SplitRecipients(r.GetString(5)),
        Payload = r.GetFieldValue<byte[]>(6),
        Timestamp = Time(r.GetInt64(7)),
        ExpiresAt = r.IsDBNull(8) ? null : Time(r.GetInt64(8)),
    };

    /// <remarks>Over <c>queues q JOIN entries e JOIN messages m</c>.</remarks>
    public const string LetterColumns = "q.tenant, q.name, e.seq, e.id, m.author, m.recipients, m.payload, m.ts, e.expires";
}
