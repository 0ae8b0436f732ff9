using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.Tests.Edge;

/// <summary>
/// Hostile REST input, one row each (issue 7): the request as bytes on a real socket → the status → a problem+json body
/// with the documented code → the server still answers → and nothing of it logged as an Error.
/// </summary>
public sealed class RestHostileInputTests : IAsyncLifetime
{
    private readonly LogCapture _logs = new();
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(
        c =>
        {
            c["Daakia:Core:MaxRecipients"] = "3";
            c["Daakia:Core:MaxPayloadBytes"] = "2000";
            c["Daakia:MaxRequestBodyBytes"] = "4096";
            c["Daakia:OpenTenants:0"] = "default";
            c["Daakia:OpenTenants:1"] = "acme";
            c["Logging:LogLevel:Daakia.Http"] = "Debug";
            c["Logging:LogLevel:Microsoft.AspNetCore"] = "Debug";
        },
        customize: b => b.Logging.AddProvider(_logs));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    public sealed record Case(string Name, string Method, string Target, string[] Headers, byte[]? Body, int Status, string? Code);

    private static readonly string[] Json = ["Content-Type: application/json", "X-Daakia-Client: alice"];

    private static byte[] B(params object[] parts)
    {
        var bytes = new List<byte>();
        foreach (var p in parts)
        {
            bytes.AddRange(p switch
            {
                string s => Encoding.UTF8.GetBytes(s),
                byte[] b => b,
                byte b => [b],
                _ => throw new ArgumentException(p.ToString()),
            });
        }

        return [.. bytes];
    }

    private static Case Send(string name, byte[] body, int status, string? code, string[]? headers = null) =>
        new(name, "POST", "/v1/messages", headers ?? Json, body, status, code);

    private static Case Get(string name, string target, int status, string? code, params string[] headers) =>
        new(name, "GET", target, headers, null, status, code);

