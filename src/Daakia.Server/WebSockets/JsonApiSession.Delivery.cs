using System.Text.Json;
using Daakia.Server.Http;

namespace Daakia.Server.WebSockets;

/// <summary>The delivery engine beyond send and ack: release (negative ack) and the caller's own dead letters.</summary>
internal sealed partial class JsonApiSession
{
    private static readonly byte[] ReleasedField = "released"u8.ToArray();
    private static readonly byte[] AcknowledgedField = "acknowledged"u8.ToArray();

    private ValueTask ReleaseAsync(byte[] id, JsonElement root)
    {
        var ids = MessageIds(root);
        var delay = Delay(root);

        // Like acks, off the read loop: the count is durable before the reply.
        var pending = CompleteCountAsync(id, "release", ReleasedField, Engine.Letters.ReleaseAsync(_tenant, Connection!.Client, ids, delay));
        return Interlocked.Increment(ref _outstanding) > Context.Options.OutboxCapacity / 2 ? new ValueTask(pending) : ValueTask.CompletedTask;
    }

    private ValueTask DeadLettersAckAsync(byte[] id, JsonElement root)
    {
        var ids = MessageIds(root);
        var pending = CompleteCountAsync(id, "dead_letters_ack", AcknowledgedField, Engine.Letters.DeleteDeadLettersAsync(_tenant, Connection!.Client, ids));
        return Interlocked.Increment(ref _outstanding) > Context.Options.OutboxCapacity / 2 ? new ValueTask(pending) : ValueTask.CompletedTask;
    }

    /// <summary>Waits for a write that answers with a count, and replies <c>{"type":"ack","id",name: n}</c>.</summary>
    private async Task CompleteCountAsync(byte[] id, string type, byte[] name, ValueTask<int> write)
    {
        try
        {
            var n = await write;
            Send(FrameEncoder.Encode((id, name, n), static (w, s) =>
            {
                StartAck(w, s.id);
                w.WriteNumber(s.name, s.n);
                w.WriteEndObject();
            }));
        }
        catch (Exception ex)
        {
            Fail(ex, id, type);
        }
        finally
        {
            Interlocked.Decrement(ref _outstanding);
        }
    }

    private async ValueTask DeadLettersCountAsync(byte[] id)
    {
        var count = await Engine.Letters.CountDeadLettersAsync(_tenant, Connection!.Client, Aborted);
        Send(FrameEncoder.Encode((id, count), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WriteNumber("count"u8, s.count);
            w.WriteEndObject();
        }));
    }

    /// <summary>
    /// A page of the caller's dead letters, in the REST page's shape. Its payload is bounded (the frame limit, an eighth
    /// of the outbox), and a connection whose outbox could pass a quarter of its bytes with the page is told to read its
    /// replies first (<c>overloaded</c>), so pipelined reads cannot pile pages up in memory.
    /// </summary>
    private async ValueTask DeadLettersAsync(byte[] id, JsonElement root)
    {
        long after = 0;
        if (root.TryGetProperty("after"u8, out var a) && a.ValueKind != JsonValueKind.Null)
        {
            after = a.ValueKind == JsonValueKind.Number && a.TryGetInt64(out var n) && n >= 0 ? n : throw Invalid("'after' must be a position (a whole number, 0 or more).");
        }

        var max = Engine.Options.InboxPageSize;
        var limit = Math.Min(100, max);
        if (root.TryGetProperty("limit"u8, out var l) && l.ValueKind != JsonValueKind.Null)
        {
            limit = l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var n) && n > 0 && n <= max ? n : throw Invalid($"'limit' must be 1-{max}.");
        }

        var pageBytes = Math.Min(Math.Min(Engine.Options.MaxReadPageBytes, Context.Options.MaxFrameBytes), Context.Options.OutboxBytes / 8);
        if (QueuedBytes + pageBytes > Context.Options.OutboxBytes / 4)
        {
            throw new RequestException(ErrorCodes.Overloaded, "This connection has too many replies waiting to be read; read them, then ask again.");
        }

        var page = await Engine.Letters.ReadDeadLettersAsync(_tenant, Connection!.Client, after, limit, pageBytes, Aborted);
        foreach (var entry in page)
        {
            RequireUtf8(entry.Message.Payload.Span, "dead letter");
        }

        Send(FrameEncoder.Encode((id, page, page.Count == limit), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WriteStartArray("messages"u8);
            foreach (var entry in s.page)
            {
                RestApi.WriteEntry(w, entry);
            }

            w.WriteEndArray();
            if (s.Item3 && s.page.Count > 0)
            {
                w.WriteNumber("next"u8, s.page[^1].Position);
            }
            else
            {
                w.WriteNull("next"u8);
            }

            w.WriteEndObject();
        }));
    }
}
