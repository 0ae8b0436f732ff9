using Daakia.LoadTest;

// dotnet run -c Release --project bench/Daakia.LoadTest -- <scenario> [--key value …]
// Scenarios: ws-direct, rabbit-direct, ws-idle, fsync. See bench/README.md.
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: Daakia.LoadTest <ws-direct|rabbit-direct|ws-idle|fsync> [--key value …]");
    return 2;
}

var options = Args.Parse(args.AsSpan(1));
return args[0] switch
{
    "ws-direct" => await WsDirectScenario.RunAsync(options),
    "rabbit-direct" => await RabbitDirectScenario.RunAsync(options),
    "ws-idle" => await WsIdleScenario.RunAsync(options),
    "fsync" => FsyncScenario.Run(options),
    _ => throw new ArgumentException($"unknown scenario '{args[0]}'"),
};