    public static readonly IReadOnlyList<Case> Table =
    [
        // Item 2: invalid UTF-8 and escaped lone surrogates are refused once, at the edge.
        Send("payload invalid UTF-8 byte", B("{\"recipients\":[\"bob\"],\"payload\":\"", (byte)0xFF, "\"}"), 400, "invalid_json"),
        Send("payload overlong UTF-8", B("{\"recipients\":[\"bob\"],\"payload\":\"", (byte)0xC0, (byte)0xAF, "\"}"), 400, "invalid_json"),
        Send("payload UTF-8 encoded surrogate", B("{\"recipients\":[\"bob\"],\"payload\":\"", (byte)0xED, (byte)0xA0, (byte)0x80, "\"}"), 400, "invalid_json"),
        Send("payload lone high surrogate escape", B("""{"recipients":["bob"],"payload":"\ud800"}"""), 400, "invalid_json"),
        Send("payload lone low surrogate escape", B("""{"recipients":["bob"],"payload":"\udc00"}"""), 400, "invalid_json"),
        Send("payload high surrogate then a letter", B("""{"recipients":["bob"],"payload":"\ud800\u0041"}"""), 400, "invalid_json"),
        Send("payload surrogate nested deep", B("""{"recipients":["bob"],"payload":{"a":[{"b":"x\uDBFF"}]}}"""), 400, "invalid_json"),
        Send("payload surrogate in a key", B("""{"recipients":["bob"],"payload":{"\ud800":1}}"""), 400, "invalid_json"),
        Send("payload escaped backslash before u is fine", B("""{"recipients":["bob"],"payload":"\\ud800"}"""), 201, null),
        Send("payload valid surrogate pair is fine", B("""{"recipients":["bob"],"payload":"\ud83d\ude00"}"""), 201, null),
        Send("payload non-ASCII text is fine", B("""{"recipients":["bob"],"payload":"ડાકિયા 📮"}"""), 201, null),
        // Item 3: the same in every other field.
        Send("recipient lone surrogate", B("""{"recipients":["\ud800"],"payload":1}"""), 400, "invalid_json"),
        Send("recipient invalid UTF-8", B("{\"recipients\":[\"", (byte)0xFE, "\"],\"payload\":1}"), 400, "invalid_json"),
        Send("top-level key lone surrogate", B("""{"\udfff":1,"recipients":["bob"],"payload":1}"""), 400, "invalid_json"),
        new("topic lone surrogate", "POST", "/v1/topics/publish", Json, B("""{"topic":"a/\ud800","payload":1}"""), 400, "invalid_json"),
        new("topic invalid UTF-8", "POST", "/v1/topics/publish", Json, B("""{"topic":"a/""", (byte)0x80, "\",\"payload\":1}"), 400, "invalid_json"),
        new("ack id lone surrogate", "POST", "/v1/clients/bob/inbox/ack", Json, B("""{"message_ids":["\ud800"]}"""), 400, "invalid_json"),
        new("ack id invalid UTF-8", "POST", "/v1/clients/bob/inbox/ack", Json, B("{\"message_ids\":[\"", (byte)0xFF, "\"]}"), 400, "invalid_json"),
        Send("author header invalid UTF-8", B("""{"recipients":["bob"],"payload":1}"""), 400, "invalid_argument", ["Content-Type: application/json", "X-Daakia-Client: b\u00ff\u00feb"]),
        Send("tenant header invalid UTF-8", B("""{"recipients":["bob"],"payload":1}"""), 400, "invalid_argument", [.. Json, "X-Daakia-Tenant: \u00ed\u00a0\u0080"]),
        Get("path client invalid UTF-8", "/v1/clients/%FF%FE/inbox", 400, "invalid_argument"),
        Get("path client UTF-8 surrogate", "/v1/clients/%ED%A0%80/inbox/count", 400, "invalid_argument"),
        Get("query client invalid UTF-8", "/v1/presence?clients=a,%FF", 400, "invalid_argument"),
        Get("delete id invalid UTF-8", "/v1/clients/bob/inbox/%FF", 405, "method_not_allowed"),
        new("delete id not a guid", "DELETE", "/v1/clients/bob/inbox/%ED%A0%80", [], null, 400, "invalid_argument"),
        // Other bodies.
        Send("empty body", [], 400, "invalid_json"),
        Send("not JSON", B("not json"), 400, "invalid_json"),
        Send("JSON array", B("[1]"), 400, "invalid_json"),
        Send("truncated JSON", B("""{"recipients":["bob"],"payload":"""), 400, "invalid_json"),
        Send("too deep", B(new string('[', 100) + new string(']', 100)), 400, "invalid_json"),
        Send("body above the limit", B("{\"recipients\":[\"bob\"],\"payload\":\"" + new string('x', 5000) + "\"}"), 413, "payload_too_large"),
        // Item 9: tenants and charsets.
        Send("empty tenant header", B("""{"recipients":["bob"],"payload":1}"""), 400, "invalid_argument", [.. Json, "X-Daakia-Tenant: "]),
        Send("two tenant headers", B("""{"recipients":["bob"],"payload":1}"""), 400, "invalid_argument", [.. Json, "X-Daakia-Tenant: default", "X-Daakia-Tenant: acme"]),
        Send("two client headers", B("""{"recipients":["bob"],"payload":1}"""), 400, "invalid_argument", [.. Json, "X-Daakia-Client: mallory"]),
        Send("unknown tenant", B("""{"recipients":["bob"],"payload":1}"""), 403, "forbidden", [.. Json, "X-Daakia-Tenant: nobody"]),
        Get("empty tenant header on a read", "/v1/clients/bob/inbox/count", 400, "invalid_argument", "X-Daakia-Tenant:"),
        // Item 8: JSON bodies need application/json (a page cannot send that cross-site without a preflight).
        Send("no content type", B("""{"recipients":["bob"],"payload":1}"""), 415, "unsupported_media_type", ["X-Daakia-Client: alice"]),
        Send("text/plain", B("""{"recipients":["bob"],"payload":1}"""), 415, "unsupported_media_type", ["Content-Type: text/plain", "X-Daakia-Client: alice"]),
        Send("form", B("recipients=bob"), 415, "unsupported_media_type", ["Content-Type: application/x-www-form-urlencoded", "X-Daakia-Client: alice"]),
        Send("charset iso-8859-1", B("""{"recipients":["bob"],"payload":1}"""), 415, "unsupported_media_type", ["Content-Type: application/json; charset=iso-8859-1", "X-Daakia-Client: alice"]),
        Send("charset utf-16", B("""{"recipients":["bob"],"payload":1}"""), 415, "unsupported_media_type", ["Content-Type: application/json; charset=utf-16", "X-Daakia-Client: alice"]),
        Send("charset UTF-8 quoted is fine", B("""{"recipients":["bob"],"payload":1}"""), 201, null, ["Content-Type: application/json; charset=\"UTF-8\"", "X-Daakia-Client: alice"]),
        Send("malformed content type", B("""{"recipients":["bob"],"payload":1}"""), 415, "unsupported_media_type", ["Content-Type: ;;;", "X-Daakia-Client: alice"]),
        new("ack without content type", "POST", "/v1/clients/bob/inbox/ack", ["Content-Type: text/plain"], B("""{"message_ids":[]}"""), 415, "unsupported_media_type"),
        // Item 5: binding failures.
        Get("limit not a number", "/v1/clients/bob/inbox?limit=abc", 400, "invalid_argument"),
        Get("after not a number", "/v1/clients/bob/inbox?after=abc", 400, "invalid_argument"),
        Get("limit overflows", "/v1/clients/bob/inbox?limit=99999999999999999999", 400, "invalid_argument"),
        Get("after empty", "/v1/clients/bob/inbox?after=", 400, "invalid_argument"),
        Get("limit twice", "/v1/clients/bob/inbox?limit=1&limit=2", 400, "invalid_argument"),
        Get("limit zero", "/v1/clients/bob/inbox?limit=0", 400, "invalid_argument"),
        Get("limit negative", "/v1/roster?scope=all&limit=-1", 400, "invalid_argument"),
        Get("activity after not a number", "/v1/activity?after=x", 400, "invalid_argument"),
        // Not HTTP: Kestrel refuses a NUL in the target itself, before any middleware (400, empty body, connection closed).
        Get("NUL in a path segment", "/v1/clients/%00/inbox/count", 400, null),
        Get("NUL in the query", "/v1/clients/bob/inbox?after=%00", 400, "invalid_argument"),
        Get("bad scope", "/v1/roster?scope=%ED%A0%80", 400, "invalid_argument"),
        Get("presence without clients", "/v1/presence", 400, "invalid_argument"),
        // Item 5: routing.
        Get("unknown route under v1", "/v1/nothing", 404, "not_found"),
        Get("unknown route", "/nothing/here", 404, "not_found"),
        Get("GET on a POST route", "/v1/messages", 405, "method_not_allowed"),
        new("PUT messages", "PUT", "/v1/messages", Json, B("{}"), 405, "method_not_allowed"),
        new("DELETE messages", "DELETE", "/v1/messages", [], null, 405, "method_not_allowed"),
        new("POST inbox", "POST", "/v1/clients/bob/inbox", Json, B("{}"), 405, "method_not_allowed"),
        new("DELETE inbox", "DELETE", "/v1/clients/bob/inbox", [], null, 405, "method_not_allowed"),
        new("POST count", "POST", "/v1/clients/bob/inbox/count", Json, B("{}"), 405, "method_not_allowed"),
        new("GET ack", "GET", "/v1/clients/bob/inbox/ack", [], null, 405, "method_not_allowed"),
        new("PATCH presence", "PATCH", "/v1/clients/bob/presence", Json, B("{}"), 405, "method_not_allowed"),
        new("POST presence list", "POST", "/v1/presence", Json, B("{}"), 405, "method_not_allowed"),
        new("PUT roster", "PUT", "/v1/roster", Json, B("{}"), 405, "method_not_allowed"),
        new("GET publish", "GET", "/v1/topics/publish", [], null, 405, "method_not_allowed"),
        new("DELETE activity", "DELETE", "/v1/activity", [], null, 405, "method_not_allowed"),
        new("GET a letter by id", "GET", $"/v1/clients/bob/inbox/{Guid.Empty}", [], null, 405, "method_not_allowed"),
        new("POST healthz", "POST", "/healthz", Json, B("{}"), 405, "method_not_allowed"),
        new("OPTIONS preflight", "OPTIONS", "/v1/messages", ["Origin: http://evil.example", "Access-Control-Request-Method: POST"], null, 405, "method_not_allowed"),
        // Item 9: HEAD on reads.
        new("HEAD count", "HEAD", "/v1/clients/bob/inbox/count", [], null, 200, null),
        new("HEAD healthz", "HEAD", "/healthz", [], null, 200, null),
        // Item 8: DNS rebinding.
        Get("foreign Host", "/v1/clients/bob/inbox/count", 421, "invalid_host"),
    ];

