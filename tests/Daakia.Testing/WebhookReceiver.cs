using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Daakia.Testing;

/// <summary>
/// A real webhook receiver: Kestrel on a loopback port of its own, recording every POST (path, headers, body) and
/// answering with what <see cref="Answer"/> says (200 by default).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private WebhookReceiver(WebApplication app, Uri baseUri)
    {
        _app = app;
        BaseUri = baseUri;
    }

    public Uri BaseUri { get; }

    public ConcurrentQueue<Received> Requests { get; } = new();

    /// <summary>The status to answer a request with (called per request, after it is recorded).</summary>
    public Func<Received, HttpStatusCode> Answer { get; set; } = _ => HttpStatusCode.OK;

    public Uri Url(string path) => new(BaseUri, path);

    public sealed record Received(string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body)
    {
        public string Text => System.Text.Encoding.UTF8.GetString(Body);

        public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;
    }

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        WebhookReceiver? self = null;
        app.Run(async http =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body);
            var headers = http.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            var received = new Received(http.Request.Path + http.Request.QueryString, headers, body.ToArray());
            self!.Requests.Enqueue(received);
            http.Response.StatusCode = (int)self.Answer(received);
        });
        await app.StartAsync();
        var address = app.Urls.First();
        self = new WebhookReceiver(app, new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal)));
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
