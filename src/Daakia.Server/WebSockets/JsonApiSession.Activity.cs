using System.Text.Json;
using Daakia.Core;
using Daakia.Server.Json;

namespace Daakia.Server.WebSockets;

/// <summary>
/// The activity log, live (docs/protocols/websocket.md, activity): <c>activity_subscribe</c> streams the tenant's entries
/// as <c>activity</c> events through the bounded outbox, from an entry id or from now, filtered by client and kinds; a
/// stream the outbox cannot keep up with (or whose store read failed) ends with <c>activity_overflow</c>, sent as a
/// reply (always queued), naming the last id delivered, to resume from
/// (over REST or a new subscription). One stream per connection.
/// </summary>
internal sealed partial class JsonApiSession
{
    private CancellationTokenSource? _activityStream;

    private sealed record ActivityOverflow(long After);

    private bool TryDispatchActivity(string type, byte[] id, JsonElement root, out ValueTask task)
    {
        task = ValueTask.CompletedTask;
        switch (type)
        {
            case "activity_subscribe":
                task = SubscribeActivityAsync(id, root);
                return true;
            case "activity_unsubscribe":
                CancelQuietly(Interlocked.Exchange(ref _activityStream, null));
                Ack(id);
                return true;
            default:
                return false;
        }
    }

    /// <summary><c>{"after": id (absent: from now), "client", "kinds": [...]}</c>; the ack says where the stream starts.</summary>
    private async ValueTask SubscribeActivityAsync(byte[] id, JsonElement root)
    {
        var after = TaskWire.OptionalLong(root, "after");
        if (after < 0)
        {
            throw Invalid("'after' must be an entry id (0 or more), or absent to stream from now.");
        }

        var client = OptionalString(root, "client");
        var query = new ActivityQuery(_tenant)
        {
            Actor = client is null ? null : ClientId.TryCreate(client, out var c) ? c : throw Invalid($"'client' must be 1-{ClientId.MaxLength} of [A-Za-z0-9._:@-]."),
            Kinds = root.TryGetProperty("kinds"u8, out var k) && k.ValueKind != JsonValueKind.Null ? Strings(root, "kinds", 1, 64).ToHashSet(StringComparer.Ordinal) : null,
        };
        var start = after ?? await Engine.Activity.LastIdAsync(_tenant, Aborted);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(Aborted);
        Task stream;
        try
        {
            // The ack goes out before the stream's first entry (the stream starts on the pool, after this returns).
            stream = Engine.Activity.StreamAsync(query with { AfterId = start }, e => TryQueueEvent(e, 128 + (e.Detail?.Length ?? 0) + (e.Subject?.Length ?? 0)),
                last => Send(EncodeActivityEvent(new ActivityOverflow(last))!), stop.Token);
        }
        catch
        {
            stop.Dispose(); // refused (too many streams): the one this connection had goes on
            throw;
        }

        CancelQuietly(Interlocked.Exchange(ref _activityStream, stop));
        Send(FrameEncoder.Encode((id, start), static (w, s) =>
        {
            StartAck(w, s.id);
            w.WriteNumber("after"u8, s.start);
            w.WriteEndObject();
        }));
        _ = stream.ContinueWith(static (_, s) =>
        {
            var (session, source) = ((JsonApiSession, CancellationTokenSource))s!;
            Interlocked.CompareExchange(ref session._activityStream, null, source); // ended by itself: nothing to cancel
            source.Dispose();
        }, (this, stop), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Ends a stream; one that ended by itself meanwhile (overflow) has disposed its source already.</summary>
    private static void CancelQuietly(CancellationTokenSource? source)
    {
        try
        {
            source?.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static byte[]? EncodeActivityEvent(object item) => item switch
    {
        ActivityEntry e => FrameEncoder.Encode(e, static (w, e) =>
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "activity"u8);
            w.WritePropertyName("entry"u8);
            WireFormat.WriteActivity(w, e);
            w.WriteEndObject();
        }),
        ActivityOverflow o => FrameEncoder.Encode(o, static (w, o) =>
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "activity_overflow"u8);
            w.WriteNumber("after"u8, o.After);
            w.WriteEndObject();
        }),
        _ => null,
    };
}
