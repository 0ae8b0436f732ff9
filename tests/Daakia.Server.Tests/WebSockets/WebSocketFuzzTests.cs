using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using CsCheck;
using Daakia.Server.Json;
using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>
/// A bounded fuzz pass over the request parsers of <c>/v1/ws</c> and texto (CsCheck generators, a few seconds in the
/// normal test run), and the committed regression corpus (<c>WebSockets/Corpus</c>): whatever a frame holds, the
/// session answers the next request and the server logs no Error.
/// </summary>
public sealed class WebSocketFuzzTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    // Pieces of JSON string content, hostile and harmless: lone and paired surrogate escapes, escaped backslashes
    // before a 'u', broken escapes, non-ASCII.
    private static readonly Gen<string> Piece = Gen.OneOf(
        "a", "id", "é", "😀", "\\n", "\\\\", "\\\"", "\\u0041", "\\u0000", "\\ud800", "\\udc00", "\\uDBFF\\uDFFF",
        "\\ud83d\\ude00", "\\\\ud800", "\\ud800\\u0041", "\\udc00\\ud800", "\\u12", "\\x", "\\", "\"", "ping", "hello", "send");

    private static readonly Gen<string> JsonString = Piece.Array[0, 6].Select(p => "\"" + string.Concat(p) + "\"");

    private static readonly Gen<string> Scalar = Gen.OneOf(
        JsonString,
        Gen.OneOf("0", "-1", "1e999999", "99999999999999999999", "3.5", "true", "false", "null", "[]", "{}", "[\"bob\"]", "[1,2]"),
        Gen.Int.Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    private static readonly Gen<string> Value = Gen.OneOf(
        Scalar,
        Scalar.Array[0, 3].Select(a => "[" + string.Join(",", a) + "]"),
        Gen.Select(JsonString, Scalar, (k, v) => "{" + k + ":" + v + "}"));

    private static Gen<string> Frame(string[] keys, string[] types, string typeKey) => Gen.Frequency(
        (6, Gen.Select(
            Gen.OneOf(types).Select(t => "\"" + t + "\""),
            Gen.Select(Gen.OneOf(Gen.OneOf(keys).Select(k => "\"" + k + "\""), JsonString), Value, (k, v) => k + ":" + v).Array[0, 5],
            (t, fields) => "{\"" + typeKey + "\":" + t + (fields.Length == 0 ? "" : "," + string.Join(",", fields)) + "}")),
        (2, Value),
        (1, Piece.Array[0, 8].Select(string.Concat)));

    private static readonly Gen<string> WsFrame = Frame(
        ["id", "type", "author", "tenant", "recipients", "payload", "ttl", "topic", "topics", "status_text", "message_ids", "clients", "scope", "after", "limit", "mode", "heartbeat", "available", "active"],
        ["ping", "hello", "send", "ack", "presence", "presence_query", "roster", "subscribe", "unsubscribe", "publish", "delivery_mode", "x"],
        "type");

    private static readonly Gen<string> TextoFrame = Frame(
        ["id", "kind", "client_id", "data"],
        ["registration", "send", "ack", "receive", "x"],
        "kind");

    [Fact]
    public void LoneSurrogateScan_AgreesWithDecodingEveryString()
    {
        JsonString.Select(Gen.OneOf(JsonString, Scalar)).Sample((k, v) =>
        {
            var json = Encoding.UTF8.GetBytes("{" + k + ":" + v + "}");
            bool expected;
            try
            {
                expected = DecodingFails(json);
            }
            catch (JsonException)
            {
                return; // not JSON: the parser refuses it whatever the scan says
            }

            Assert.Equal(expected, JsonEscapes.HasLoneSurrogate(json));
        }, iter: 20_000, threads: 1);
    }

    private static bool DecodingFails(byte[] json)
    {
        var reader = new Utf8JsonReader(json);
        var fails = false;
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName)
            {
                try
                {
                    reader.GetString();
                }
                catch (InvalidOperationException)
                {
                    fails = true;
                }
            }
        }

        return fails;
    }

    [Fact]
    public async Task JsonApi_AnyFrame_LeavesTheSessionAnswering()
    {
        await using var client = await WsTestClient.HelloAsync(_host, Unique.Name("fuzz"));
        await WsFrame.SampleAsync(async frame =>
        {
            await client.SendTextAsync(frame);
            Assert.Equal("ack", (string?)(await client.RequestAsync("ping"))["type"]);
        }, iter: 400, threads: 1);
        Assert.Equal(WebSocketState.Open, client.State);
        Assert.Empty(_host.LoggedErrors);
    }

    [Fact]
    public async Task Texto_AnyFrame_LeavesTheSessionAnswering()
    {
        await using var client = await TextoTestClient.ConnectAsync(_host);
        await TextoFrame.SampleAsync(async frame =>
        {
            await client.Socket.SendTextAsync(frame);
            await TextoAnswersAsync(client);
        }, iter: 400, threads: 1);
        Assert.Equal(WebSocketState.Open, client.Socket.State);
        Assert.Empty(_host.LoggedErrors);
    }

    public static TheoryData<string> CorpusFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "WebSockets", "Corpus"), "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(Path.Combine(AppContext.BaseDirectory, "WebSockets", "Corpus"), file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public async Task Corpus_Replayed_IsAnsweredOrFailedWith1007(string file)
    {
        var bytes = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "WebSockets", "Corpus", file));
        var texto = file.StartsWith("texto", StringComparison.Ordinal);
        WsTestClient socket;
        TextoTestClient? t = null;
        if (texto)
        {
            t = await TextoTestClient.ConnectAsync(_host);
            socket = t.Socket;
        }
        else
        {
            socket = await WsTestClient.HelloAsync(_host, Unique.Name("corpus"));
        }

        await using var _ = socket;
        await socket.SendTextBytesAsync(bytes);
        if (!Utf8.IsValid(bytes))
        {
            // RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection.
            await socket.Closed.Task.WaitAsync(Eventually.DefaultTimeout);
            Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, socket.CloseStatus);
        }
        else if (t is not null)
        {
            await TextoAnswersAsync(t);
        }
        else
        {
            Assert.Equal("ack", (string?)(await socket.RequestAsync("ping"))["type"]);
        }

        Assert.Empty(_host.LoggedErrors);
    }

    /// <summary>A registration gets its connection frame, whatever came before it (errors are skipped).</summary>
    private static async Task TextoAnswersAsync(TextoTestClient client)
    {
        var id = await client.SendFrameAsync("registration", null);
        while (true)
        {
            var frame = await client.Socket.NextEventAsync();
            if ((string?)frame["kind"] == "connection" && (string?)frame["id"] == id)
            {
                return;
            }
        }
    }
}
