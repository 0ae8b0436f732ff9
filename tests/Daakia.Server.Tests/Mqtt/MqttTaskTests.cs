using System.Text;
using System.Text.Json.Nodes;
using Daakia.Testing;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Daakia.Server.Tests.Mqtt;

/// <summary>Services, workers and tasks over MQTT: requests on <c>$tasks/{operation}</c>, answers, assignments and
/// cancels on <c>$tasks/{client}/…</c> or the MQTT 5 response topic (docs/protocols/mqtt.md, tasks).</summary>
public sealed class MqttTaskTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;

    public async Task InitializeAsync() => _host = await DaakiaTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static async Task<MqttClientPublishResult> RequestAsync(MqttTestClient client, string operation, JsonObject body, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce) =>
        await client.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("$tasks/" + operation).WithPayload(body.ToJsonString()).WithQualityOfServiceLevel(qos).Build());

    /// <summary>The next message on <paramref name="topic"/> whose JSON matches, taken out of what the client received.</summary>
    private static async Task<JsonObject> NextAsync(MqttTestClient client, string topic, Func<JsonObject, bool>? match = null)
    {
        JsonObject? found = null;
        await Eventually.True(() =>
        {
            foreach (var m in client.Received)
            {
                if (m.Topic == topic && JsonNode.Parse(Encoding.UTF8.GetString(m.Payload))!.AsObject() is var o && (match?.Invoke(o) ?? true) && !Taken.Contains(m))
                {
                    Taken.Add(m);
                    found = o;
                    return true;
                }
            }

            return false;
        }, $"a message on {topic}");
        return found!;
    }

    private static readonly HashSet<MqttApplicationMessage> Taken = new(ReferenceEqualityComparer.Instance);

    private static async Task<JsonObject> ReplyAsync(MqttTestClient client, string clientId, object id) =>
        await NextAsync(client, $"$tasks/{clientId}/reply", o => o["id"]?.ToJsonString() == JsonValue.Create(id)!.ToJsonString());

    private async Task<MqttTestClient> WorkerAsync(string name, MqttProtocolVersion version, int capacity = 1)
    {
        var worker = await MqttTestClient.ConnectAsync(_host, name, version);
        await worker.SubscribeAsync($"$tasks/{name}/#");
        var result = await RequestAsync(worker, "register", new JsonObject { ["id"] = 1, ["services"] = new JsonArray("resize"), ["capacity"] = capacity });
        Assert.True(result.IsSuccess, $"PUBACK {result.ReasonCode}");
        var reply = await ReplyAsync(worker, name, 1);
        Assert.Equal("ack", (string?)reply["type"]);
        Assert.Equal(capacity, (int)reply["capacity"]!);
        return worker;
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task AnMqttWorkerAndSubmitter_RunATask_TheResultIsALetterAndQueryable(MqttProtocolVersion version)
    {
        await using var worker = await WorkerAsync("worker-1", version, capacity: 2);
        await using var alice = await MqttTestClient.ConnectAsync(_host, "alice", version);
        await alice.SubscribeAsync("$tasks/alice/#");
        await alice.SubscribeAsync("$inbox/#");

        await RequestAsync(alice, "services", new JsonObject { ["id"] = "s" });
        var services = await ReplyAsync(alice, "alice", "s");
        Assert.Equal(1, (int)services["services"]![0]!["workers"]!);

        Assert.True((await RequestAsync(alice, "submit", new JsonObject { ["id"] = 7, ["service"] = "resize", ["payload"] = new JsonObject { ["w"] = 640 }, ["priority"] = 1 })).IsSuccess);
        var submitted = await ReplyAsync(alice, "alice", 7);
        var id = (string)submitted["task_id"]!;

        var assigned = await NextAsync(worker, "$tasks/worker-1/assigned");
        Assert.Equal(("task_assigned", id, "alice", 640), ((string?)assigned["type"], (string?)assigned["task_id"], (string?)assigned["submitter"], (int)assigned["payload"]!["w"]!));
        await RequestAsync(worker, "progress", new JsonObject { ["id"] = 2, ["task_id"] = id, ["progress"] = 0.5 });
        Assert.Equal("ack", (string?)(await ReplyAsync(worker, "worker-1", 2))["type"]);
        await RequestAsync(worker, "complete", new JsonObject { ["id"] = 3, ["task_id"] = id, ["result"] = new JsonObject { ["url"] = "/out.png" } });
        Assert.Equal("succeeded", (string?)(await ReplyAsync(worker, "worker-1", 3))["task"]!["state"]);

        var letter = await NextAsync(alice, "$inbox/worker-1");
        Assert.Equal("/out.png", (string?)letter["url"]);
        await RequestAsync(alice, "get", new JsonObject { ["id"] = 8, ["task_id"] = id });
        var task = (await ReplyAsync(alice, "alice", 8))["task"]!;
        Assert.Equal(("succeeded", "worker-1", "/out.png"), ((string?)task["state"], (string?)task["worker"], (string?)task["result"]!["url"]));
    }

    [Fact]
    public async Task Mqtt5_ResponseTopicAndCorrelationData_CarryTheAnswer_AndThePubAckSaysHowItWent()
    {
        await using var worker = await WorkerAsync("worker-2", MqttProtocolVersion.V500);
        await using var bob = await MqttTestClient.ConnectAsync(_host, "bob");
        await bob.SubscribeAsync("replies/bob");

        var correlation = new byte[] { 0, 1, 2, 250 };
        var ok = await bob.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("$tasks/submit")
            .WithPayload("""{"service":"resize","payload":{"w":1}}""").WithResponseTopic("replies/bob").WithCorrelationData(correlation)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.Equal(MqttClientPublishReasonCode.Success, ok.ReasonCode);
        await Eventually.True(() => bob.Received.Any(m => m.Topic == "replies/bob"), "the answer on the response topic");
        var answer = bob.Received.First(m => m.Topic == "replies/bob");
        Assert.Equal(correlation, answer.CorrelationData);
        Assert.Equal("application/json", answer.ContentType);
        var id = (string)JsonNode.Parse(Encoding.UTF8.GetString(answer.Payload))!["task_id"]!;
        Assert.Equal(id, (string?)(await NextAsync(worker, "$tasks/worker-2/assigned"))["task_id"]);

        async Task<MqttClientPublishReasonCode> Code(string operation, string payload) =>
            (await bob.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("$tasks/" + operation).WithPayload(payload)
                .WithResponseTopic("replies/bob").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build())).ReasonCode;

        Assert.Equal(MqttClientPublishReasonCode.ImplementationSpecificError, await Code("submit", """{"service":"nobody-offers","payload":1}"""));
        Assert.Equal(MqttClientPublishReasonCode.PayloadFormatInvalid, await Code("submit", "not json"));
        Assert.Equal(MqttClientPublishReasonCode.PayloadFormatInvalid, await Code("submit", """{"service":"resize","payload":1,"priority":9}"""));
        Assert.Equal(MqttClientPublishReasonCode.ImplementationSpecificError, await Code("frobnicate", "{}"));
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, await Code("complete", $$"""{"task_id":"{{id}}","result":1}""")); // bob is not its worker
        await Eventually.True(() => bob.Received.Count(m => m.Topic == "replies/bob") >= 6, "an answer for each request");
        var errors = bob.Received.Where(m => m.Topic == "replies/bob").Skip(1).Select(m => JsonNode.Parse(Encoding.UTF8.GetString(m.Payload))!).ToList();
        Assert.All(errors, e => Assert.Equal("error", (string?)e["type"]));
        Assert.All(bob.Received.Where(m => m.Topic == "replies/bob").Skip(1), m => Assert.Null(m.CorrelationData)); // none asked, none sent
        Assert.Equal(["not_found", "invalid_json", "invalid_argument", "not_found", "forbidden"], errors.Select(e => (string)e["code"]!));
        // An escaped lone surrogate is refused as at the WebSocket API's edge: stored payloads are Unicode text.
        Assert.Equal(MqttClientPublishReasonCode.PayloadFormatInvalid, await Code("submit", """{"service":"resize","payload":"\ud800"}"""));
        Assert.Equal("assigned", (string?)(await _host.Http.GetFromJsonNodeAsync($"/v1/tasks/{id}"))["state"]);

        // At QoS 2 the PUBREC carries the operation's reason (read here by mosquitto_pub, which names it; MQTTnet reports
        // any failed PUBREC as unspecified), and a refused request ends its flow.
        async Task<string> MosquittoPub(string payload)
        {
            var info = new System.Diagnostics.ProcessStartInfo("mosquitto_pub") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "-h", "127.0.0.1", "-p", _host.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-V", "mqttv5", "-q", "2", "-t", "$tasks/submit", "-m", payload })
            {
                info.ArgumentList.Add(a);
            }

            using var pub = System.Diagnostics.Process.Start(info)!;
            var output = pub.StandardError.ReadToEndAsync();
            await pub.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            return await output + await pub.StandardOutput.ReadToEndAsync();
        }

        Assert.Contains("Payload format invalid", await MosquittoPub("not json"), StringComparison.Ordinal);
        Assert.Contains("Implementation specific error", await MosquittoPub("""{"service":"nobody-offers","payload":1}"""), StringComparison.Ordinal);
        Assert.DoesNotContain("failed", await MosquittoPub("""{"service":"resize","payload":{"w":2}}"""), StringComparison.Ordinal);
        async Task<MqttClientPublishReasonCode> Exactly(string payload) =>
            (await bob.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("$tasks/submit").WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.ExactlyOnce).Build())).ReasonCode;
        Assert.NotEqual(MqttClientPublishReasonCode.Success, await Exactly("not json"));
        Assert.Equal(MqttClientPublishReasonCode.Success, await Exactly("""{"service":"resize","payload":{"w":3}}"""));
        Assert.Equal(2, (await _host.Http.GetFromJsonNodeAsync("/v1/tasks?service=resize&state=queued"))["tasks"]!.AsArray().Count); // behind the first (capacity 1)

        // On the wire: a refused QoS 2 request's id is free at once. Its PUBREL finds nothing (PUBCOMP 0x92), and the
        // same id again is a new request that runs (not answered as a resend of the refused one).
        await using var raw = await RawMqttSocket.ConnectAsync(_host);
        await raw.SendAsync(RawMqttSocket.Connect("raw-bob", level: 5));
        Assert.Equal(0, (await raw.ReadPacketAsync(2))[1]); // CONNACK: accepted
        static byte Reason(byte[] ack) => ack.Length > 2 ? ack[2] : (byte)0;
        await raw.SendAsync(RawMqttSocket.Publish5("$tasks/submit", 7, 2, "not json"));
        var rec = await raw.ReadPacketAsync(5);
        Assert.Equal((0, 7, 0x99), (rec[0], rec[1], Reason(rec))); // PUBREC: payload format invalid
        await raw.SendAsync(0x62, 2, 0, 7); // PUBREL 7
        Assert.Equal(0x92, Reason(await raw.ReadPacketAsync(7))); // PUBCOMP: packet identifier not found
        await raw.SendAsync(RawMqttSocket.Publish5("$tasks/submit", 7, 2, """{"service":"resize","payload":{"w":4}}"""));
        Assert.Equal(0, Reason(await raw.ReadPacketAsync(5)));
        await raw.SendAsync(0x62, 2, 0, 7);
        Assert.Equal(0, Reason(await raw.ReadPacketAsync(7)));
        Assert.Equal(3, (await _host.Http.GetFromJsonNodeAsync("/v1/tasks?service=resize&state=queued"))["tasks"]!.AsArray().Count);
    }

    [Fact]
    public async Task CancelFromTheWebSocketApi_ReachesTheMqttWorker_AndALostMqttWorkersTaskGoesToAnother()
    {
        var first = await WorkerAsync("worker-3", MqttProtocolVersion.V311);
        await using var web = await WsTestClient.HelloAsync(_host, "carol");
        var a = (string)(await web.RequestAsync("task_submit", new { service = "resize", payload = 1 }))["task_id"]!;
        Assert.Equal(a, (string?)(await NextAsync(first, "$tasks/worker-3/assigned"))["task_id"]);
        Assert.Equal("ack", (string?)(await web.RequestAsync("task_cancel", new { task_id = a }))["type"]);
        var cancel = await NextAsync(first, "$tasks/worker-3/cancel");
        Assert.Equal((a, "cancelled"), ((string?)cancel["task_id"], (string?)cancel["reason"]));
        await RequestAsync(first, "complete", new JsonObject { ["id"] = 9, ["task_id"] = a, ["cancelled"] = true });
        Assert.Equal("cancelled", (string?)(await ReplyAsync(first, "worker-3", 9))["task"]!["state"]);

        var b = (string)(await web.RequestAsync("task_submit", new { service = "resize", payload = 2 }))["task_id"]!;
        Assert.Equal(b, (string?)(await NextAsync(first, "$tasks/worker-3/assigned"))["task_id"]);
        first.Client.Dispose(); // the connection drops mid-task, without a DISCONNECT
        await using var second = await WorkerAsync("worker-4", MqttProtocolVersion.V500);
        var again = await NextAsync(second, "$tasks/worker-4/assigned");
        Assert.Equal((b, 2), ((string?)again["task_id"], (int)again["attempt"]!));
        await RequestAsync(second, "complete", new JsonObject { ["id"] = 1, ["task_id"] = b, ["result"] = "done" });
        var cancelled = await web.NextAsync("letter");
        Assert.Equal((a, "cancelled"), ((string?)cancelled["headers"]!["task-id"], (string?)cancelled["headers"]!["task-state"]));
        var letter = await web.NextAsync("letter");
        Assert.Equal(("worker-4", "done", b), ((string?)letter["author"], (string?)letter["payload"], (string?)letter["headers"]!["task-id"]));
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task RegisterNeedsTheTaskTopics_AndAnotherClientsTaskTopicsAreRefused(MqttProtocolVersion version)
    {
        await using var dave = await MqttTestClient.ConnectAsync(_host, "dave", version);
        var refused = await dave.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("$tasks/erin/#", MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True((int)refused.Items.Single().ResultCode >= 0x80, $"SUBACK {refused.Items.Single().ResultCode}");
        var register = await dave.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("$tasks/register").WithPayload("""{"services":["resize"]}""")
            .WithResponseTopic(version == MqttProtocolVersion.V500 ? "replies/dave" : null).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        if (version == MqttProtocolVersion.V500)
        {
            Assert.Equal(MqttClientPublishReasonCode.PayloadFormatInvalid, register.ReasonCode);
        }

        await dave.SubscribeAsync("$tasks/dave/+", MqttQualityOfServiceLevel.ExactlyOnce); // granted 1
        await RequestAsync(dave, "register", new JsonObject { ["id"] = "r", ["services"] = new JsonArray("resize") });
        Assert.Equal("ack", (string?)(await ReplyAsync(dave, "dave", "r"))["type"]);
        var services = JsonNode.Parse(await _host.Http.GetStringAsync("/v1/clients/dave/services"))!;
        Assert.Equal("resize", (string?)services["services"]![0]!["name"]);

        // Unsubscribed from its task topics, the worker is handed nothing: a task submitted now waits.
        await dave.Client.UnsubscribeAsync("$tasks/dave/+");
        using (var submit = new HttpRequestMessage(HttpMethod.Post, "/v1/services/resize/tasks") { Content = new StringContent("""{"payload":1}""", Encoding.UTF8, "application/json") })
        {
            submit.Headers.Add("X-Daakia-Client", "frank");
            using var response = await _host.Http.SendAsync(submit);
            Assert.Equal("queued", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["state"]);
        }

        await dave.SubscribeAsync("$tasks/dave/#");
        Assert.Equal("task_assigned", (string?)(await NextAsync(dave, "$tasks/dave/assigned"))["type"]); // offered again at the next tick
        await RequestAsync(dave, "unregister", new JsonObject { ["id"] = "u" }, MqttQualityOfServiceLevel.AtMostOnce);
        Assert.Equal("ack", (string?)(await ReplyAsync(dave, "dave", "u"))["type"]);
        Assert.Empty(JsonNode.Parse(await _host.Http.GetStringAsync("/v1/clients/dave/services"))!["services"]!.AsArray());
        await Eventually.True(async () => (await _host.Http.GetFromJsonNodeAsync("/v1/activity?kind=worker_unregistered&client=dave"))["entries"]!.AsArray().Count == 1,
            "the activity log records the unregistration");
    }
}

internal static class HttpJson
{
    public static async Task<JsonNode> GetFromJsonNodeAsync(this HttpClient http, string path) => JsonNode.Parse(await http.GetStringAsync(path))!;
}
