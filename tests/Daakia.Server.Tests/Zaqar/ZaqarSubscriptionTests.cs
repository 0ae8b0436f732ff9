using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Daakia.Server.Notifications;
using Daakia.Testing;

namespace Daakia.Server.Tests.Zaqar;

/// <summary>
/// Zaqar subscriptions over real HTTP and WebSocket, notified to a real webhook receiver (Kestrel on its own port):
/// Zaqar's endpoints and errors, the notification's body and Daakia's signature and delivery id, post_headers and
/// post_data, retries after a 503, giving up on a 410, the SSRF rules, confirmation through the pre-signed URL the
/// confirmation request carries, and WebSocket subscribers notified with bare frames.
/// </summary>
public sealed class ZaqarSubscriptionTests : IAsyncLifetime
{
    private DaakiaTestHost _host = null!;
    private WebhookReceiver _receiver = null!;
    private static readonly string Me = Guid.NewGuid().ToString();

    public async Task InitializeAsync()
    {
        _receiver = await WebhookReceiver.StartAsync();
        _host = await DaakiaTestHost.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _receiver.DisposeAsync();
    }

    private static async Task<(HttpStatusCode Status, JsonNode? Body, HttpResponseMessage Response)> SendAsync(DaakiaTestHost host, HttpMethod method, string path, string? json = null, string project = "p1", Action<HttpRequestMessage>? headers = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        request.Headers.Add("Client-ID", Me);
        request.Headers.Add("X-Project-ID", project);
        headers?.Invoke(request);
        var response = await host.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text), response);
    }

    private Task<(HttpStatusCode Status, JsonNode? Body, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, string? json = null, string project = "p1") =>
        SendAsync(_host, method, path, json, project);

    private async Task<(string Id, string Secret)> SubscribeAsync(string queue, string subscriber, string options = "{}", string project = "p1")
    {
        var (id, secret, _) = await SubscribeWithStandardSecretAsync(queue, subscriber, options, project);
        return (id, secret);
    }

    private async Task<(string Id, string Secret, string StandardSecret)> SubscribeWithStandardSecretAsync(string queue, string subscriber, string options = "{}", string project = "p1")
    {
        var (status, body, _) = await SendAsync(HttpMethod.Post, $"/v2/queues/{queue}/subscriptions", $$"""{"subscriber": "{{subscriber}}", "ttl": 3600, "options": {{options}}}""", project);
        Assert.True(status == HttpStatusCode.Created, $"{(int)status} {body}");
        return ((string)body!["subscription_id"]!, (string)body["signing_secret"]!, (string)body["webhook_secret"]!);
    }

    private async Task<List<string>> PostAsync(string queue, string messages, string project = "p1")
    {
        var (status, body, _) = await SendAsync(HttpMethod.Post, $"/v2/queues/{queue}/messages", $$"""{"messages": {{messages}}}""", project);
        Assert.Equal(HttpStatusCode.Created, status);
        return [.. body!["resources"]!.AsArray().Select(r => ((string)r!).Split('/')[^1])];
    }

    [Fact]
    public async Task Subscriptions_AreMade_Listed_Read_Changed_AndDeleted_AsZaqarAnswers()
    {
        var hook = _receiver.Url("/a").ToString();
        var (id, secret) = await SubscribeAsync("jobs", hook);
        Assert.Equal(64, secret.Length);
        var again = await SendAsync(HttpMethod.Post, "/v2/queues/jobs/subscriptions", $$"""{"subscriber": "{{hook}}"}""");
        Assert.Equal((HttpStatusCode.Created, id, null), (again.Status, (string?)again.Body!["subscription_id"], again.Body["signing_secret"])); // as Zaqar; the secret is said once
        Assert.Equal("/v2/queues/jobs/subscriptions", again.Response.Headers.Location!.OriginalString);

        var one = (await SendAsync(HttpMethod.Get, $"/v2/queues/jobs/subscriptions/{id}")).Body!;
        Assert.Equal((id, "jobs", hook, 3600, true), ((string?)one["id"], (string?)one["source"], (string?)one["subscriber"], (int)one["ttl"]!, (bool)one["confirmed"]!));
        Assert.Equal(0, (int)one["delivery"]!["pending"]!);

        var (id2, _) = await SubscribeAsync("jobs", _receiver.Url("/b").ToString());
        var list = (await SendAsync(HttpMethod.Get, "/v2/queues/jobs/subscriptions?limit=1")).Body!;
        var first = (string)list["subscriptions"]![0]!["id"]!;
        Assert.Equal(new[] { id, id2 }.Min(StringComparer.Ordinal), first);
        var next = (string)list["links"]![0]!["href"]!;
        Assert.Contains("marker=" + first, next, StringComparison.Ordinal);
        Assert.Single((await SendAsync(HttpMethod.Get, next)).Body!["subscriptions"]!.AsArray());
        Assert.Empty((await SendAsync(HttpMethod.Get, "/v2/queues/jobs/subscriptions", project: "p2")).Body!["subscriptions"]!.AsArray()); // other project
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, $"/v2/queues/jobs/subscriptions/{id}", project: "p2")).Status);

        var patched = await SendAsync(HttpMethod.Patch, $"/v2/queues/jobs/subscriptions/{id}", """{"ttl": 120, "options": {"post_headers": {"X-Team": "blue"}}}""");
        Assert.Equal(HttpStatusCode.NoContent, patched.Status);
        Assert.Equal("blue", (string?)(await SendAsync(HttpMethod.Get, $"/v2/queues/jobs/subscriptions/{id}")).Body!["options"]!["post_headers"]!["X-Team"]);
        Assert.Equal(HttpStatusCode.Conflict, (await SendAsync(HttpMethod.Patch, $"/v2/queues/jobs/subscriptions/{id}", $$"""{"subscriber": "{{_receiver.Url("/b")}}"}""")).Status);
        Assert.Equal("No subscription to create.", (string?)(await SendAsync(HttpMethod.Patch, $"/v2/queues/jobs/subscriptions/{id}", "{}")).Body!["description"]);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Patch, $"/v2/queues/jobs/subscriptions/{Guid.NewGuid()}", """{"ttl": 100}""")).Status);

        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/v2/queues/jobs/subscriptions/{id}")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/v2/queues/jobs/subscriptions/{id}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, $"/v2/queues/jobs/subscriptions/{id}")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Post, "/v2/queues/jobs/purge", """{"resource_types": ["subscriptions"]}""")).Status);
        Assert.Empty((await SendAsync(HttpMethod.Get, "/v2/queues/jobs/subscriptions")).Body!["subscriptions"]!.AsArray());
    }

    [Fact]
    public async Task APatchOfTheOptions_ReplacesTheirRetryPolicyToo_AndANewSigningSecretRotatesIt()
    {
        var (id, secret) = await SubscribeAsync("patch", _receiver.Url("/p").ToString(), """{"signing_secret": "the-first-secret-1234", "_retry_policy": {"minimum_delay": 20, "maximum_delay": 40}}""");
        Assert.Equal("the-first-secret-1234", secret);
        var engine = _host.Get<Daakia.Core.DaakiaEngine>();
        Daakia.Core.QueueSubscription Stored() => engine.Queues.GetSubscription(Daakia.Server.Zaqar.ZaqarApi.TenantOf("p1"), "patch", Guid.Parse(id))!.Subscription;
        Assert.Equal(TimeSpan.FromSeconds(20), Stored().RetryPolicy.MinimumDelay);

        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Patch, $"/v2/queues/patch/subscriptions/{id}", """{"ttl": 600}""")).Status);
        Assert.Equal(TimeSpan.FromSeconds(20), Stored().RetryPolicy.MinimumDelay); // no options given: the policy stays with them
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Patch, $"/v2/queues/patch/subscriptions/{id}", """{"options": {"note": 1}}""")).Status);
        Assert.Equal(Daakia.Core.NotificationRetryPolicy.Default, Stored().RetryPolicy); // options without _retry_policy: Zaqar's default

        // A new signing_secret rotates it (kept out of the options, as when subscribing).
        var rotated = await SendAsync(HttpMethod.Patch, $"/v2/queues/patch/subscriptions/{id}", """{"options": {"note": 2, "signing_secret": "another-secret-12345"}}""");
        Assert.Equal(HttpStatusCode.NoContent, rotated.Status);
        Assert.Equal(("another-secret-12345", """{"note":2}"""), (Stored().Secret, JsonNode.Parse(Stored().Options.Span)!.ToJsonString()));
    }

    [Theory]
    [InlineData("{}", "Missing parameter subscriber in body.")]
    [InlineData("""{"subscriber": "ftp://example.com/x"}""", "The subscriber type of subscription must be supported in the list ['http', 'https', 'mailto', 'trust+http', 'trust+https'].")]
    [InlineData("""{"subscriber": "http://example.com/x", "ttl": 59}""", "The TTL for a subscription must be at least 60 seconds long.")]
    [InlineData("""{"subscriber": "http://example.com/x", "ttl": "1h"}""", "TTL must be an integer.")]
    [InlineData("""{"subscriber": "http://example.com/x", "options": []}""", "Options must be a dict.")]
    [InlineData("""{"subscriber": "http://example.com/x", "options": {"_retry_policy": {"minimum_delay": 10, "maximum_delay": 15}}}""", "The maximum_delay must be at least 10 seconds more than the minimum_delay.")]
    [InlineData("""{"subscriber": "http://10.1.2.3/hook"}""", "The subscriber's host 10.1.2.3 is a loopback, private or link-local address, which webhooks may not reach on this server.")]
    [InlineData("""{"subscriber": "http://169.254.169.254/latest/meta-data"}""", "The subscriber's host 169.254.169.254 is a loopback, private or link-local address, which webhooks may not reach on this server.")]
    [InlineData("""{"subscriber": "mailto:ops@example.com"}""", "E-mail notifications are not configured on this server.")]
    [InlineData("""{"subscriber": "http://example.com/x", "options": {"post_headers": {"Bad Name": "x"}}}""", "The post_headers option must be an object of header names and string values.")]
    public async Task ABadSubscription_IsRefusedWith400_AndItsReason(string body, string description)
    {
        var (status, answer, _) = await SendAsync(HttpMethod.Post, "/v2/queues/bad/subscriptions", body);
        Assert.Equal((HttpStatusCode.BadRequest, description), (status, (string?)answer!["description"]));
    }

    [Fact]
    public async Task EachPostedMessage_IsPostedToTheWebhook_AsZaqarShapesIt_Signed_WithItsDeliveryId()
    {
        var (id, secret) = await SubscribeAsync("orders", _receiver.Url("/hook").ToString(), """{"post_headers": {"X-Team": "blue"}}""");
        var ids = await PostAsync("orders", """[{"body": {"order": 1}, "ttl": 300}, {"body": "two"}]""");

        await Eventually.True(() => _receiver.Requests.Count == 2, "both messages are notified");
        var got = _receiver.Requests.OrderBy(r => ids.IndexOf(r.Header(WebhookSender.DeliveryHeader)!)).ToList();
        Assert.Equal(ids, got.Select(r => r.Header(WebhookSender.DeliveryHeader)));
        var body = JsonNode.Parse(got[0].Text)!;
        Assert.Equal((300, "{\"order\":1}", "Notification", "orders"), ((int)body["ttl"]!, body["body"]!.ToJsonString(), (string?)body["Message_Type"], (string?)body["queue_name"]));
        Assert.Equal("\"two\"", JsonNode.Parse(got[1].Text)!["body"]!.ToJsonString());
        foreach (var r in got)
        {
            Assert.Equal("/hook", r.Path);
            Assert.Equal(id, r.Header(WebhookSender.SubscriptionHeader));
            Assert.Equal("1", r.Header(WebhookSender.AttemptHeader));
            Assert.Equal("blue", r.Header("X-Team"));
            Assert.StartsWith("application/json", r.Header("Content-Type"), StringComparison.Ordinal);
            // The receiver's check: HMAC-SHA256 over timestamp + "." + body with the secret the subscribe answered.
            Assert.Equal("sha256=" + WebhookSender.Sign(secret, r.Header(WebhookSender.TimestampHeader)!, r.Body), r.Header(WebhookSender.SignatureHeader));
            Assert.NotEqual("sha256=" + WebhookSender.Sign("another-secret-entirely", r.Header(WebhookSender.TimestampHeader)!, r.Body), r.Header(WebhookSender.SignatureHeader));
        }

        await Eventually.True(async () => (int)(await SendAsync(HttpMethod.Get, $"/v2/queues/orders/subscriptions/{id}")).Body!["delivery"]!["delivered"]! == 2, "counted delivered");
    }

    [Fact]
    public async Task EachWebhookRequest_VerifiesWithAStandardWebhooksLibrary_AndNotWithAnotherIdOrSecret()
    {
        // A subscription's post_headers cannot set (or spoil) the standard ones.
        var (_, _, standard) = await SubscribeWithStandardSecretAsync("standard", _receiver.Url("/std").ToString(), """{"post_headers": {"webhook-signature": "v1,forged", "Webhook-Id": "x"}}""");
        Assert.StartsWith("whsec_", standard, StringComparison.Ordinal);
        await PostAsync("standard", """[{"body": {"n": 1}}]""");
        await Eventually.True(() => !_receiver.Requests.IsEmpty, "the message is notified");
        var r = _receiver.Requests.Single();
        var headers = new Microsoft.AspNetCore.Http.HeaderDictionary();
        foreach (var (name, value) in r.Headers)
        {
            headers[name] = value;
        }

        // A receiver's check with the StandardWebhooks package: the id, the timestamp and the body as sent verify.
        Assert.Equal(r.Header(WebhookSender.DeliveryHeader), r.Header(WebhookSender.StandardIdHeader));
        new StandardWebhooks.StandardWebhook(standard).Verify(r.Text, headers);

        // The signature covers the delivery id: the same request replayed under another id fails, as does another secret.
        var replayed = new Microsoft.AspNetCore.Http.HeaderDictionary(headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase))
        {
            [WebhookSender.StandardIdHeader] = Guid.NewGuid().ToString(),
        };
        Assert.ThrowsAny<Exception>(() => new StandardWebhooks.StandardWebhook(standard).Verify(r.Text, replayed));
        Assert.ThrowsAny<Exception>(() => new StandardWebhooks.StandardWebhook(WebhookSender.StandardSecret("another-secret-entirely")).Verify(r.Text, headers));
    }

    [Fact]
    public async Task PostData_WrapsTheNotification_AsZaqarDoes()
    {
        await SubscribeAsync("wrapped", _receiver.Url("/wrapped").ToString(), """{"post_data": "{\"text\": \"$zaqar_message$\", \"via\": \"daakia\"}"}""");
        await PostAsync("wrapped", """[{"body": {"a": 1}}]""");
        await Eventually.True(() => !_receiver.Requests.IsEmpty, "the message is notified");
        var body = JsonNode.Parse(_receiver.Requests.Single().Text)!;
        Assert.Equal(("daakia", "{\"a\":1}"), ((string?)body["via"], body["text"]!["body"]!.ToJsonString()));
    }

    [Fact]
    public async Task AReceiverThatFailsFirst_GetsItAgain_AndOneThatRefuses_IsGivenUp_Visibly()
    {
        var failures = 0;
        _receiver.Answer = r => r.Path == "/gone" ? HttpStatusCode.Gone : Interlocked.Increment(ref failures) <= 2 ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK;
        var (flaky, _) = await SubscribeAsync("retry", _receiver.Url("/flaky").ToString());
        var (gone, _) = await SubscribeAsync("retry", _receiver.Url("/gone").ToString());
        var ids = await PostAsync("retry", """[{"body": 1}]""");

        await Eventually.True(async () => (int)(await SendAsync(HttpMethod.Get, $"/v2/queues/retry/subscriptions/{flaky}")).Body!["delivery"]!["delivered"]! == 1, "delivered after the 503s");
        var flakyTries = _receiver.Requests.Where(r => r.Path == "/flaky").ToList();
        Assert.Equal(3, flakyTries.Count);
        Assert.All(flakyTries, r => Assert.Equal(ids[0], r.Header(WebhookSender.DeliveryHeader)));

        await Eventually.True(async () => (await SendAsync(HttpMethod.Get, $"/v2/queues/retry/subscriptions/{gone}")).Body!["delivery"] is { } d && (int)d["failed"]! == 1 && (int)d["pending"]! == 0, "the refused one is given up");
        var view = (await SendAsync(HttpMethod.Get, $"/v2/queues/retry/subscriptions/{gone}")).Body!["delivery"]!;
        Assert.Equal("410 Gone", (string?)view["last_error"]);
        Assert.Single(_receiver.Requests, r => r.Path == "/gone");
    }

    [Fact]
    public async Task WebhookTargets_RefuseInternalAddresses_UnlessLoopbackOnlyOrAllowed_AndResolveNamesAtConnect()
    {
        var open = new WebhookTargets([], () => false);
        Assert.False(open.IsAllowed(IPAddress.Loopback));
        Assert.False(open.IsAllowed(IPAddress.Parse("::ffff:10.0.0.7")));
        Assert.False(open.IsAllowed(IPAddress.Parse("fd00::1")));
        Assert.False(open.IsAllowed(IPAddress.Parse("fe80::1")));
        Assert.False(open.IsAllowed(IPAddress.Parse("100.64.1.1")));
        Assert.True(open.IsAllowed(IPAddress.Parse("93.184.216.34")));
        Assert.True(new WebhookTargets([], () => true).IsAllowed(IPAddress.Loopback)); // local development
        Assert.False(new WebhookTargets([], () => true).IsAllowed(IPAddress.Parse("192.168.1.1")));
        var allowed = new WebhookTargets(["10.1.0.0/16", "127.0.0.1"], () => false);
        Assert.True(allowed.IsAllowed(IPAddress.Parse("10.1.200.3")));
        Assert.False(allowed.IsAllowed(IPAddress.Parse("10.2.0.1")));
        Assert.True(allowed.IsAllowed(IPAddress.Loopback));

        // A name is checked on what it resolves to, when the webhook connects.
        await Assert.ThrowsAsync<WebhookTargetRefusedException>(() => open.ConnectAsync(new DnsEndPoint("localhost", _receiver.BaseUri.Port), CancellationToken.None).AsTask());
        await using var stream = await new WebhookTargets([], () => true).ConnectAsync(new DnsEndPoint("localhost", _receiver.BaseUri.Port), CancellationToken.None);
        Assert.True(stream.CanWrite);
    }

    [Fact]
    public async Task WithConfirmationRequired_TheSubscriberConfirmsThroughTheSignedUrlItIsSent_AndOnlyThenIsNotified()
    {
        await using var host = await DaakiaTestHost.StartAsync(s =>
        {
            s["Daakia:Core:RequireSubscriptionConfirmation"] = "true";
            s["Daakia:Zaqar:SignedUrlKey"] = "a-signing-key-for-tests-only";
        });
        var (status, created, _) = await SendAsync(host, HttpMethod.Post, "/v2/queues/confirmed/subscriptions", $$"""{"subscriber": "{{_receiver.Url("/confirm-me")}}"}""");
        Assert.Equal(HttpStatusCode.Created, status);
        var id = (string)created!["subscription_id"]!;
        Assert.False((bool)(await SendAsync(host, HttpMethod.Get, $"/v2/queues/confirmed/subscriptions/{id}")).Body!["confirmed"]!);

        await Eventually.True(() => !_receiver.Requests.IsEmpty, "the confirmation request is sent");
        var request = JsonNode.Parse(_receiver.Requests.Single().Text)!;
        Assert.Equal(("SubscriptionConfirmation", "PUT", $"/v2/queues/confirmed/subscriptions/{id}/confirm", "p1"),
            ((string?)request["Message_Type"], (string?)request["URL-Methods"], (string?)request["URL-Paths"], (string?)request["X-Project-ID"]));
        await PostToAsync(host, "confirmed", """[{"body": "before"}]""");

        // The receiver confirms as Zaqar's receivers do: a PUT of SubscribeBody with the URL-* headers it was sent.
        var confirm = await SendAsync(host, HttpMethod.Put, (string)request["URL-Paths"]!, request["SubscribeBody"]!.ToJsonString(), headers: r =>
        {
            foreach (var h in new[] { "URL-Signature", "URL-Methods", "URL-Paths", "URL-Expires" })
            {
                r.Headers.Add(h, (string)request[h]!);
            }
        });
        Assert.Equal(HttpStatusCode.NoContent, confirm.Status);
        var forged = await SendAsync(host, HttpMethod.Put, (string)request["URL-Paths"]!, """{"confirmed": false}""", headers: r =>
        {
            r.Headers.Add("URL-Signature", new string('0', 64));
            r.Headers.Add("URL-Methods", "PUT");
            r.Headers.Add("URL-Paths", (string)request["URL-Paths"]!);
            r.Headers.Add("URL-Expires", (string)request["URL-Expires"]!);
        });
        Assert.Equal(HttpStatusCode.NotFound, forged.Status); // a forged signature changes nothing
        Assert.True((bool)(await SendAsync(host, HttpMethod.Get, $"/v2/queues/confirmed/subscriptions/{id}")).Body!["confirmed"]!);

        await PostToAsync(host, "confirmed", """[{"body": "after"}]""");
        await Eventually.True(() => _receiver.Requests.Count == 2, "the post after the confirmation is notified");
        Assert.Equal("\"after\"", JsonNode.Parse(_receiver.Requests.Last().Text)!["body"]!.ToJsonString());
        Assert.DoesNotContain(_receiver.Requests, r => r.Text.Contains("before", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AMailtoSubscriber_IsMailedEachMessage_ThroughTheConfiguredSmtpServer()
    {
        await using var smtp = await SmtpSink.StartAsync();
        await using var host = await DaakiaTestHost.StartAsync(s =>
        {
            s["Daakia:Notifications:Smtp:Host"] = "127.0.0.1";
            s["Daakia:Notifications:Smtp:Port"] = smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            s["Daakia:Notifications:Smtp:Security"] = "None";
        });
        var (status, created, _) = await SendAsync(host, HttpMethod.Post, "/v2/queues/mailed/subscriptions",
            """{"subscriber": "mailto:ops@example.com?subject=Jobs%20waiting", "options": {"from": "queue@example.org"}}""");
        Assert.True(status == HttpStatusCode.Created, $"{(int)status} {created}");
        await PostToAsync(host, "mailed", """[{"body": {"job": 42}}]""");

        await Eventually.True(() => smtp.Mails().Count == 1, "the message is mailed");
        var mail = smtp.Mails()[0];
        Assert.Contains("X-RcptTo: ops@example.com", mail, StringComparison.Ordinal);
        Assert.Contains("Subject: Jobs waiting", mail, StringComparison.Ordinal);
        Assert.Contains("From: queue@example.org", mail, StringComparison.Ordinal);
        var json = JsonNode.Parse(mail[mail.IndexOf('{', StringComparison.Ordinal)..(mail.LastIndexOf('}') + 1)])!;
        Assert.Equal(("{\"job\":42}", "Notification", "mailed"), (json["body"]!.ToJsonString(), (string?)json["Message_Type"], (string?)json["queue_name"]));
        var id = (string)created!["subscription_id"]!;
        await Eventually.True(async () => (int)(await SendAsync(host, HttpMethod.Get, $"/v2/queues/mailed/subscriptions/{id}")).Body!["delivery"]!["delivered"]! == 1, "counted delivered");
    }

    private static async Task PostToAsync(DaakiaTestHost host, string queue, string messages)
    {
        var (status, _, _) = await SendAsync(host, HttpMethod.Post, $"/v2/queues/{queue}/messages", $$"""{"messages": {{messages}}}""");
        Assert.Equal(HttpStatusCode.Created, status);
    }

    [Fact]
    public async Task AWebSocketSubscribingWithoutASubscriber_IsSentEachMessageAsABareFrame_UntilItCloses()
    {
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(_host.WebSocketUri("/v2/ws"), CancellationToken.None);
        async Task<JsonNode> ReceiveAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var buffer = new byte[1 << 16];
            var count = 0;
            ValueWebSocketReceiveResult r;
            do
            {
                r = await ws.ReceiveAsync(buffer.AsMemory(count), timeout.Token);
                count += r.Count;
            }
            while (!r.EndOfMessage);

            return JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, count))!;
        }

        async Task<JsonNode> ActAsync(string action, JsonObject body)
        {
            var frame = new JsonObject { ["action"] = action, ["headers"] = new JsonObject { ["Client-ID"] = Me, ["X-Project-ID"] = "p1" }, ["body"] = body };
            await ws.SendAsync(Encoding.UTF8.GetBytes(frame.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
            return await ReceiveAsync();
        }

        var created = await ActAsync("subscription_create", new JsonObject { ["queue_name"] = "live", ["ttl"] = 600 });
        Assert.Equal((201, "Subscription live created."), ((int)created["headers"]!["status"]!, (string?)created["body"]!["message"]));
        var id = (string)created["body"]!["subscription_id"]!;
        Assert.Equal(409, (int)(await ActAsync("subscription_create", new JsonObject { ["queue_name"] = "live" }))["headers"]!["status"]!);

        await PostAsync("live", """[{"body": {"n": 1}, "ttl": 120}, {"body": {"n": 2}}]""");
        var first = await ReceiveAsync();
        var second = await ReceiveAsync();
        Assert.Equal(("{\"n\":1}", 120, "Notification", "live"), (first["body"]!.ToJsonString(), (int)first["ttl"]!, (string?)first["Message_Type"], (string?)first["queue_name"]));
        Assert.Null(first["request"]); // a bare frame, not a reply
        Assert.Equal("{\"n\":2}", second["body"]!.ToJsonString());

        var listed = await ActAsync("subscription_list", new JsonObject { ["queue_name"] = "live" });
        Assert.Equal(id, (string?)listed["body"]!["subscriptions"]![0]!["id"]);
        var got = await ActAsync("subscription_get", new JsonObject { ["queue_name"] = "live", ["subscription_id"] = id });
        Assert.Equal(2, (int)got["body"]!["delivery"]!["delivered"]!);

        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        await Eventually.True(async () => (await SendAsync(HttpMethod.Get, "/v2/queues/live/subscriptions")).Body!["subscriptions"]!.AsArray().Count == 0, "the connection's subscription goes with it");
    }
}
