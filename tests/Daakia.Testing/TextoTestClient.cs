using System.Text.Json.Nodes;

namespace Daakia.Testing;

/// <summary>
/// A texto client (<c>/v1/texto</c>, docs/protocols/texto.md) over a real <see cref="WsTestClient"/>: reads the
/// greeting, sends <c>{client_id, id, kind, data}</c> frames and reads the server's frames in order by kind.
/// </summary>
public sealed class TextoTestClient : IAsyncDisposable
{
    private int _nextId;

    private TextoTestClient(WsTestClient socket, string id, string? resumeSecret)
    {
        Socket = socket;
        Id = id;
        ResumeSecret = resumeSecret;
    }

    /// <summary>The WebSocket under the client, for raw frames and the close status.</summary>
    public WsTestClient Socket { get; }

    /// <summary>The identity the server gave out in its greeting (or the one resumed since).</summary>
    public string Id { get; private set; }

    /// <summary>The <c>resume_secret</c> the server gave out with <see cref="Id"/> (Daakia's addition to texto).</summary>
    public string? ResumeSecret { get; private set; }

    /// <summary>Connects and waits for the server's <c>connection</c> greeting.</summary>
    public static async Task<TextoTestClient> ConnectAsync(DaakiaTestHost host)
    {
        var socket = await WsTestClient.ConnectAsync(host.WebSocketUri("/v1/texto"));
        var greeting = await socket.NextEventAsync();
        if ((string?)greeting["kind"] != "connection" || (string?)greeting["client_id"] is not { } id)
        {
            await socket.DisposeAsync();
            throw new InvalidOperationException("Expected a 'connection' greeting, got " + greeting.ToJsonString());
        }

        return new TextoTestClient(socket, id, (string?)greeting["data"]?["resume_secret"]);
    }

    /// <summary>Sends one frame as this client; returns its id (a fresh UUID, as texto's are, when <paramref name="id"/> is null).</summary>
    public async Task<string> SendFrameAsync(string kind, JsonNode? data, string? id = null)
    {
        id ??= $"00000000-0000-4000-8000-{Interlocked.Increment(ref _nextId):D12}";
        var frame = new JsonObject { ["client_id"] = Id, ["id"] = id, ["kind"] = kind, ["data"] = data };
        await Socket.SendTextAsync(frame.ToJsonString());
        return id;
    }

    /// <summary>Sends a message; returns the request id its <c>ack</c> (or <c>error</c>) will carry.</summary>
    public Task<string> SendAsync(string receiver, string text, string? id = null) =>
        SendFrameAsync("send", new JsonObject { ["receiver_id"] = receiver, ["text"] = text }, id);

    /// <summary>Acknowledges a <c>receive</c> by its id.</summary>
    public Task AckAsync(string messageId) => SendFrameAsync("ack", null, messageId);

    /// <summary>Asks to become <paramref name="earlierId"/> again (Daakia's resume) with its secret; returns the request id.</summary>
    public Task<string> ResumeAsync(string earlierId, string? secret) =>
        SendFrameAsync("registration", new JsonObject { ["client_id"] = earlierId, ["resume_secret"] = secret });

    /// <summary>Resumes <paramref name="earlierId"/> and waits for the <c>connection</c> reply.</summary>
    public async Task<JsonObject> ResumeAndWaitAsync(string earlierId, string? secret)
    {
        var id = await ResumeAsync(earlierId, secret);
        var reply = await NextAsync("connection");
        if ((string?)reply["id"] != id || (string?)reply["data"]?["client_id"] != earlierId)
        {
            throw new InvalidOperationException("Unexpected reply to the resume: " + reply.ToJsonString());
        }

        Id = earlierId;
        ResumeSecret = (string?)reply["data"]?["resume_secret"];
        return reply;
    }

    /// <summary>
    /// The next frame of <paramref name="kind"/>, skipping frames of other kinds. An <c>error</c> frame met on the way
    /// throws (with the frame) unless errors are what the test waits for.
    /// </summary>
    public async Task<JsonObject> NextAsync(string kind, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Eventually.DefaultTimeout);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            var frame = await Socket.NextEventAsync(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1));
            var actual = (string?)frame["kind"];
            if (actual == kind)
            {
                return frame;
            }

            if (actual == "error")
            {
                throw new UnexpectedErrorFrameException(kind, frame);
            }
        }
    }

    public ValueTask DisposeAsync() => Socket.DisposeAsync();
}
