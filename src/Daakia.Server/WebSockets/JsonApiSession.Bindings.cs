using System.Text.Json;
using Daakia.Core;
using Daakia.Server.Json;

namespace Daakia.Server.WebSockets;

/// <summary>
/// Topic bindings of named queues (<c>queue_bind</c>, <c>queue_unbind</c>, <c>queue_bindings</c>): the same core
/// operations as REST's <c>/v1/queues/{queue}/bindings</c>, in the connection's tenant.
/// </summary>
internal sealed partial class JsonApiSession
{
    /// <summary><c>queue_bind</c>: <c>{"queue", "filter"}</c>; the ack (once durable) says whether it is new.</summary>
    private async ValueTask BindAsync(byte[] id, JsonElement root)
    {
        var queue = QueueName(root);
        var filter = RequiredString(root, "filter");
        var created = await Engine.Queues.BindAsync(_tenant, queue, filter);
        var binding = Engine.Queues.ListBindings(_tenant, queue)?.FirstOrDefault(b => b.Filter == filter)
            ?? throw new RequestException(ErrorCodes.NotFound, $"Queue '{queue}' was deleted meanwhile.");
        Send(FrameEncoder.Encode((id, queue, binding, created), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WriteString("queue"u8, s.queue);
            w.WriteString("filter"u8, s.binding.Filter);
            w.WriteString("created_at"u8, WireFormat.Timestamp(s.binding.CreatedAt));
            w.WriteBoolean("created"u8, s.created);
            w.WriteEndObject();
        }));
    }

    /// <summary><c>queue_unbind</c>: <c>{"queue", "filter"}</c>; <c>not_found</c> if the queue is not bound to it.</summary>
    private async ValueTask UnbindAsync(byte[] id, JsonElement root)
    {
        var queue = QueueName(root);
        var filter = RequiredString(root, "filter");
        if (!await Engine.Queues.UnbindAsync(_tenant, queue, filter))
        {
            throw new RequestException(ErrorCodes.NotFound, $"Queue '{queue}' is not bound to '{Truncate(filter)}'.");
        }

        Ack(id);
    }

    /// <summary><c>queue_bindings</c>: <c>{"queue"}</c>; the filters it is bound to, or <c>not_found</c> for no queue.</summary>
    private void Bindings(byte[] id, JsonElement root)
    {
        var queue = QueueName(root);
        var bindings = Engine.Queues.ListBindings(_tenant, queue) ?? throw new RequestException(ErrorCodes.NotFound, $"There is no queue '{queue}'.");
        Send(FrameEncoder.Encode((id, queue, bindings), static (w, s) =>
        {
            StartAck(w, s.id);
            WireFormat.Bindings(w, s.queue, s.bindings);
            w.WriteEndObject();
        }));
    }

    private static string QueueName(JsonElement root)
    {
        var queue = RequiredString(root, "queue");
        return QueueService.IsValidName(queue)
            ? queue
            : throw Invalid("'queue' must be a queue name: 1 to 64 of ASCII letters, digits, '_', '-' and '.'.");
    }
}
