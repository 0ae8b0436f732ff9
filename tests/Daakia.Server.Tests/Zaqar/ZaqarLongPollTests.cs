using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Daakia.Server.Tests.Zaqar;

/// <summary>
/// Long-poll on message listing (beyond Zaqar) over real HTTP and a real WebSocket, on a fake clock: a listing with
/// <c>wait</c> is answered by another client's post, not by the lister's own (echo off), and once the wait is over with
/// Zaqar's empty page; bad waits get the claim path's answers.
/// </summary>
public sealed class ZaqarLongPollTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private DaakiaTestHost _host = null!;
    private static readonly string Me = Guid.NewGuid().ToString();
    private static readonly string Other = Guid.NewGuid().ToString();

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(customize: b => b.Services.AddSingleton<TimeProvider>(_time));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<(HttpStatusCode Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, string? json = null, string? client = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        request.Headers.Add("Client-ID", client ?? Me);
        request.Headers.Add("X-Project-ID", "p1");
        using var response = await _host.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private async Task PostAsync(string queue, string body, string? client = null) =>
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Post, $"/v2/queues/{queue}/messages", $$"""{"messages": [{"body": {{body}}}]}""", client)).Status);

    /// <summary>Advances the server's clock a second at a time until <paramref name="answer"/> completes.</summary>
    private async Task<T> UntilAnsweredAsync<T>(Task<T> answer)
    {
        await Eventually.True(() =>
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            return answer.IsCompleted;
        }, "the wait ends");
        return await answer;
    }

    /// <summary>One whole WebSocket message as JSON (within 30 s).</summary>
    internal static async Task<JsonNode> ReceiveAsync(WebSocket ws)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[1 << 20];
        var count = 0;
        ValueWebSocketReceiveResult r;
        do
        {
            r = await ws.ReceiveAsync(buffer.AsMemory(count), timeout.Token);
            count += r.Count;
        }
        while (!r.EndOfMessage);

        return JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, count))!;
    }

    private static async Task<(int Status, JsonNode? Body)> ActAsync(WebSocket ws, string action, object body, string? client = null)
    {
        await SendFrameAsync(ws, action, body, client);
        var reply = await ReceiveAsync(ws);
        return ((int)reply["headers"]!["status"]!, reply["body"]);
    }

    private static Task SendFrameAsync(WebSocket ws, string action, object body, string? client = null)
    {
        var frame = new JsonObject
        {
            ["action"] = action,
            ["headers"] = new JsonObject { ["Client-ID"] = client ?? Me, ["X-Project-ID"] = "p1" },
            ["body"] = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(body)),
        };
        return ws.SendAsync(Encoding.UTF8.GetBytes(frame.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
    }

    private static List<string> Bodies(JsonNode? body) => [.. body!["messages"]!.AsArray().Select(m => m!["body"]!.ToJsonString())];

    [Fact]
    public async Task ARestListingWithWait_IsAnsweredByAnotherClientsPost_NotByItsOwn()
    {
        // The queue does not exist yet: the listing waits for the post that makes it.
        var waiting = SendAsync(HttpMethod.Get, "/v2/queues/lpl/messages?wait=10");
        await PostAsync("lpl", "\"mine\""); // the lister's own: not listed without echo, so it goes on waiting
        await PostAsync("lpl", "\"theirs\"", client: Other);
        var (status, body) = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["\"theirs\""], Bodies(body));
        var next = (string)body!["links"]![0]!["href"]!;
        Assert.Contains("wait=10", next, StringComparison.Ordinal); // the next page waits too

        // An echo listing is answered by its own post.
        var echo = SendAsync(HttpMethod.Get, $"{next}&echo=true");
        await PostAsync("lpl", "\"mine again\"");
        Assert.Equal(["\"mine again\""], Bodies((await echo.WaitAsync(TimeSpan.FromSeconds(30))).Body));
    }

    [Fact]
    public async Task ARestListingWithWait_ThatNothingAnswers_Is200WithAnEmptyPageAndNoLinks_AndBadWaitsAre400()
    {
        await PostAsync("quiet", "\"mine\"");
        var (status, body) = await UntilAnsweredAsync(SendAsync(HttpMethod.Get, "/v2/queues/quiet/messages?wait=3"));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("""{"messages":[],"links":[]}""", body!.ToJsonString());

        var tooLong = await SendAsync(HttpMethod.Get, "/v2/queues/quiet/messages?wait=21");
        Assert.Equal((HttpStatusCode.BadRequest, "Invalid API request", "wait must be between 0 and 20 seconds."), (tooLong.Status, (string?)tooLong.Body!["title"], (string?)tooLong.Body["description"]));
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Get, "/v2/queues/quiet/messages?wait=-1")).Status);
        var notInt = await SendAsync(HttpMethod.Get, "/v2/queues/quiet/messages?wait=soon");
        Assert.Equal((HttpStatusCode.BadRequest, "Invalid parameter"), (notInt.Status, (string?)notInt.Body!["title"]));
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/v2/queues/quiet/claims?wait=21")).Status); // the claim's own answer, for comparison
    }

    [Fact]
    public async Task AWebSocketListingWithWait_IsAnsweredByAnotherClientsPost_NotByItsOwn_OrEmptyOnceTheWaitIsOver()
    {
        using var lister = new ClientWebSocket();
        await lister.ConnectAsync(_host.WebSocketUri("/v2/ws"), CancellationToken.None);
        await SendFrameAsync(lister, "message_list", new { queue_name = "wsl", wait = 10 });
        var reply = ReceiveAsync(lister);
        await PostAsync("wsl", "\"mine\"");
        await PostAsync("wsl", "\"theirs\"", client: Other);
        var answered = await reply.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((200, "message_list"), ((int)answered["headers"]!["status"]!, (string?)answered["request"]!["action"]));
        Assert.Equal(["\"theirs\""], Bodies(answered["body"]));

        // Nothing more comes: an empty page once the wait is over, and the connection answers the next frame.
        var marker = (string)answered["body"]!["messages"]![0]!["id"]!;
        await SendFrameAsync(lister, "message_list", new { queue_name = "wsl", wait = 3, marker });
        var empty = await UntilAnsweredAsync(ReceiveAsync(lister));
        Assert.Equal((200, """{"messages":[]}"""), ((int)empty["headers"]!["status"]!, empty["body"]!.ToJsonString()));

        var tooLong = await ActAsync(lister, "message_list", new { queue_name = "wsl", wait = 21 });
        Assert.Equal((400, "wait must be between 0 and 20 seconds."), (tooLong.Status, (string?)tooLong.Body!["exception"]));
        Assert.Equal((400, "Schema validation failed."), Error(await ActAsync(lister, "message_list", new { queue_name = "wsl", wait = "soon" })));

        // A queue that does not exist when the wait ends: Zaqar's 404.
        await SendFrameAsync(lister, "message_list", new { queue_name = "never", wait = 2 });
        Assert.Equal(404, (int)(await UntilAnsweredAsync(ReceiveAsync(lister)))["headers"]!["status"]!);

        static (int, string?) Error((int Status, JsonNode? Body) a) => (a.Status, (string?)a.Body!["error"]);
    }
}
