using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Daakia.Core;
using Daakia.Server.WebSockets;
using Daakia.Testing;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>
/// Hostile frames against <c>/v1/texto</c>, one table: input → the <c>error</c> code → the connection still answers →
/// no Error logged. Then identity takeover, and letters texto cannot carry as they are.
/// </summary>
public sealed class TextoHostileInputTests : IAsyncLifetime
{
    private const string Uuid = "8a15b000-02d7-4823-8336-0cd0b0b13ae9";
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private DaakiaEngine Engine => _host.Get<DaakiaEngine>();

    private SessionMetrics Metrics => _host.Get<WebSocketSessionFactory>().Metrics;

    public static TheoryData<string, string, string> Frames => new()
    {
        // name, frame ("{R}" is replaced by a fresh receiver's UUID), expected error code
        { "empty frame", "", "EBADMSG" },
        { "not json", "garbage", "EBADMSG" },
        { "an array", "[1]", "EBADMSG" },
        { "lone surrogate in id", "{\"id\":\"\\ud800\",\"kind\":\"registration\",\"data\":null}", "EBADMSG" },
        { "lone surrogate in kind", "{\"id\":\"" + Uuid + "\",\"kind\":\"\\ud800\",\"data\":null}", "EBADMSG" },
        { "lone surrogate in a key", "{\"\\ud800\":1,\"kind\":\"registration\",\"data\":null}", "EBADMSG" },
        { "lone surrogate in text", "{\"id\":\"" + Uuid + "\",\"kind\":\"send\",\"data\":{\"receiver_id\":\"{R}\",\"text\":\"\\ud800\"}}", "EBADMSG" },
        { "lone surrogate in receiver_id", "{\"id\":\"" + Uuid + "\",\"kind\":\"send\",\"data\":{\"receiver_id\":\"\\udc00\",\"text\":\"x\"}}", "EBADMSG" },
        { "lone surrogate in client_id", "{\"client_id\":\"\\ud800\",\"id\":\"" + Uuid + "\",\"kind\":\"registration\",\"data\":null}", "EBADMSG" },
        { "numeric id", "{\"id\":42,\"kind\":\"registration\",\"data\":null}", "EINVAL" },
        { "id is an object", "{\"id\":{},\"kind\":\"registration\",\"data\":null}", "EINVAL" },
        { "send without id", "{\"kind\":\"send\",\"data\":{\"receiver_id\":\"{R}\",\"text\":\"x\"}}", "EINVAL" },
        { "send with null id", "{\"id\":null,\"kind\":\"send\",\"data\":{\"receiver_id\":\"{R}\",\"text\":\"x\"}}", "EINVAL" },
        { "send with a non-UUID id", "{\"id\":\"req-1\",\"kind\":\"send\",\"data\":{\"receiver_id\":\"{R}\",\"text\":\"x\"}}", "EINVAL" },
        { "send with a numeric id", "{\"id\":7,\"kind\":\"send\",\"data\":{\"receiver_id\":\"{R}\",\"text\":\"x\"}}", "EINVAL" },
        { "send to a non-UUID receiver", "{\"id\":\"" + Uuid + "\",\"kind\":\"send\",\"data\":{\"receiver_id\":\"bob\",\"text\":\"x\"}}", "EINVAL" },
        { "send with numeric text", "{\"id\":\"" + Uuid + "\",\"kind\":\"send\",\"data\":{\"receiver_id\":\"{R}\",\"text\":5}}", "EINVAL" },
        { "send with data an array", "{\"id\":\"" + Uuid + "\",\"kind\":\"send\",\"data\":[]}", "EINVAL" },
        { "kind missing", "{\"id\":\"" + Uuid + "\",\"data\":null}", "EINVAL" },
        { "kind numeric", "{\"id\":\"" + Uuid + "\",\"kind\":1,\"data\":null}", "EINVAL" },
        { "unknown kind", "{\"id\":\"" + Uuid + "\",\"kind\":\"dance\",\"data\":null}", "ENOSYS" },
        { "ack without a message id", "{\"id\":\"nope\",\"kind\":\"ack\",\"data\":null}", "EINVAL" },
        { "registration data a string", "{\"id\":\"" + Uuid + "\",\"kind\":\"registration\",\"data\":\"x\"}", "EINVAL" },
        { "resume a non-UUID", "{\"id\":\"" + Uuid + "\",\"kind\":\"registration\",\"data\":{\"client_id\":\"alice\"}}", "EINVAL" },
        { "resume without a secret", "{\"id\":\"" + Uuid + "\",\"kind\":\"registration\",\"data\":{\"client_id\":\"{R}\"}}", "EACCES" },
        { "resume with a wrong secret", "{\"id\":\"" + Uuid + "\",\"kind\":\"registration\",\"data\":{\"client_id\":\"{R}\",\"resume_secret\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}", "EACCES" },
        { "resume with a numeric secret", "{\"id\":\"" + Uuid + "\",\"kind\":\"registration\",\"data\":{\"client_id\":\"{R}\",\"resume_secret\":1}}", "EACCES" },
        { "deep nesting", "{\"id\":\"" + Uuid + "\",\"kind\":\"send\",\"data\":" + new string('[', 200) + new string(']', 200) + "}", "EBADMSG" },
    };

