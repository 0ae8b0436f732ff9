using Daakia.LoadTest;

// dotnet run -c Release --project bench/Daakia.LoadTest -- <scenario> [--key value …]
// Scenarios: ws-direct, texto-direct, rabbit-direct, nats-direct, fanout-durable, rabbit-fanout, texto-stress,
// ws-idle, texto-idle, fsync, mqtt-fanin, mqtt-fanout, mqtt-idle, mqtt-sessions, queue (Zaqar v2 REST), tasks, rabbit-tasks, mqtt-tasks. Exits non-zero when a throughput scenario loses, duplicates or reorders a message, or a
// send fails.
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: Daakia.LoadTest <ws-direct|texto-direct|rabbit-direct|nats-direct|fanout-durable|rabbit-fanout|texto-stress|ws-idle|texto-idle|fsync|mqtt-fanin|mqtt-fanout|mqtt-idle|mqtt-sessions|queue|tasks|rabbit-tasks|mqtt-tasks> [--key value …]");
    return 2;
}

var options = Args.Parse(args.AsSpan(1));
return args[0] switch
{
    "ws-direct" => await DirectScenario.RunAsync(options, JsonApiWire.Instance),
    "texto-direct" => await DirectScenario.RunAsync(options, TextoWire.Instance),
    "rabbit-direct" => await RabbitDirectScenario.RunAsync(options),
    "nats-direct" => await NatsDirectScenario.RunAsync(options),
    "fanout-durable" => await FanoutScenario.RunAsync(options),
    "rabbit-fanout" => await RabbitFanoutScenario.RunAsync(options),
    "texto-stress" => await TextoStressScenario.RunAsync(options),
    "ws-idle" => await WsIdleScenario.RunAsync(options),
    "texto-idle" => await WsIdleScenario.RunAsync(options, texto: true),
    "fsync" => FsyncScenario.Run(options),
    "mqtt-fanin" => await MqttFanInScenario.RunAsync(options),
    "mqtt-idle" => await MqttIdleScenario.RunAsync(options),
    "mqtt-fanout" => await MqttFanOutScenario.RunAsync(options),
    "mqtt-sessions" => await MqttSessionsScenario.RunAsync(options),
    "queue" => await ZaqarQueueScenario.RunAsync(options),
    "tasks" => await TasksScenario.RunAsync(options),
    "rabbit-tasks" => await RabbitTasksScenario.RunAsync(options),
    "mqtt-tasks" => await MqttTasksScenario.RunAsync(options),
    _ => throw new ArgumentException($"unknown scenario '{args[0]}'"),
};
