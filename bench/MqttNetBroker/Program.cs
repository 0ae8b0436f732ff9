using System.Net;
using MQTTnet.Server;

// MQTTnet.Server 5.2 as a plain broker for bench/run-mqtt.sh: `MqttNetBroker <port> [max pending messages per client]`.
// Prints "listening <port>" once it accepts connections, runs until SIGTERM / Ctrl+C.
var port = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1883;
var pending = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 250_000;
var options = new MqttServerOptionsBuilder()
    .WithDefaultEndpoint()
    .WithDefaultEndpointBoundIPAddress(IPAddress.Loopback)
    .WithDefaultEndpointPort(port)
    .WithMaxPendingMessagesPerClient(pending)
    .Build();
using var server = new MqttServerFactory().CreateMqttServer(options);
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();
await server.StartAsync();
Console.WriteLine($"listening {port}");
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}

await server.StopAsync();
