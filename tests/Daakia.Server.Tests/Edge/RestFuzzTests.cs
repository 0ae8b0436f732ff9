using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using Daakia.Testing;

namespace Daakia.Server.Tests.Edge;

/// <summary>
/// A bounded fuzz pass over REST request parsing (CsCheck, a few seconds inside the normal run): requests built from
/// the real routes, hostile segments and query values, assorted Content-Types and tenant/client headers, and valid
/// bodies mutated with bytes that break UTF-8, JSON and surrogates. Every answer must be a success or a problem+json
/// client error — never a 5xx, never an empty error body — and the server logs no Error. Inputs that ever failed are
/// kept in rest-corpus.txt (one JSON request per line) and replayed first.
/// </summary>
public sealed class RestFuzzTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync(c =>
    {
        c["Daakia:Core:MaxRecipients"] = "4";
        c["Daakia:Core:MaxPayloadBytes"] = "2000";
        c["Daakia:MaxRequestBodyBytes"] = "8192";
        c["Daakia:OpenTenants:0"] = "default";
        c["Daakia:OpenTenants:1"] = "acme";
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    public sealed record FuzzRequest(string Method, string Target, string[] Headers, byte[]? Body)
    {
        public string ToCorpusLine() => JsonSerializer.Serialize(new { method = Method, target = Target, headers = Headers, body = Body is null ? null : Convert.ToBase64String(Body) });

        public static FuzzRequest FromCorpusLine(string line)
        {
            var o = JsonNode.Parse(line)!;
            var body = (string?)o["body"];
            return new((string)o["method"]!, (string)o["target"]!, o["headers"]!.AsArray().Select(h => (string)h!).ToArray(), body is null ? null : Convert.FromBase64String(body));
        }

        public override string ToString() => ToCorpusLine();
    }

    // Pieces of a path segment or query value; all valid in a request target (hostile bytes go percent-encoded).
    private static readonly Gen<string> Segment = Gen.OneOf(
        Gen.OneOf("bob", "alice", "a.b-c_d:e@f", "", "%20", "%2F", "%FF", "%ED%A0%80", "%C3%B8", "%F0%9F%93%AE", "..", "%2e%2e", "x%25", new string('z', 200)),
        Gen.Byte.Array[1, 6].Select(bytes => string.Concat(bytes.Select(b => b == 0 ? "%01" : $"%{b:X2}"))),
        Gen.String[Gen.Char['a', 'z'], 1, 12]);

    private static readonly Gen<string> Number = Gen.OneOf(
        Gen.OneOf("", "0", "-1", "1", "100", "512", "513", "99999999999999999999", "1e3", "0x10", "1.5", "%201", "%FF", "abc"),
        Gen.Long.Select(l => l.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    private static readonly Gen<string> Path = Gen.OneOf(
        Gen.Const("/v1/messages"),
        Segment.Select(c => $"/v1/clients/{c}/inbox"),
        Segment.Select(c => $"/v1/clients/{c}/inbox/count"),
        Segment.Select(c => $"/v1/clients/{c}/inbox/ack"),
        Gen.Select(Segment, Gen.OneOf(Gen.Guid.Select(g => g.ToString()), Segment), (c, id) => $"/v1/clients/{c}/inbox/{id}"),
        Segment.Select(c => $"/v1/clients/{c}/presence"),
        Segment.Select(c => $"/v1/presence?clients={c},{c}"),
        Gen.Select(Gen.OneOf("online", "all", "", "%FF", "ALL"), Segment, Number, (s, a, l) => $"/v1/roster?scope={s}&after={a}&limit={l}"),
        Gen.Const("/v1/topics/publish"),
        Gen.Select(Number, Number, (a, l) => $"/v1/activity?after={a}&limit={l}"),
        Gen.Select(Number, Number, Gen.Bool, (a, l, twice) => $"/v1/clients/bob/inbox?after={a}&limit={l}{(twice ? "&limit=" + l : "")}"),
        Gen.Const("/healthz"),
        Segment.Select(s => $"/v1/{s}"));

    private static readonly Gen<string?> ContentType = Gen.OneOf<string?>(
        "application/json", "application/json; charset=utf-8", "APPLICATION/JSON; charset=\"UTF-8\"", "application/json; charset=iso-8859-1",
        "application/json; charset=", "text/plain", "application/x-www-form-urlencoded", "application/jsonx", ";", "application/json;;;", null);

    // Header values stay free of CR, LF and NUL (Kestrel refuses those itself); other bytes, UTF-8 or not, are fair.
    private static readonly Gen<string?> HeaderValue = Gen.OneOf(
        Gen.OneOf<string?>(null, "", "default", "acme", "nobody", "alice", "b ob", new string('t', 100)),
        Gen.Byte[0x20, 0xFF].Array[1, 8].Select(b => (string?)Encoding.Latin1.GetString(b)));

    private static readonly string[] Bodies =
    [
        """{"recipients":["bob","carol"],"payload":{"text":"hi","n":[1,2.5,null,true]},"ttl":60}""",
        """{"topic":"news/today","payload":"x"}""",
        """{"message_ids":["00000000-0000-0000-0000-000000000001"]}""",
        """{"recipients":["bob"],"payload":"ડાકિયા 📮 \ud83d\ude00"}""",
    ];

    private static readonly string[] Poison = ["\\ud800", "\\udc00", "\\", "\"", "{", "[", "]", "}", ",", ":", "\\u", "\\uZZZZ", "1e999", "-", "null", new string('[', 80)];

    private static readonly Gen<byte[]> Mutation = Gen.OneOf(
        Gen.Byte.Array[1, 3],
        Gen.OneOf(Poison).Select(p => Encoding.UTF8.GetBytes(p)),
        Gen.OneOf<byte[]>([0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]));

    private static readonly Gen<byte[]> Body = Gen.Select(Gen.OneOf(Bodies), Gen.Int[0, 3], Gen.Int, Mutation.Array[3], (body, count, where, mutations) =>
    {
        var bytes = new List<byte>(Encoding.UTF8.GetBytes(body));
        var position = where & int.MaxValue;
        for (var i = 0; i < count; i++)
        {
            var at = position % (bytes.Count + 1);
            switch ((position / 7) % 3)
            {
                case 0:
                    bytes.InsertRange(at, mutations[i]);
                    break;
                case 1:
                    bytes.RemoveRange(at, Math.Min(mutations[i].Length, bytes.Count - at));
                    bytes.InsertRange(at, mutations[i]);
                    break;
                default:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
            }

            position = ((position * 31) + 17) & int.MaxValue;
        }

        return bytes.ToArray();
    });

    private static readonly Gen<FuzzRequest> Request = Gen.Select(
        Gen.OneOf("GET", "POST", "POST", "POST", "DELETE", "HEAD", "PUT"),
        Path,
        ContentType,
        HeaderValue,
        HeaderValue,
        Gen.Frequency((1, Gen.Const((byte[]?)Array.Empty<byte>()).Select(_ => (byte[]?)null)), (4, Body.Select(b => (byte[]?)b))),
        (method, path, contentType, tenant, client, body) =>
        {
            var headers = new List<string>();
            if (contentType is not null)
            {
                headers.Add("Content-Type: " + contentType);
            }

            if (tenant is not null)
            {
                headers.Add("X-Daakia-Tenant: " + tenant);
            }

            headers.Add("X-Daakia-Client: " + (client ?? "alice"));
            return new FuzzRequest(method, path, [.. headers], method is "GET" or "HEAD" or "DELETE" ? null : body);
        });

    [Fact]
    public async Task Fuzz_RestRequests_AreAnsweredOrRefusedAsProblems_NeverA5xx()
    {
        await Request.SampleAsync(
            async r => await IsWellAnsweredAsync(r),
            iter: 400,
            threads: 2,
            print: r => r.ToCorpusLine());
        await AssertHealthyAsync();
    }

    [Fact]
    public async Task Corpus_EveryRegressionInput_IsWellAnswered()
    {
        var lines = File.ReadAllLines(System.IO.Path.Combine(AppContext.BaseDirectory, "Edge", "rest-corpus.txt"))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .ToList();
        Assert.NotEmpty(lines);
        foreach (var line in lines)
        {
            var request = FuzzRequest.FromCorpusLine(line);
            Assert.True(await IsWellAnsweredAsync(request), line);
        }

        await AssertHealthyAsync();
    }

    private async Task<bool> IsWellAnsweredAsync(FuzzRequest r)
    {
        var response = await RawHttp.SendAsync(_host.BaseUri, RawHttp.Request(_host.BaseUri, r.Method, r.Target, r.Headers, r.Body));
        if (response.Status >= 500)
        {
            return false;
        }

        if (response.Status < 400)
        {
            return true;
        }

        if (r.Method == "HEAD")
        {
            return response.Body.Length == 0;
        }

        if (response.Header("Content-Type")?.StartsWith("application/problem+json", StringComparison.Ordinal) != true)
        {
            return false;
        }

        var problem = JsonNode.Parse(response.Text);
        return problem?["code"] is JsonValue code && code.GetValue<string>().Length > 0 && (int?)problem["status"] == response.Status;
    }

    private async Task AssertHealthyAsync()
    {
        using var health = await _host.Http.GetAsync("/healthz");
        Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);
        Assert.Empty(_host.LoggedErrors);
    }
}
