using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Daakia.Core;
using Daakia.Mqtt;
using Daakia.Server.Json;
using Daakia.Server.WebSockets;

namespace Daakia.Server.Mqtt;

/// <summary>
/// Services, workers and tasks over MQTT (docs/protocols/mqtt.md, tasks): a PUBLISH to <c>$tasks/{operation}</c> with the
/// WebSocket API's JSON fields is that operation (<see cref="TaskRequests"/>), acknowledged once it is done (a submit
/// once it is durable; 5.0: the PUBACK's reason code says how it went). Its answer goes to the request's response topic
/// with its correlation data (5.0), or else to <c>$tasks/{client}/reply</c>; a worker's assignments and cancels to
/// <c>$tasks/{client}/assigned</c> and <c>$tasks/{client}/cancel</c>, through the bounded outbox, once the connection
/// subscribed to its task topics.
/// </summary>
internal sealed partial class MqttSession : ITaskWorkerTarget
{
    private const string TasksPrefix = "$tasks/";
    private const int AssignedLeaf = 1, CancelLeaf = 2, ReplyLeaf = 4;
    private volatile byte _taskQos; // the granted QoS of the connection's $tasks/{client}/… subscriptions
    private volatile int _taskLeaves; // which of assigned, cancel, reply they cover (written by the read loop, read by any thread)

    /// <summary>Where a request's answer goes: its response topic and correlation data, or the reply topic.</summary>
    private readonly record struct TaskReplyTo(string? Topic, ReadOnlyMemory<byte>? Correlation, byte Qos);