    [Theory]
    [MemberData(nameof(Frames))]
    public async Task HostileFrame_GetsItsError_DeliversNothing_ConnectionStaysUsable_NoErrorLogged(string name, string frame, string code)
    {
        await using var client = await TextoTestClient.ConnectAsync(_host);
        var receiver = Guid.NewGuid().ToString();
        await client.Socket.SendTextAsync(frame.Replace("{R}", receiver, StringComparison.Ordinal));
        var error = await client.NextAsync("error");
        Assert.True(code == (string?)error["data"]!["code"], $"{name}: expected {code}, got {error.ToJsonString()}");
        Assert.False(string.IsNullOrEmpty((string?)error["data"]!["description"]), name);

        // Still usable and still itself; nothing reached the receiver.
        var who = await client.SendFrameAsync("registration", null);
        var connection = await client.NextAsync("connection");
        Assert.Equal(who, (string?)connection["id"]);
        Assert.Equal(client.Id, (string?)connection["data"]!["client_id"]);
        Assert.Equal(0, (int)JsonNode.Parse(await _host.Http.GetStringAsync($"/v1/clients/{receiver}/inbox/count"))!["count"]!);
        Assert.Empty(_host.LoggedErrors);
    }

    [Fact]
    public async Task TextFrameThatIsNotUtf8_FailsTheConnectionWith1007_WithoutAnErrorLog()
    {
        await using var client = await TextoTestClient.ConnectAsync(_host);
        await client.Socket.SendTextBytesAsync([.. "{\"kind\":\""u8, 0xc3, 0x28, .. "\"}"u8]);
        await client.Socket.Closed.Task.WaitAsync(Eventually.DefaultTimeout);
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, client.Socket.CloseStatus);
        Assert.Empty(_host.LoggedErrors);
    }

    [Fact]
    public async Task ConnectionFrame_CarriesAResumeSecret_ThatOnlyItsOwnIdentityAccepts()
    {
        await using var a = await TextoTestClient.ConnectAsync(_host);
        await using var b = await TextoTestClient.ConnectAsync(_host);
        Assert.False(string.IsNullOrEmpty(a.ResumeSecret));
        Assert.NotEqual(a.ResumeSecret, b.ResumeSecret);

        // b's secret does not open a.
        await b.ResumeAsync(a.Id, b.ResumeSecret);
        Assert.Equal("EACCES", (string?)(await b.NextAsync("error"))["data"]!["code"]);
    }

    [Fact]
    public async Task Hijack_WithTheVictimsIdButNoSecret_IsRefused_AndTheVictimKeepsItsLetters()
    {
        await using var victim = await TextoTestClient.ConnectAsync(_host);
        await using var sender = await TextoTestClient.ConnectAsync(_host);
        await using var mallory = await TextoTestClient.ConnectAsync(_host);

        // Mallory learnt the victim's id (say, as the sender_id of a receive) but not its secret.
        var request = await mallory.ResumeAsync(victim.Id, null);
        var refused = await mallory.NextAsync("error");
        Assert.Equal(request, (string?)refused["id"]);
        Assert.Equal("EACCES", (string?)refused["data"]!["code"]);
        Assert.Equal(mallory.Id, (string?)refused["client_id"]);

        await sender.SendAsync(victim.Id, "for the victim only");
        await sender.NextAsync("ack");
        Assert.Equal("for the victim only", (string?)(await victim.NextAsync("receive"))["data"]!["text"]);
        await mallory.SendFrameAsync("registration", null);
        await mallory.NextAsync("connection");
        Assert.DoesNotContain(mallory.Socket.AllFrames, f => (string?)f["kind"] == "receive");
    }

    [Fact]
    public async Task Resume_WithTheSecret_StillWorks_AndAnUppercaseIdNamesTheSameIdentity()
    {
        await using var sender = await TextoTestClient.ConnectAsync(_host);
        var away = await TextoTestClient.ConnectAsync(_host);
        var (id, secret) = (away.Id, away.ResumeSecret);
        await away.DisposeAsync();

        await sender.SendAsync(id.ToUpperInvariant(), "while away");
        await sender.NextAsync("ack");
        await using var back = await TextoTestClient.ConnectAsync(_host);
        await back.ResumeAndWaitAsync(id, secret);
        Assert.Equal("while away", (string?)(await back.NextAsync("receive"))["data"]!["text"]);
    }

    [Fact]
    public async Task LetterWithALoneSurrogateString_IsPassedEscaped_NotAFault()
    {
        await using var recipient = await TextoTestClient.ConnectAsync(_host);
        // Legal JSON text that is no .NET string: REST and the core may hold such a payload.
        await Engine.Letters.SendAsync(_host.Get<TenantResolver>().Default, ClientId.Parse("rest-user"), [ClientId.Parse(recipient.Id)], "\"a\\ud800b\""u8.ToArray());
        var receive = await recipient.NextAsync("receive");
        var raw = recipient.Socket.RawFrames.Single(f => f.Contains("\"receive\"", StringComparison.Ordinal));
        Assert.Contains("\"text\":\"a\\ud800b\"", raw, StringComparison.Ordinal);
        await recipient.AckAsync((string)receive["id"]!);

        // The session goes on.
        await recipient.SendFrameAsync("registration", null);
        await recipient.NextAsync("connection");
        Assert.Equal(0, Metrics.UnencodableCount);
    }

    [Fact]
    public async Task LetterThatIsNotUtf8_IsAServerFault_LoggedCountedAndClosedWith1011_NeverAHang()
    {
        _host.ExpectErrors = true;
        await using var recipient = await TextoTestClient.ConnectAsync(_host);
        byte[] poison = [(byte)'"', 0xff, (byte)'"'];
        await Engine.Letters.SendAsync(_host.Get<TenantResolver>().Default, ClientId.Parse("rest-user"), [ClientId.Parse(recipient.Id)], poison);

        await recipient.Socket.Closed.Task.WaitAsync(Eventually.DefaultTimeout);
        Assert.Equal(WebSocketCloseStatus.InternalServerError, recipient.Socket.CloseStatus);
        Assert.False(string.IsNullOrEmpty(recipient.Socket.CloseDescription));
        Assert.Equal(1, Metrics.UnencodableCount);
        await Eventually.True(() => Metrics.ClosedCount(texto: true, SessionEnd.ServerError) == 1, "the close is counted");
        Assert.Contains(_host.LoggedErrors, e => e.Contains("could not encode", StringComparison.Ordinal));
        await Eventually.True(() => Engine.ConnectionCount == 0, "the session ended and left the core");
    }

    [Fact]
    public async Task NormalCloses_AreCounted()
    {
        var before = Metrics.ClosedCount(texto: true, SessionEnd.Normal);
        for (var i = 0; i < 10; i++)
        {
            var c = await TextoTestClient.ConnectAsync(_host);
            await c.Socket.CloseAsync();
            await c.DisposeAsync();
        }

        await Eventually.True(() => Metrics.ClosedCount(texto: true, SessionEnd.Normal) >= before + 10, "every normal close is counted");
    }

    [Fact]
    public async Task JsonApiLetterThatIsNotUtf8_IsAServerFault_ClosedWith1011()
    {
        _host.ExpectErrors = true;
        var bob = Unique.Name("bob");
        await using var client = await WsTestClient.HelloAsync(_host, bob);
        await Engine.Letters.SendAsync(_host.Get<TenantResolver>().Default, ClientId.Parse("rest-user"), [ClientId.Parse(bob)], new byte[] { (byte)'"', 0xc0, (byte)'"' });
        await client.Closed.Task.WaitAsync(Eventually.DefaultTimeout);
        Assert.Equal(WebSocketCloseStatus.InternalServerError, client.CloseStatus);
        Assert.Equal(1, Metrics.UnencodableCount);
    }
}
