using System.Collections.Concurrent;
using Daakia.Host;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Daakia.Testing;

/// <summary>
/// The real <c>daakia</c> composition, in process, on a free loopback port with its own data directory.
/// Disposing it fails the test if the server logged an error the test did not declare as expected.
/// </summary>
public sealed class DaakiaTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ErrorCollector _errors;
    private readonly bool _ownsDirectory;

    private DaakiaTestHost(WebApplication app, ErrorCollector errors, string dataDirectory, bool ownsDirectory)
    {
        _app = app;
        _errors = errors;
        DataDirectory = dataDirectory;
        _ownsDirectory = ownsDirectory;
        var addresses = DaakiaHostBuilder.BoundAddresses(app);
        BaseUri = new Uri(addresses[0].Replace("[::]", "127.0.0.1", StringComparison.Ordinal) + "/");
        MqttPort = new Uri(addresses[1]).Port;
        Http = new HttpClient { BaseAddress = BaseUri, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri BaseUri { get; }

    /// <summary>The MQTT listener's port (on 127.0.0.1).</summary>
    public int MqttPort { get; }

    public HttpClient Http { get; }

    public IServiceProvider Services => _app.Services;

    public string DataDirectory { get; }

    /// <summary>Set by a test that provokes server errors on purpose.</summary>
    public bool ExpectErrors { get; set; }

    public IReadOnlyCollection<string> LoggedErrors => _errors.Errors;

    public Uri WebSocketUri(string path) => new($"ws://{BaseUri.Authority}/{path.TrimStart('/')}");

    /// <summary>
    /// Starts a host; <paramref name="configure"/> may set configuration keys such as <c>Daakia:Core:MaxRecipients</c>,
    /// and <paramref name="customize"/> may replace services (after the host's own registrations).
    /// </summary>
    public static async Task<DaakiaTestHost> StartAsync(Action<Dictionary<string, string?>>? configure = null, string? dataDirectory = null, Action<WebApplicationBuilder>? customize = null)
    {
        var owns = dataDirectory is null;
        var dir = dataDirectory ?? Unique.TempDirectory();
        var settings = new Dictionary<string, string?>
        {
            ["Daakia:HttpPort"] = "0",
            ["Daakia:MqttPort"] = "0",
            ["Daakia:DataDir"] = dir,
            ["Daakia:Bind"] = "127.0.0.1",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        configure?.Invoke(settings);
        var errors = new ErrorCollector();
        var app = DaakiaHostBuilder.Build(settings, AppContext.BaseDirectory, b =>
        {
            b.Logging.AddProvider(errors);
            customize?.Invoke(b);
        });
        await app.StartAsync();
        return new DaakiaTestHost(app, errors, dir, owns);
    }

    public T Get<T>() where T : notnull => _app.Services.GetRequiredService<T>();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (_ownsDirectory)
        {
            try
            {
                Directory.Delete(DataDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        if (!ExpectErrors && !_errors.Errors.IsEmpty)
        {
            throw new InvalidOperationException("The server logged unexpected errors:\n" + string.Join("\n", _errors.Errors));
        }
    }

    private sealed class ErrorCollector : ILoggerProvider
    {
        public ConcurrentQueue<string> Errors { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Collector(categoryName, Errors);

        public void Dispose()
        {
        }

        private sealed class Collector(string category, ConcurrentQueue<string> errors) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (logLevel >= LogLevel.Error)
                {
                    errors.Enqueue($"[{category}] {formatter(state, exception)} {exception}");
                }
            }
        }
    }
}
