using System.Net;
using Daakia.Core;
using Daakia.Core.Storage;
using Daakia.Server;
using Daakia.Server.Hosting;
using Daakia.Storage.Journal;
using Daakia.Storage.Sqlite;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace Daakia.Host;

/// <summary>
/// Composes the <c>daakia</c> process: configuration (appsettings.json, <c>DAAKIA_</c> environment variables, flags),
/// Kestrel listeners, the SQLite store, the core and the adapters. Tests start the same composition on port 0.
/// </summary>
public static partial class DaakiaHostBuilder
{
    public const string Section = "Daakia";

    private const int IpProtoTcp = 6; // IPPROTO_TCP
    private const int TcpMaxSeg = 2; // TCP_MAXSEG (Linux)

    /// <summary>Prefix of the environment variables read into the <c>Daakia</c> section.</summary>
    public const string EnvironmentPrefix = "DAAKIA_";

    /// <summary>
    /// Builds the application. <paramref name="overrides"/> are configuration keys (e.g. <c>Daakia:HttpPort</c>) that win
    /// over every other source; <paramref name="overrideOrigins"/> names where each came from (e.g. <c>--http-port</c>)
    /// for messages about bad values. Throws <see cref="DaakiaConfigurationException"/> when any setting is invalid.
    /// </summary>
    public static WebApplication Build(
        IEnumerable<KeyValuePair<string, string?>>? overrides = null,
        string? contentRoot = null,
        Action<WebApplicationBuilder>? customize = null,
        IReadOnlyDictionary<string, string>? overrideOrigins = null)
    {
        // appsettings.json is read next to the executable, then from the working directory (which wins).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        if (contentRoot is not null && Path.GetFullPath(contentRoot) != Path.GetFullPath(AppContext.BaseDirectory))
        {
            builder.Configuration.AddJsonFile(Path.Combine(contentRoot, "appsettings.json"), optional: true);
        }

        // DAAKIA_HttpPort, DAAKIA_Core__MaxRecipients … map into the Daakia section (.NET's `__` nesting convention).
        var environment = EnvironmentSettings();
        builder.Configuration.AddInMemoryCollection(environment.Select(e => new KeyValuePair<string, string?>(e.Key, e.Value.Value)));
        var overrideList = overrides?.ToList() ?? [];
        builder.Configuration.AddInMemoryCollection(overrideList);

        var overridden = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, _) in overrideList)
        {
            overridden[key] = overrideOrigins?.GetValueOrDefault(key) ?? "override";
        }

        var origins = new ConfigurationOrigins(
            builder.Configuration,
            overridden,
            environment.ToDictionary(e => e.Key, e => e.Value.Name, StringComparer.OrdinalIgnoreCase));
        var configuration = DaakiaConfiguration.Read(builder.Configuration, origins.Describe);
        var (settings, serverOptions, coreOptions, storeOptions, journalOptions, bind) = configuration;

        builder.Logging.ClearProviders();
        if (settings.LogFormat.Equals("json", StringComparison.OrdinalIgnoreCase))
        {
            builder.Logging.AddJsonConsole(o => o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z' ");
        }
        else
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
                o.UseUtcTimestamp = true;
            });
        }

        builder.WebHost.ConfigureKestrel(k =>
        {
            // The one HTTP listener, plain HTTP/1.1 (and HTTP/2 with prior knowledge): its plain WebSocket upgrades
            // are taken below ASP.NET Core's HTTP layer unless turned off.
            k.Listen(bind, settings.HttpPort, listen =>
            {
                if (settings.DirectUpgrades)
                {
                    listen.UseDaakiaDirectUpgrades();
                }
            });
            // MQTT over TCP (3.1.1 and 5.0), after the HTTP listener: BoundAddresses lists HTTP first, then MQTT.
            k.Listen(bind, settings.MqttPort, listen => listen.UseDaakiaMqtt());
            k.Limits.MaxRequestBodySize = serverOptions.MaxRequestBodyBytes;
            k.AddServerHeader = false;
        });
        // Protocol code runs on the socket I/O threads instead of hopping to the thread pool per read: measured
        // ~25% more durable messages/s on 2 cores (docs/benchmarks.md). Safe because nothing in the adapters blocks:
        // store writes complete on the store's own thread and store reads yield before touching disk.
        builder.WebHost.UseSockets(o =>
        {
            o.UnsafePreferInlineScheduling = settings.InlineIo;
            if (settings.TcpMaxSegmentSize > 0 && OperatingSystem.IsLinux())
            {
                // Kept below small clients' receive windows, which would otherwise stall (Daakia:TcpMaxSegmentSize).
                o.CreateBoundListenSocket = endpoint =>
                {
                    var socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
                    if (endpoint is IPEndPoint)
                    {
                        socket.SetRawSocketOption(IpProtoTcp, TcpMaxSeg, BitConverter.GetBytes(settings.TcpMaxSegmentSize));
                    }

                    return socket;
                };
            }
        });

        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(storeOptions);
        if (configuration.UsesJournal)
        {
            builder.Services.AddSingleton<IDaakiaStore>(sp => new JournalStore(journalOptions, sp.GetRequiredService<ILogger<JournalStore>>()));
        }
        else
        {
            builder.Services.AddSingleton<IDaakiaStore>(sp => new SqliteStore(storeOptions, sp.GetRequiredService<ILogger<SqliteStore>>()));
        }
        builder.Services.AddDaakiaServer(serverOptions, coreOptions);
        customize?.Invoke(builder);

        var app = builder.Build();
        app.MapDaakia();
        var lifetime = app.Lifetime;
        lifetime.ApplicationStarted.Register(() => Announce(app, settings, storeOptions, serverOptions));
        return app;
    }

    // The DAAKIA_ variables as configuration keys (prefix dropped, `__` → `:`), with the variable's own name.
    private static Dictionary<string, (string Name, string Value)> EnvironmentSettings()
    {
        var settings = new Dictionary<string, (string, string)>(StringComparer.OrdinalIgnoreCase);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            if (e.Key is string name && e.Value is string value && name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
            {
                settings[$"{Section}:{name[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal)}"] = (name, value);
            }
        }

        return settings;
    }

    /// <summary>The addresses Kestrel bound (after start).</summary>
    public static IReadOnlyList<string> BoundAddresses(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];

    private static void Announce(WebApplication app, DaakiaHostSettings settings, SqliteStoreOptions store, DaakiaServerOptions server)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Daakia");
        var addresses = BoundAddresses(app);
        var http = addresses.Count > 0 ? addresses[0] : "";
        var mqtt = addresses.Count > 1 ? "mqtt://" + new Uri(addresses[1]).Authority : "";
        LogListening(logger, http, mqtt, store.DataDirectory, settings.Storage.ToLowerInvariant(), store.Durability.ToString().ToLowerInvariant());
        var tenants = server.OpenTenants.Count > 0 ? string.Join(", ", server.OpenTenants) : TenantId.Default.Value;
        LogOpenTenant(logger, tenants, settings.Bind);
    }

    [LoggerMessage(1, LogLevel.Information, "Daakia listening: http={Http} (REST /v1, WebSocket /v1/ws and /v1/texto, /healthz, /metrics, /openapi/v1.json), mqtt={Mqtt} (MQTT 3.1.1 and 5.0); data={DataDir} storage={Storage} durability={Durability}", EventName = "Listening")]
    private static partial void LogListening(ILogger logger, string http, string mqtt, string dataDir, string storage, string durability);

    [LoggerMessage(2, LogLevel.Warning, "*** OPEN DEVELOPMENT TENANT '{Tenants}': no credentials, any client may connect and claim any client id. Bound to {Bind} only. Do not expose this to a network. ***", EventName = "OpenTenant")]
    private static partial void LogOpenTenant(ILogger logger, string tenants, string bind);
}