    public bool TryAssign(TaskAssignment assignment) =>
        (_taskLeaves & AssignedLeaf) != 0 && OfferTaskMessage(TaskTopic("assigned"), _taskQos, null, FrameEncoder.Encode(assignment, static (w, a) =>
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "task_assigned"u8);
            TaskWire.WriteAssignmentFields(w, a);
            w.WriteEndObject();
        }));

    public bool TryCancel(Guid task, TaskState reason) =>
        (_taskLeaves & CancelLeaf) != 0 && OfferTaskMessage(TaskTopic("cancel"), _taskQos, null, FrameEncoder.Encode((task, reason), static (w, c) =>
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "task_cancel"u8);
            w.WriteString("task_id"u8, c.task.ToString("N"));
            w.WriteString("reason"u8, TaskService.StateName(c.reason));
            w.WriteEndObject();
        }));

    private string TaskTopic(string leaf) => TasksPrefix + _client.Value + "/" + leaf;

    /// <summary>A subscription to the connection's own task topics (<c>$tasks/#</c>, <c>$tasks/{client}/#</c>,
    /// <c>$tasks/{client}/+</c> or one of them): the granted QoS (at most 1), or 0x87 for another <c>$tasks</c> filter.</summary>
    private byte SubscribeTasks(string filter, byte qos)
    {
        var leaves = TaskLeaves(filter);
        if (leaves == 0)
        {
            return V5 ? (byte)MqttReasonCode.NotAuthorized : (byte)0x80;
        }

        var granted = Math.Min(qos, (byte)1);
        _taskQos = _taskLeaves == 0 ? granted : Math.Max(_taskQos, granted);
        _taskLeaves |= leaves;
        return granted;
    }

    /// <summary>An UNSUBSCRIBE of the connection's task topics: what they covered is no longer sent.</summary>
    private void UnsubscribeTasks(IReadOnlyList<string> filters)
    {
        foreach (var f in filters)
        {
            if (f.StartsWith(TasksPrefix, StringComparison.Ordinal))
            {
                _taskLeaves &= ~TaskLeaves(f);
            }
        }
    }

    /// <summary>Which of the connection's task topics a filter covers (0: it is not one of its own).</summary>
    private int TaskLeaves(string filter)
    {
        if (filter == "$tasks/#")
        {
            return AssignedLeaf | CancelLeaf | ReplyLeaf;
        }

        var own = TasksPrefix + _client.Value + "/";
        return !filter.StartsWith(own, StringComparison.Ordinal) ? 0 : filter.AsSpan(own.Length) switch
        {
            "#" or "+" => AssignedLeaf | CancelLeaf | ReplyLeaf,
            "assigned" => AssignedLeaf,
            "cancel" => CancelLeaf,
            "reply" => ReplyLeaf,
            _ => 0,
        };
    }

    /// <summary>
    /// A PUBLISH to <c>$tasks/{operation}</c>: the reason code to acknowledge with now, and in <paramref name="done"/>
    /// the operation (a <see cref="Task{MqttReasonCode}"/> that never faults: its result replaces the reason in 5.0).
    /// </summary>
    private MqttReasonCode OnTaskRequest(string topic, in PublishPacket p, out Task done)
    {
        done = Task.CompletedTask;
        var reply = new TaskReplyTo(
            V5 && p.HasResponseTopic ? Encoding.UTF8.GetString(p.ResponseTopic.Span) : null,
            V5 && p.HasCorrelationData ? (ReadOnlyMemory<byte>?)p.CorrelationData.ToArray() : null,
            Math.Min(p.Qos, (byte)1));
        if (reply.Topic is { } responseTopic && (!TopicNames.IsValidName(responseTopic, _engine.Options, out _) || responseTopic.StartsWith('$') && !responseTopic.StartsWith(TaskTopic(""), StringComparison.Ordinal)))
        {
            return MqttReasonCode.TopicNameInvalid; // a wildcard (MQTT-3.3.2-14), or another client's $ topic
        }

        var operation = topic.AsSpan(TasksPrefix.Length);
        byte[]? id = null;
        try
        {
            // The WebSocket API's edge rule: UTF-8, and no escaped lone surrogate, so what is stored is Unicode JSON.
            if (FrameText.Check(p.Payload.Span) != FrameTextFault.None)
            {
                throw new JsonException("not Unicode text");
            }

            using var doc = JsonDocument.Parse(p.Payload.IsEmpty ? "{}"u8.ToArray() : p.Payload);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw DaakiaException.Invalid("A task request is a JSON object with the operation's fields.");
            }

            if (root.TryGetProperty("id"u8, out var e) && e.ValueKind is JsonValueKind.String or JsonValueKind.Number)
            {
                id = JsonMarshal.GetRawUtf8Value(e).ToArray();
            }

            string? name = null;
            foreach (var o in TaskRequests.Operations)
            {
                name = operation.SequenceEqual(o) ? o : name;
            }

            if (name is null || _connection is not { } connection)
            {
                throw new DaakiaException(DaakiaErrorCode.NotFound, $"There is no task operation '{topic}': $tasks/ takes {string.Join(", ", TaskRequests.Operations)}.");
            }

            if (name == "register" && (_taskLeaves & AssignedLeaf) == 0)
            {
                throw DaakiaException.Invalid($"Subscribe to {TaskTopic("#")} first: assignments are published there.");
            }

            var running = TaskRequests.Run(_engine, connection, name, root)!;
            if (running.IsCompletedSuccessfully)
            {
                Answer(reply, id, running.Result);
                return MqttReasonCode.Success;
            }

            done = AnswerAsync(reply, id, running);
            return MqttReasonCode.Success;
        }
        catch (JsonException)
        {
            AnswerError(reply, id, ErrorCodes.InvalidJson, "A task request is a JSON object (UTF-8) with the operation's fields.");
            return MqttReasonCode.PayloadFormatInvalid;
        }
        catch (DaakiaException ex)
        {
            AnswerError(reply, id, ErrorCodes.For(ex.Code), ex.Message);
            return ReasonFor(ex.Code);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            MqttLog.StoreFailed(_logger, ex, _client.Value);
            AnswerError(reply, id, ErrorCodes.Internal, "The request failed on the server.");
            return MqttReasonCode.UnspecifiedError;
        }
    }

    private async Task<MqttReasonCode> AnswerAsync(TaskReplyTo reply, byte[]? id, Task<TaskAnswerWriter?> running)
    {
        try
        {
            Answer(reply, id, await running);
            return MqttReasonCode.Success;
        }
        catch (DaakiaException ex)
        {
            AnswerError(reply, id, ErrorCodes.For(ex.Code), ex.Message);
            return ReasonFor(ex.Code);
        }
        catch (Exception ex)
        {
            MqttLog.StoreFailed(_logger, ex, _client.Value);
            AnswerError(reply, id, ErrorCodes.Internal, "The request failed on the server.");
            return MqttReasonCode.UnspecifiedError;
        }
    }

    private static MqttReasonCode ReasonFor(DaakiaErrorCode code) => code switch
    {
        DaakiaErrorCode.InvalidArgument => MqttReasonCode.PayloadFormatInvalid,
        DaakiaErrorCode.NotFound => MqttReasonCode.ImplementationSpecificError,
        DaakiaErrorCode.Forbidden => MqttReasonCode.NotAuthorized,
        DaakiaErrorCode.PayloadTooLarge or DaakiaErrorCode.LimitExceeded or DaakiaErrorCode.QuotaExceeded or DaakiaErrorCode.Overloaded => MqttReasonCode.QuotaExceeded,
        _ => MqttReasonCode.UnspecifiedError,
    };

    private void Answer(TaskReplyTo reply, byte[]? id, TaskAnswerWriter? write) =>
        Reply(reply, FrameEncoder.Encode((id, write), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "ack"u8);
            WriteId(w, s.id);
            s.write?.Invoke(w);
            w.WriteEndObject();
        }));

    private void AnswerError(TaskReplyTo reply, byte[]? id, string code, string description) =>
        Reply(reply, FrameEncoder.Encode((id, code, description), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "error"u8);
            WriteId(w, s.id);
            w.WriteString("code"u8, s.code);
            w.WriteString("description"u8, s.description);
            w.WriteEndObject();
        }));

    private static void WriteId(Utf8JsonWriter w, byte[]? id)
    {
        w.WritePropertyName("id"u8);
        if (id is null)
        {
            w.WriteNullValue();
        }
        else
        {
            w.WriteRawValue(id, skipInputValidation: true);
        }
    }

    /// <summary>An answer to its response topic, or to the reply topic when the connection subscribed to it; one that
    /// does not fit the outbox is dropped (the PUBACK still says how the request went).</summary>
    private void Reply(TaskReplyTo reply, byte[] json)
    {
        if (reply.Topic is { } topic)
        {
            OfferTaskMessage(topic, reply.Qos, reply.Correlation, json);
        }
        else if ((_taskLeaves & ReplyLeaf) != 0)
        {
            OfferTaskMessage(TaskTopic("reply"), Math.Min(_taskQos, reply.Qos), null, json);
        }
    }

    private bool OfferTaskMessage(string topic, byte qos, ReadOnlyMemory<byte>? correlation, byte[] json) => Offer(new Publication
    {
        Tenant = _tenant,
        Topic = topic,
        Payload = json,
        ContentType = Letter.JsonContentType,
        Qos = (QualityOfService)qos,
        Timestamp = _engine.Time.GetUtcNow(),
        Properties = correlation is null ? null : new PublicationProperties { CorrelationData = correlation },
    }, (QualityOfService)qos, []);
}
