using System.Text;
using Daakia.Server.WebSockets;
using Daakia.Testing;
using static Daakia.Server.Tests.WebSockets.UpgradeWire;

namespace Daakia.Server.Tests.WebSockets;

/// <summary>
/// Upgrade heads the direct path must not take — malformed, ambiguous, past Kestrel's limits — each sent to a server
/// with direct upgrades and to one without: the answers are the same (the status Kestrel or ASP.NET Core gives), the
/// direct path took none of them, and neither server logged an error. Run with the default allowed hosts and with
/// <c>AllowedHosts=*</c> (which lets any well-formed host through).
/// </summary>
public sealed class DirectUpgradeFallThroughTests(DirectUpgradeFallThroughTests.Hosts hosts) : IClassFixture<DirectUpgradeFallThroughTests.Hosts>
{
    public static TheoryData<string, bool> Cases()
    {
        var data = new TheoryData<string, bool>();
        foreach (var name in Heads.Keys)
        {
            data.Add(name, false);
            data.Add(name, true);
        }

        return data;
    }

    // Each case: the head, and the status it must get (null: whatever the server without direct upgrades answers).
    private static readonly Dictionary<string, (Func<string, byte[]> Head, int? Status)> Heads = new()
    {
        ["port not numeric"] = (a => Head(a, host: "127.0.0.1:abc"), 400),
        ["space in host"] = (a => Head(a, host: "127.0.0.1 x"), 400),
        ["empty port"] = (a => Head(a, host: "127.0.0.1:"), 400),
        ["user info in host"] = (a => Head(a, host: "user@" + a), 400),
        ["empty host"] = (a => Head(a, host: ""), null),
        ["underscore in host"] = (a => Head(a, host: "daakia_test"), null),
        ["IPv6 zone"] = (a => Head(a, host: "[fe80::1%25eth0]"), null),
        ["150 headers"] = (a => Head(a, "/v1/ws", null, [.. Enumerable.Range(0, 145).Select(i => $"X-H{i}: v")]), 431),
        ["content-length"] = (a => [.. Head(a, "/v1/ws", null, "Content-Length: 3"), .. "abc"u8.ToArray()], null),
        ["content-length 0"] = (a => Head(a, "/v1/ws", null, "Content-Length: 0"), null),
        ["transfer-encoding"] = (a => [.. Head(a, "/v1/ws", null, "Transfer-Encoding: chunked"), .. "0\r\n\r\n"u8.ToArray()], null),
        ["duplicate host"] = (a => Head(a, "/v1/ws", null, "Host: " + a), 400),
        ["duplicate key"] = (a => Head(a, "/v1/ws", null, "Sec-WebSocket-Key: " + Key), null),
        ["second, different key"] = (a => Head(a, "/v1/ws", null, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA=="), null),
        ["bad key"] = (a => Encoding.ASCII.GetBytes($"GET /v1/ws HTTP/1.1\r\nHost: {a}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: not-a-key\r\n\r\n"), 400),
        ["version 12"] = (a => Encoding.ASCII.GetBytes($"GET /v1/ws HTTP/1.1\r\nHost: {a}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 12\r\nSec-WebSocket-Key: {Key}\r\n\r\n"), 400),
        ["absolute-form target"] = (a => Head(a, $"http://{a}/v1/ws"), null),
        ["obs-fold"] = (a => Head(a, "/v1/ws", null, "X-Folded: one", " two"), 400),
        ["NUL in a value"] = (a => Head(a, "/v1/ws", null, "X-Nul: a\0b"), 400),
        ["HTTP/1.0"] = (a => Encoding.ASCII.GetBytes($"GET /v1/ws HTTP/1.0\r\nHost: {a}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {Key}\r\n\r\n"), null),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task AHeadTheDirectPathMustNotTake_IsAnsweredAsWithoutIt(string name, bool anyHost)
    {
        var (direct, plain) = hosts.For(anyHost);
        var (head, status) = Heads[name];
        var metrics = direct.Get<WebSocketSessionFactory>().Metrics;
        var before = metrics.UpgradeCount(texto: false, direct: true);

        var expected = (await SendAsync(plain, head(plain.BaseUri.Authority))).Status;
        var actual = (await SendAsync(direct, head(direct.BaseUri.Authority))).Status;

        if (status is { } s)
        {
            Assert.Equal(s, expected);
        }

        Assert.Equal(expected, actual);
        Assert.Equal(before, metrics.UpgradeCount(texto: false, direct: true));
        Assert.Empty(direct.LoggedErrors);
        Assert.Empty(plain.LoggedErrors);
    }

    [Fact]
    public async Task AnIdnHost_IsComparedAsAspNetCoreReadsIt()
    {
        // Allowed in punycode; ASP.NET Core reads the Host header as Unicode, so it does not match that entry (421).
        await using var direct = await DaakiaTestHost.StartAsync(c => c["Daakia:AllowedHosts:0"] = "xn--bcher-kva.example");
        await using var plain = await DaakiaTestHost.StartAsync(c =>
        {
            c["Daakia:AllowedHosts:0"] = "xn--bcher-kva.example";
            c["Daakia:DirectUpgrades"] = "false";
        });
        var expected = (await SendAsync(plain, Head(plain.BaseUri.Authority, host: "xn--bcher-kva.example"))).Status;
        var actual = (await SendAsync(direct, Head(direct.BaseUri.Authority, host: "xn--bcher-kva.example"))).Status;
        Assert.Equal(expected, actual);
        Assert.Equal(0, direct.Get<WebSocketSessionFactory>().Metrics.UpgradeCount(texto: false, direct: true));

        // Allowed in Unicode: the punycode head matches it either way, and the direct path takes it.
        await using var unicode = await DaakiaTestHost.StartAsync(c => c["Daakia:AllowedHosts:0"] = "bücher.example");
        Assert.Equal(101, (await SendAsync(unicode, Head(unicode.BaseUri.Authority, host: "xn--bcher-kva.example"))).Status);
        await Eventually.True(() => unicode.Get<WebSocketSessionFactory>().Metrics.UpgradeCount(texto: false, direct: true) == 1, "the upgrade is counted as direct");
    }

    /// <summary>Servers with and without direct upgrades, with the default allowed hosts and with any host allowed.</summary>
    public sealed class Hosts : IAsyncLifetime
    {
        private DaakiaTestHost[] _hosts = [];

        public (DaakiaTestHost Direct, DaakiaTestHost Plain) For(bool anyHost) => anyHost ? (_hosts[2], _hosts[3]) : (_hosts[0], _hosts[1]);

        public async Task InitializeAsync() => _hosts = await Task.WhenAll(
            DaakiaTestHost.StartAsync(),
            DaakiaTestHost.StartAsync(c => c["Daakia:DirectUpgrades"] = "false"),
            DaakiaTestHost.StartAsync(c => c["Daakia:AllowedHosts:0"] = "*"),
            DaakiaTestHost.StartAsync(c =>
            {
                c["Daakia:AllowedHosts:0"] = "*";
                c["Daakia:DirectUpgrades"] = "false";
            }));

        public async Task DisposeAsync()
        {
            foreach (var host in _hosts)
            {
                await host.DisposeAsync();
            }
        }
    }
}
