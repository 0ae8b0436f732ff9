using System.Text;
using Daakia.Core;
using Daakia.Server.Hosting;
using Daakia.Server.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace Daakia.Server.Tests.Edge;

/// <summary>The edge rules without a socket: origin rules per bind, the options' start-up checks, surrogate escapes.</summary>
public sealed class EdgePolicyTests
{
    private static EdgePolicy Policy(string bound, params string[] origins)
    {
        var options = new DaakiaServerOptions { AllowedOrigins = [.. origins] };
        return new EdgePolicy(new FakeServer(bound), options, NullLoggerFactory.Instance);
    }

    private static HttpRequest Request(string host)
    {
        var http = new DefaultHttpContext();
        http.Request.Scheme = "http";
        http.Request.Host = new HostString(host);
        return http.Request;
    }

    [Theory]
    [InlineData("http://127.0.0.1:8398", "http://localhost:3000", true)]
    [InlineData("http://[::1]:8398", "http://127.0.0.1", true)]
    [InlineData("http://0.0.0.0:8398", "http://localhost:3000", false)]
    [InlineData("http://0.0.0.0:8398", "http://myhost:8398", true)]
    [InlineData("http://0.0.0.0:8398", "http://myhost:8399", false)]
    [InlineData("http://0.0.0.0:8398", "https://chat.example.com", true)]
    [InlineData("http://0.0.0.0:8398", "https://chat.example.com/", true)]
    [InlineData("http://0.0.0.0:8398", "https://evil.example", false)]
    public void Origin_LoopbackOriginsAreTrustedOnlyOnALoopbackBind(string bound, string origin, bool allowed) =>
        Assert.Equal(allowed, Policy(bound, "https://chat.example.com").IsAllowedOrigin(Request("myhost:8398"), origin));

    [Fact]
    public void Hosts_OnAWildcardBind_AreTheInterfaceAddressesAndTheMachineName()
    {
        var policy = Policy("http://0.0.0.0:8398");
        Assert.False(policy.LoopbackOnly);
        Assert.Contains("localhost", policy.AllowedHosts);
        Assert.Contains("127.0.0.1", policy.AllowedHosts);
        Assert.Contains(System.Net.Dns.GetHostName(), policy.AllowedHosts);
        Assert.DoesNotContain("*", policy.AllowedHosts);
    }

    [Theory]
    [InlineData("Daakia:AllowedHosts:0", "example.com:80")]
    [InlineData("Daakia:AllowedHosts:0", "http://example.com")]
    [InlineData("Daakia:AllowedHosts:0", "")]
    [InlineData("Daakia:AllowedOrigins:0", "example.com")]
    [InlineData("Daakia:AllowedOrigins:0", "https://example.com/app")]
    [InlineData("Daakia:AllowedOrigins:0", "ftp://example.com")]
    [InlineData("Daakia:MaxConcurrentReadBytes", "1024")]
    [InlineData("Daakia:MaxConcurrentReadBytes", "1048576")]
    public void Options_ABadEdgeSetting_StopsTheStartNamingIt(string key, string value)
    {
        var options = new DaakiaServerOptions();
        switch (key)
        {
            case "Daakia:AllowedHosts:0":
                options.AllowedHosts = [value];
                break;
            case "Daakia:AllowedOrigins:0":
                options.AllowedOrigins = [value];
                break;
            default:
                options.MaxConcurrentReadBytes = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                break;
        }

        var v = new OptionsValidation("Daakia");
        DaakiaServerOptionsValidator.Validate(options, new DaakiaCoreOptions(), v);
        var failure = Assert.Single(v.Failures);
        Assert.Equal(key, failure.Key);
        Assert.Contains(key, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_GoodEdgeSettings_Pass()
    {
        var options = new DaakiaServerOptions
        {
            AllowedHosts = ["*", "daakia.example.com", "*.example.com", "10.0.0.5", "[::1]"],
            AllowedOrigins = ["*", "null", "https://chat.example.com", "http://localhost:3000/"],
            MaxConcurrentReadBytes = 4L * 1024 * 1024,
        };
        var v = new OptionsValidation("Daakia");
        DaakiaServerOptionsValidator.Validate(options, new DaakiaCoreOptions(), v);
        Assert.Empty(v.Failures);
    }

    [Theory]
    [InlineData("""{"a":"\ud800"}""", true)]
    [InlineData("""{"a":"\uDC00"}""", true)]
    [InlineData("""{"a":"\ud800\u0041"}""", true)]
    [InlineData("""{"a":"\ud800\n"}""", true)]
    [InlineData("""{"a":"x\ud800"}""", true)]
    [InlineData("""{"\udbff":1}""", true)]
    [InlineData("""{"a":"\ud83d\ude00"}""", false)]
    [InlineData("""{"a":"\\ud800"}""", false)]
    [InlineData("""{"a":"\\\ud83d\ude00"}""", false)]
    [InlineData("""{"a":"\u0041\n\t\"\/"}""", false)]
    [InlineData("""{"a":"plain"}""", false)]
    [InlineData("""{"a":"\\\\\ud800"}""", true)]
    [InlineData("""{"a":"\\\\ud800"}""", false)]
    [InlineData("""{"a":"\u00e9\\u"}""", false)]
    [InlineData("""{"a":"\udbff\udfff","b":"\\\udc00"}""", true)]
    public void JsonEscapes_FindLoneSurrogatesOnly(string json, bool lone) =>
        Assert.Equal(lone, JsonEscapes.HasLoneSurrogate(Encoding.UTF8.GetBytes(json)));

    private sealed class FakeServer : IServer
    {
        public FakeServer(string address)
        {
            var addresses = new ServerAddressesFeature();
            addresses.Addresses.Add(address);
            Features.Set<IServerAddressesFeature>(addresses);
        }

        public IFeatureCollection Features { get; } = new FeatureCollection();

        public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken) where TContext : notnull => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void Dispose()
        {
        }
    }
}
