using System.Net.WebSockets;
using System.Threading.Channels;
using Daakia.Core;
using Daakia.Server.Notifications;

namespace Daakia.Server.Zaqar;

/// <summary>
/// One <c>/v2/ws</c> connection's way out: every frame goes through one queue bounded in frames and bytes
/// (<see cref="DaakiaServerOptions.OutboxCapacity"/>, <see cref="DaakiaServerOptions.OutboxBytes"/>) to one writer, so
/// replies and notifications never interleave on the socket. A reply waits for room (the connection stops reading); a
/// notification for a subscription made on this connection (§9.5: a bare frame, not a reply) is dropped when the
/// queue is full, and counted so by the core. The subscriptions it made go when it goes.
/// </summary>
internal sealed class ZaqarWsConnection(WebSocket socket, int capacity, long maxBytes) : IQueueWatcher
{
    private readonly Channel<byte[]> _out = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly List<(TenantId Tenant, string Queue, Guid Id)> _subscriptions = [];
    private long _bytes;

    /// <summary>The subscriber this connection's subscriptions are listed under.</summary>
    public string Subscriber { get; } = "websocket:" + Guid.NewGuid().ToString("N");

    public async ValueTask ReplyAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        var bytes = frame.ToArray();
        Interlocked.Add(ref _bytes, bytes.Length);
        await _out.Writer.WriteAsync(bytes, cancellationToken);
    }

    public bool Notify(TenantId tenant, string queue, Letter message)
    {
        var frame = NotificationBody.Json(queue, message);
        if (Interlocked.Add(ref _bytes, frame.Length) > maxBytes || !_out.Writer.TryWrite(frame))
        {
            Interlocked.Add(ref _bytes, -frame.Length);
            return false;
        }

        return true;
    }

    public void Subscribed(TenantId tenant, string queue, Guid id)
    {
        lock (_subscriptions)
        {
            _subscriptions.Add((tenant, queue, id));
        }
    }

    public void Unsubscribed(TenantId tenant, string queue, Guid id)
    {
        lock (_subscriptions)
        {
            _subscriptions.RemoveAll(s => s.Id == id && s.Tenant == tenant && s.Queue == queue);
        }
    }

    /// <summary>Sends what is queued until <see cref="Complete"/>; a send that fails ends the queue (replies waiting
    /// for room then fail too).</summary>
    public async Task WriteAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var frame in _out.Reader.ReadAllAsync(cancellationToken))
            {
                await socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
                Interlocked.Add(ref _bytes, -frame.Length);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            _out.Writer.TryComplete(ex);
        }
    }

    public void Complete() => _out.Writer.TryComplete();

    /// <summary>Removes the subscriptions made on this connection (it is gone).</summary>
    public async Task UnsubscribeAllAsync(DaakiaEngine engine)
    {
        (TenantId Tenant, string Queue, Guid Id)[] all;
        lock (_subscriptions)
        {
            all = [.. _subscriptions];
            _subscriptions.Clear();
        }

        foreach (var (tenant, queue, id) in all)
        {
            await engine.Queues.UnsubscribeAsync(tenant, queue, id);
        }
    }
}
