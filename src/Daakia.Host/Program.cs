using System.CommandLine;
using Daakia.Host;

// Inline socket completions pair with Kestrel's inline scheduling (Daakia:InlineIo, on by default). The runtime reads
// this variable when the first socket is created, so it is set before anything else runs.
if (!string.Equals(Environment.GetEnvironmentVariable("DAAKIA_InlineIo") ?? Environment.GetEnvironmentVariable("DAAKIA_INLINEIO"), "false", StringComparison.OrdinalIgnoreCase)
    && Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

// `daakia serve [--http-port N] [--mqtt-port N] [--data-dir PATH] [--bind ADDR]`: flags win over DAAKIA_ environment
// variables, which win over appsettings.json.
var httpPort = new Option<int>("--http-port") { Description = "HTTP + WebSocket port (default 8398; 0 picks a free port)." };
var mqttPort = new Option<int>("--mqtt-port") { Description = "MQTT port (default 1883; 0 picks a free one; MQTT 3.1.1 and 5.0 over TCP)." };
var dataDir = new Option<string>("--data-dir") { Description = "Data directory of the embedded store (default ./daakia-data)." };
var bind = new Option<string>("--bind") { Description = "Address to bind (default 127.0.0.1)." };
var durability = new Option<string>("--durability") { Description = "fsync (default: survives power loss) or os (survives a process crash)." };

var storage = new Option<string>("--storage") { Description = "sqlite (default) or journal: the embedded store's engine." };

var serve = new Command("serve", "Run the Daakia server.") { httpPort, mqttPort, dataDir, bind, durability, storage };
serve.SetAction(async (parse, cancellationToken) =>
{
    var overrides = new List<KeyValuePair<string, string?>>();
    var origins = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
    void Flag<T>(Option<T> option, string key)
    {
        if (parse.GetResult(option) is not null)
        {
            overrides.Add(new($"{DaakiaHostBuilder.Section}:{key}", parse.GetValue(option)?.ToString()));
            origins[$"{DaakiaHostBuilder.Section}:{key}"] = option.Name;
        }
    }

    Flag(httpPort, "HttpPort");
    Flag(mqttPort, "MqttPort");
    Flag(dataDir, "DataDir");
    Flag(bind, "Bind");
    Flag(durability, "Durability");
    Flag(storage, "Storage");
    WebApplication app;
    try
    {
        app = DaakiaHostBuilder.Build(overrides, Directory.GetCurrentDirectory(), overrideOrigins: origins);
    }
    catch (DaakiaConfigurationException ex)
    {
        // A bad value is the operator's to fix, not a crash: the problems, no stack trace, and EX_CONFIG (sysexits.h)
        // so a service manager can tell it from a failure worth restarting for.
        await Console.Error.WriteLineAsync(ex.Message);
        return ExitCodes.Configuration;
    }

    await using (app)
    {
        await app.RunAsync(cancellationToken);
    }

    return 0;
});

var root = new RootCommand("Daakia: a multi-tenant messaging server (MQTT 3.1.1 and 5.0, WebSocket JSON API, texto, REST).") { serve };
// The generic host handles SIGTERM/Ctrl+C itself (drain, then exit 0); System.CommandLine must not race it.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