    public static IEnumerable<object[]> CaseNames => Table.Select(c => new object[] { c.Name });

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task HostileRequest_GetsDocumentedProblem_ServerStaysFine_NoErrorLogged(string name)
    {
        var c = Table.Single(t => t.Name == name);
        var host = c.Name == "foreign Host" ? "rebound.evil.example:" + _host.BaseUri.Port : null;
        var response = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, c.Method, c.Target, c.Headers, c.Body, host));

        Assert.True(c.Status == response.Status, $"{c.Name}: expected {c.Status}, got {response.Status} {response.Text}");
        if (c.Code is not null)
        {
            Assert.StartsWith("application/problem+json", response.Header("Content-Type"), StringComparison.Ordinal);
            var problem = JsonNode.Parse(response.Text)!;
            Assert.Equal(c.Code, (string?)problem["code"]);
            Assert.Equal(c.Status, (int)problem["status"]!);
            Assert.Equal($"https://daakia.dev/errors/{c.Code}", (string?)problem["type"]);
            Assert.False(string.IsNullOrEmpty((string?)problem["detail"]), "a detail says what was wrong");
            Assert.False(string.IsNullOrEmpty((string?)problem["title"]));
        }

        if (c.Method == "HEAD")
        {
            Assert.Empty(response.Body);
        }

        if (c.Status == 405)
        {
            Assert.False(string.IsNullOrEmpty(response.Header("Allow")), "405 names the allowed methods");
        }

        await AssertStillFineAsync();
    }

    [Fact]
    public async Task EveryHostileRow_InOneRun_LogsNoErrorLine()
    {
        foreach (var c in Table)
        {
            var host = c.Name == "foreign Host" ? "rebound.evil.example" : null;
            await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, c.Method, c.Target, c.Headers, c.Body, host));
        }

        await AssertStillFineAsync();
        Assert.True(_logs.Has("BadRequest"), "client faults are logged, at Debug");
        Assert.Empty(_logs.AtLeast(LogLevel.Error));
        Assert.Empty(_host.LoggedErrors);
    }

    [Fact]
    public async Task ChunkedBodyNeverFinished_IsAClientFault_LoggedBelowError()
    {
        var head = RawHttp.Request(_host.BaseUri, "POST", "/v1/messages", [.. Json, "Transfer-Encoding: chunked"]);
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(_host.BaseUri.Host, _host.BaseUri.Port);
            var stream = tcp.GetStream();
            await stream.WriteAsync(head);
            await stream.WriteAsync("40\r\n{\"recipients\":[\"bob\"],"u8.ToArray());
            await stream.FlushAsync();
            // Gone mid-chunk: the server's body read fails.
        }

        try
        {
            // Our handler sees the body read fail (RequestAborted / BadRequest), or Kestrel, having read the end of the
            // connection with the request's head, closes it without dispatching the request (ConnectionStop).
            await Eventually.True(() => _logs.Has("RequestAborted") || _logs.Has("BadRequest") || _logs.Has("ConnectionStop"), "the server notices the unfinished body");
        }
        catch (TimeoutException ex)
        {
            // Say what was logged instead.
            throw new TimeoutException($"{ex.Message}; logged: {string.Join(", ", _logs.Entries.Select(e => $"{e.Category}/{e.EventName}").Distinct())}", ex);
        }
        await AssertStillFineAsync();
        Assert.Empty(_logs.AtLeast(LogLevel.Error));
    }

    [Fact]
    public async Task ChunkedBodyEndingEarly_Is400ProblemNotAnError()
    {
        // The chunked framing ends (0-size chunk) inside the JSON: a complete HTTP request with a bad body.
        var request = RawHttp.Request(_host.BaseUri, "POST", "/v1/messages", [.. Json, "Transfer-Encoding: chunked"]);
        var response = await RawHttp.SendAsync(_host.BaseUri, [.. request, .. "5\r\n{\"rec\r\n0\r\n\r\n"u8.ToArray()]);
        Assert.Equal(400, response.Status);
        Assert.Equal("invalid_json", (string?)JsonNode.Parse(response.Text)!["code"]);
        Assert.Empty(_logs.AtLeast(LogLevel.Error));
    }

    [Fact]
    public async Task ErrorDetails_EchoNonAsciiInputAsSent()
    {
        var response = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "POST", "/v1/messages", Json, B("""{"recipients":["bøb ડાકિયા"],"payload":1}""")));
        Assert.Equal(400, response.Status);
        Assert.Contains("'bøb ડાકિયા' is not a valid client id", (string?)JsonNode.Parse(response.Text)!["detail"], StringComparison.Ordinal);

        var path = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "GET", "/v1/clients/b%C3%B8b%20x/inbox"));
        Assert.Contains("'bøb x' is not a valid client id", (string?)JsonNode.Parse(path.Text)!["detail"], StringComparison.Ordinal);

        // A header sent as UTF-8 is read as UTF-8, not as Latin-1 mojibake.
        var utf8Header = Encoding.Latin1.GetString(Encoding.UTF8.GetBytes("X-Daakia-Tenant: bøb"));
        var header = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "GET", "/v1/clients/bob/inbox/count", [utf8Header]));
        Assert.Contains("'bøb' is not a valid tenant id", (string?)JsonNode.Parse(header.Text)!["detail"], StringComparison.Ordinal);

        // A long id is cut for the detail, never between the two halves of a surrogate pair.
        var emoji = string.Concat(Enumerable.Repeat("📮", 30));
        var cut = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "POST", "/v1/messages", Json, B($$"""{"recipients":["{{emoji}}"],"payload":1}""")));
        var detail = (string?)JsonNode.Parse(cut.Text)!["detail"] ?? "";
        Assert.True(Encoding.UTF8.GetByteCount(detail) == Encoding.UTF8.GetBytes(detail).Length && !detail.Contains('\uFFFD', StringComparison.Ordinal), detail);
        Assert.DoesNotContain("\\ud83d\"", cut.Text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task PostMessage_AnswersWithoutALocationToARouteThatDoesNotExist()
    {
        var response = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "POST", "/v1/messages", Json, B("""{"recipients":["bob"],"payload":1}""")));
        Assert.Equal(201, response.Status);
        Assert.Null(response.Header("Location"));
    }

    [Fact]
    public async Task Head_OnEveryRead_MatchesGetWithoutABody()
    {
        foreach (var target in new[] { "/v1/clients/bob/inbox", "/v1/clients/bob/inbox/count", "/v1/clients/bob/presence", "/v1/presence?clients=bob", "/v1/roster", "/v1/activity" })
        {
            var get = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "GET", target));
            var head = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, "HEAD", target));
            Assert.Equal(200, get.Status);
            Assert.True(200 == head.Status, target);
            Assert.Equal(get.Header("Content-Type"), head.Header("Content-Type"));
            Assert.Empty(head.Body);
        }
    }

    private async Task AssertStillFineAsync()
    {
        using var health = await _host.Http.GetAsync("/healthz");
        Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);
        using var count = await _host.Http.GetAsync("/v1/clients/bob/inbox/count");
        Assert.Equal(System.Net.HttpStatusCode.OK, count.StatusCode);
    }
}
