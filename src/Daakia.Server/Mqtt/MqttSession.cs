using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Text;
using Daakia.Core;
using Daakia.Mqtt;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.Mqtt;

/// <summary>
/// One MQTT connection (3.1.1 or 5.0) over any duplex pipe (TCP, or a WebSocket's binary frames): CONNECT, then
/// subscriptions and publications on the core's topics at QoS 0, 1 and 2 in both directions, keep-alive through the
/// core's heartbeat scan, takeover, and the will. The session is the connection's (clean session); persistent
/// sessions come with the delivery engine's session queues (docs/mqtt-design.md).
/// </summary>
/// <remarks>
/// Two loops: the read loop decodes and handles each packet in order (none waits for the store: publications are not
/// durable); the write loop drains the outbox — control packets first, then publications while the client's in-flight
/// window has room — encoding straight into the transport's pipe.
/// </remarks>
[SuppressMessage("Design", "CA1001", Justification = "None is disposed: the core and queued work items may still signal or cancel them after the session ended, and none holds an OS resource (no wait handle is asked for, no timer is set on the source).")]
internal sealed class MqttSession : ISubscriptionAwareTarget
{
    private readonly DaakiaEngine _engine;
    private readonly TenantResolver _tenants;
    private readonly MqttOptions _options;
    private readonly MqttSessionRegistry _registry;
    private readonly ILogger _logger;
    private readonly IDuplexPipe _transport;
    private readonly string? _remote;
    private readonly Action _abort;
    private readonly MqttFrameReader _frames;

    /// <summary>Bytes of packets the write loop hands the pipe between two flushes, about.</summary>
    private const int FlushBytes = 64 * 1024;
    private readonly CancellationTokenSource _stop = new();

    // The outbox, guarded by _gate.
    private readonly Lock _gate = new();
    private readonly Queue<Control> _controls = new();
    private readonly Queue<Outgoing> _publications = new();
    private readonly Dictionary<ushort, Outgoing> _inflight = [];
    private readonly SemaphoreSlim _signal = new(0);
    private readonly SemaphoreSlim _drained = new(0);
    private volatile bool _readerWaiting;
    private bool _wakePending; // the read loop's: it queued for the writer since its last wake
    private int _signaled; // 1 while a wake of the writer is pending (Signal)
    private Task _lastLetterAck = Task.CompletedTask; // the read loop's: awaited before the connection's letters go back
    private List<Guid>? _letterAcks; // under _gate: letters whose PUBACK came, acknowledged in the inbox after the read
    private bool _inbox; // the client subscribed to its letters
    private const string InboxFilter = "$inbox/#";
    private (Task Stored, ushort PacketId, byte Qos, MqttReasonCode Reason)? _storing; // the read loop's: a retained publish not yet durable
    private long _queuedBytes;
    private ushort _nextPacketId;
    private bool _closing;
    private bool _finishing;

    // Read-loop state.
    private readonly HashSet<ushort> _awaitingRelease = [];
    private string?[] _aliases = [];

    private MqttVersion _version;
    private TenantId _tenant;
    private ClientId _client;
    private ClientConnection? _connection;
    private WillMessage? _will;
    private bool _disconnectedNormally;
    private int _clientReceiveMaximum = 65_535;
    private int _clientMaxPacketSize = MqttEncoder.NoLimit;

    public MqttSession(DaakiaEngine engine, TenantResolver tenants, MqttOptions options, MqttSessionRegistry registry, ILogger logger,
        IDuplexPipe transport, string? remote, Action abort)
    {
        _engine = engine;
        _tenants = tenants;
        _options = options;
        _registry = registry;
        _logger = logger;
        _transport = transport;
        _remote = remote;
        _abort = abort;
        _frames = new MqttFrameReader(options.MaxPacketSize);
    }

    private bool V5 => _version == MqttVersion.V500;

    /// <summary>Runs the connection to its end.</summary>
    public async Task RunAsync(CancellationToken aborted)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(aborted, _stop.Token);
        Task? writer = null;
        try
        {
            if (!await ConnectAsync(linked.Token))
            {
                await _transport.Output.FlushAsync(CancellationToken.None);
                return;
            }

            // The connection takes no letters yet (the core's Start is not called: letters wait in the inbox until the
            // inbox topic arrives, docs/mqtt-design.md); publications flow at once.
            await _transport.Output.FlushAsync(linked.Token); // the CONNACK
            writer = WriteLoopAsync();
            await ReadLoopAsync(linked.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ConnectionAbortedException or ObjectDisposedException)
        {
            // The client or the server ended the connection.
        }
        catch (Exception ex)
        {
            MqttLog.SessionFailed(_logger, ex, _client.Value ?? "(before CONNECT)");
        }
        finally
        {
            await EndAsync(writer);
        }
    }

    // ---- CONNECT ------------------------------------------------------------------------------------------------

    private async Task<bool> ConnectAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(_options.ConnectTimeoutSeconds));
        var input = _transport.Input;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await input.ReadAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                MqttLog.Refused(_logger, _remote, "no CONNECT within the connect timeout");
                return false;
            }

            var buffer = read.Buffer;
            var status = _frames.TryRead(buffer, out var frame, out var consumed, out var error);
            if (status == MqttFrameStatus.Incomplete)
            {
                if (read.IsCompleted)
                {
                    return false;
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            if (status == MqttFrameStatus.Error || frame.Type != MqttPacketType.Connect)
            {
                // The first packet must be a CONNECT (MQTT-3.1.0-1); nothing is known of the version to answer in.
                MqttLog.Refused(_logger, _remote, status == MqttFrameStatus.Error ? error.Message : $"the first packet is {frame.Type}, not CONNECT");
                return false;
            }

            var accepted = Accept(frame);
            input.AdvanceTo(consumed);
            return accepted;
        }
    }

    private bool Accept(in MqttFrame frame)
    {
        var output = _transport.Output;
        if (!MqttDecoder.TryDecodeConnect(frame, out var connect, out var error, out var level))
        {
            MqttLog.Refused(_logger, _remote, error.Message);
            if (error.Code == MqttReasonCode.UnsupportedProtocolVersion)
            {
                // Answered in the form the client's level reads (MQTT-3.1.2-2): 3.1.1's return code 1, or 5.0's 0x84.
                var v = level == 5 ? MqttVersion.V500 : MqttVersion.V311;
                MqttEncoder.TryWriteConnAck(output, v, false, v == MqttVersion.V500 ? (byte)MqttReasonCode.UnsupportedProtocolVersion : (byte)MqttConnectReturnCode.UnacceptableProtocolVersion);
            }
            else if (level == 5)
            {
                MqttEncoder.TryWriteConnAck(output, MqttVersion.V500, false, (byte)error.Code);
            }

            return false;
        }

        _version = connect.Version;
        var props = connect.Properties;
        if (props?.AuthenticationMethod is not null)
        {
            // Enhanced authentication arrives with credentials (the AUTH packet's hook); until then it is refused.
            return Refuse(MqttReasonCode.BadAuthenticationMethod, MqttConnectReturnCode.NotAuthorized, "enhanced authentication is not offered");
        }

        var assigned = connect.ClientId.Length == 0;
        if (assigned && !V5 && !connect.CleanStart)
        {
            return Refuse(MqttReasonCode.ClientIdentifierNotValid, MqttConnectReturnCode.IdentifierRejected, "an empty client id needs a clean session [MQTT-3.1.3-8]");
        }

        var id = assigned ? "auto-" + Guid.NewGuid().ToString("N") : connect.ClientId;
        if (!ClientId.TryCreate(id, out var client))
        {
            return Refuse(MqttReasonCode.ClientIdentifierNotValid, MqttConnectReturnCode.IdentifierRejected, $"'{id}' is not a valid client id");
        }

        _tenant = _tenants.Default;
        _client = client;
        _clientReceiveMaximum = props?.ReceiveMaximum ?? 65_535;
        _clientMaxPacketSize = props?.MaximumPacketSize is { } max ? (int)Math.Min(max, int.MaxValue) : MqttEncoder.NoLimit;
        _aliases = new string?[_options.TopicAliasMaximum + 1];
        _will = connect.Will;

        var keepAlive = connect.KeepAlive == 0 || connect.KeepAlive > _options.MaxKeepAliveSeconds ? _options.MaxKeepAliveSeconds : connect.KeepAlive;
        if (_registry.Register(_tenant, client, this) is { } previous)
        {
            previous.TakeOver();
        }

        try
        {
            // The core closes a connection silent for Heartbeat × MissedHeartbeats: 1.5 × the keep-alive (MQTT-3.1.2-24).
            var heartbeat = TimeSpan.FromSeconds(keepAlive * 1.5 / Math.Max(1, _engine.Options.MissedHeartbeats));
            _connection = _engine.ConnectAsync(_tenant, client, this, new ConnectOptions("mqtt", Heartbeat: heartbeat)).AsTask().GetAwaiter().GetResult();
        }
        catch (DaakiaException ex)
        {
            _registry.Remove(_tenant, client, this);
            return Refuse(ex.Code == DaakiaErrorCode.LimitExceeded ? MqttReasonCode.QuotaExceeded : MqttReasonCode.ServerUnavailable,
                MqttConnectReturnCode.ServerUnavailable, ex.Message);
        }

        MqttProperties? ackProps = null;
        if (V5)
        {
            ackProps = new MqttProperties
            {
                // Sessions end with their connection here for now (docs/mqtt-design.md): the expiry the client gets is 0.
                SessionExpiryInterval = props?.SessionExpiryInterval is > 0 ? 0u : null,
                ReceiveMaximum = (ushort)_options.ReceiveMaximum,
                MaximumPacketSize = (uint)_options.MaxPacketSize,
                TopicAliasMaximum = (ushort)_options.TopicAliasMaximum,
                AssignedClientIdentifier = assigned ? id : null,
                ServerKeepAlive = keepAlive != connect.KeepAlive ? (ushort)keepAlive : null,
            };
        }

        MqttEncoder.TryWriteConnAck(_transport.Output, _version, sessionPresent: false, 0, ackProps);
        return true;
    }

    private bool Refuse(MqttReasonCode v5, MqttConnectReturnCode v311, string reason)
    {
        MqttLog.Refused(_logger, _remote, reason);
        MqttEncoder.TryWriteConnAck(_transport.Output, _version, false, V5 ? (byte)v5 : (byte)v311, V5 ? new MqttProperties { ReasonString = reason } : null);
        return false;
    }

    // ---- Reading ------------------------------------------------------------------------------------------------

    private async Task ReadLoopAsync(CancellationToken cancellationToken)
    {
        var input = _transport.Input;
        while (true)
        {
            var read = await input.ReadAsync(cancellationToken);
            var buffer = read.Buffer;
            try
            {
                if (!await HandleFramesAsync(input, buffer, cancellationToken))
                {
                    return;
                }
            }
            finally
            {
                WakeWriter(); // once per read, not per packet: the answers to a whole read leave in one write
                AckLetters();
            }

            if (read.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>Handles every whole packet of one read and advances past them; false ends the connection.</summary>
    private async ValueTask<bool> HandleFramesAsync(PipeReader input, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            await WaitForOutboxRoomAsync(cancellationToken);
            var status = _frames.TryRead(buffer, out var frame, out var consumed, out var error);
            if (status == MqttFrameStatus.Incomplete)
            {
                break;
            }

            if (status == MqttFrameStatus.Error)
            {
                Violation(error);
                input.AdvanceTo(buffer.End);
                return false;
            }

            _connection!.Touch(_engine.Time);
            var ok = Handle(frame);
            buffer = buffer.Slice(consumed);
            if (_storing is not null)
            {
                await AcknowledgeStoredAsync(cancellationToken);
            }

            if (!ok)
            {
                input.AdvanceTo(buffer.End);
                return false;
            }
        }

        input.AdvanceTo(buffer.Start, buffer.End);
        return true;
    }

    /// <summary>Acknowledges in the inbox the letters whose PUBACK this read brought, in one call (one group commit).</summary>
    private void AckLetters()
    {
        List<Guid>? ids;
        lock (_gate)
        {
            ids = _letterAcks;
            _letterAcks = null;
        }

        if (ids is not null)
        {
            var previous = _lastLetterAck;
            var ack = AckLettersAsync(ids);
            _lastLetterAck = previous.IsCompleted ? ack : Task.WhenAll(previous, ack);
        }
    }

    private async Task AckLettersAsync(List<Guid> ids)
    {
        try
        {
            await _engine.Letters.AckAsync(_tenant, _client, ids);
        }
        catch (Exception ex) when (ex is DaakiaException or InvalidOperationException or IOException)
        {
            // Not acknowledged: the letters stay in the inbox and come again (at least once).
            MqttLog.LetterAckFailed(_logger, ex, _client.Value);
        }
    }

    /// <summary>
    /// Wakes the write loop: at most one wake is pending (the writer clears the flag before it drains), so the
    /// semaphore's count stays at one however many packets were queued meanwhile.
    /// </summary>
    private void Signal()
    {
        if (Interlocked.Exchange(ref _signaled, 1) == 0)
        {
            _signal.Release();
        }
    }

    /// <summary>Wakes the write loop for what the read loop queued since the last wake.</summary>
    private void WakeWriter()
    {
        if (_wakePending)
        {
            _wakePending = false;
            Signal();
        }
    }

    /// <summary>
    /// Backpressure: every packet a client sends may queue an answer (PUBACK, PINGRESP, SUBACK…), so while half the
    /// outbox is answers the client has not read, its next packet is not read either — TCP slows it down, and the
    /// answers stay bounded. The heartbeat scan skips the connection meanwhile.
    /// </summary>
    private async ValueTask WaitForOutboxRoomAsync(CancellationToken cancellationToken)
    {
        var paused = false;
        while (true)
        {
            _readerWaiting = true; // before the check, so a drain between the check and the wait still wakes us
            bool full;
            lock (_gate)
            {
                full = _controls.Count >= _options.OutboxCapacity / 2;
            }

            if (!full)
            {
                _readerWaiting = false;
                break;
            }

            if (!paused)
            {
                paused = true;
                _connection!.PauseHeartbeat(true);
            }

            WakeWriter(); // what is queued must leave for room to come
            await _drained.WaitAsync(cancellationToken);
        }

        if (paused)
        {
            _connection!.PauseHeartbeat(false);
        }
    }

    /// <summary>Handles one packet; false ends the connection.</summary>
    private bool Handle(in MqttFrame frame)
    {
        MqttError error;
        switch (frame.Type)
        {
            case MqttPacketType.Publish:
                if (!MqttDecoder.TryDecodePublish(frame, _version, out var publish, out error))
                {
                    return Violation(error);
                }

                return OnPublish(publish);
            case MqttPacketType.PubAck or MqttPacketType.PubRec or MqttPacketType.PubRel or MqttPacketType.PubComp:
                if (!MqttDecoder.TryDecodeAck(frame, _version, out var ack, out error))
                {
                    return Violation(error);
                }

                OnAck(ack);
                return true;
            case MqttPacketType.Subscribe:
                if (!MqttDecoder.TryDecodeSubscribe(frame, _version, out var subscribe, out error))
                {
                    return Violation(error);
                }

                OnSubscribe(subscribe);
                return true;
            case MqttPacketType.Unsubscribe:
                if (!MqttDecoder.TryDecodeUnsubscribe(frame, _version, out var unsubscribe, out error))
                {
                    return Violation(error);
                }

                _engine.Topics.Unsubscribe(_connection!, unsubscribe.Filters);
                var codes = new byte[unsubscribe.Filters.Count];
                Send(new Control(MqttPacketType.UnsubAck, unsubscribe.PacketId, 0, codes));
                return true;
            case MqttPacketType.PingReq:
                if (!MqttDecoder.TryDecodeEmpty(frame, out error))
                {
                    return Violation(error);
                }

                Send(new Control(MqttPacketType.PingResp, 0, 0));
                return true;
            case MqttPacketType.Disconnect:
                if (!MqttDecoder.TryDecodeReason(frame, _version, out var disconnect, out error))
                {
                    return Violation(error);
                }

                // A normal DISCONNECT discards the will (MQTT-3.14.4-3); 5.0's 0x04 asks for it to be sent.
                _disconnectedNormally = disconnect.Reason != MqttReasonCode.DisconnectWithWill;
                return false;
            case MqttPacketType.Connect:
                return Violation(MqttError.Protocol("A second CONNECT [MQTT-3.1.0-2]."));
            case MqttPacketType.Auth when V5:
                return Violation(MqttError.Protocol("AUTH without enhanced authentication [MQTT-4.12.0-1]."));
            default:
                return Violation(MqttError.Protocol($"A {frame.Type} packet is not one a client sends."));
        }
    }

    private bool OnPublish(in PublishPacket p)
    {
        string topic;
        if (p.TopicAlias != 0)
        {
            if (p.TopicAlias >= _aliases.Length)
            {
                return Violation(new MqttError(MqttReasonCode.TopicAliasInvalid, $"Topic alias {p.TopicAlias} is above the maximum {_aliases.Length - 1} [MQTT-3.3.2-9]."));
            }

            if (p.Topic.IsEmpty)
            {
                if (_aliases[p.TopicAlias] is not { } known)
                {
                    return Violation(MqttError.Protocol($"Topic alias {p.TopicAlias} was never set [MQTT-3.3.2-7]."));
                }

                topic = known;
            }
            else
            {
                topic = p.TopicString();
                _aliases[p.TopicAlias] = topic;
            }
        }
        else
        {
            topic = p.TopicString();
        }

        if (p.Qos == 2)
        {
            if (_awaitingRelease.Contains(p.PacketId))
            {
                // A resend of a message not yet released: routed once only (MQTT-4.3.3-10).
                Send(new Control(MqttPacketType.PubRec, p.PacketId, 0));
                return true;
            }

            if (_awaitingRelease.Count >= _options.ReceiveMaximum)
            {
                return Violation(new MqttError(MqttReasonCode.ReceiveMaximumExceeded, $"More than {_options.ReceiveMaximum} QoS 2 messages awaiting PUBREL [MQTT-3.3.4-9]."));
            }
        }

        var reason = Route(topic, p, out var stored);
        if (!stored.IsCompleted)
        {
            // A retained message is acknowledged once it is durable; the read loop waits for it (acks stay in order,
            // and a flood of retained QoS 0 publications waits for the store instead of queueing in it).
            _storing = (stored, p.PacketId, p.Qos, reason);
            return true;
        }

        Acknowledge(p.PacketId, p.Qos, stored.IsFaulted ? MqttReasonCode.UnspecifiedError : reason);
        return true;
    }

    private void Acknowledge(ushort packetId, byte qos, MqttReasonCode reason)
    {
        switch (qos)
        {
            case 1:
                Send(new Control(MqttPacketType.PubAck, packetId, reason));
                break;
            case 2:
                if (reason < MqttReasonCode.UnspecifiedError)
                {
                    _awaitingRelease.Add(packetId);
                }

                Send(new Control(MqttPacketType.PubRec, packetId, reason));
                break;
        }
    }

    /// <summary>Waits for the retained message the last packet stored, then acknowledges it.</summary>
    private async ValueTask AcknowledgeStoredAsync(CancellationToken cancellationToken)
    {
        var (stored, packetId, qos, reason) = _storing!.Value;
        _storing = null;
        WakeWriter(); // what earlier packets queued leaves meanwhile
        try
        {
            await stored.WaitAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            MqttLog.StoreFailed(_logger, ex, _client.Value);
            reason = MqttReasonCode.UnspecifiedError;
        }

        Acknowledge(packetId, qos, reason);
    }

    /// <summary>A 5.0 PUBLISH's response topic, correlation data, user properties and payload format, for every subscriber.</summary>
    private static PublicationProperties? PropertiesOf(in PublishPacket p)
    {
        if (!p.HasResponseTopic && !p.HasCorrelationData && !p.HasUserProperties && p.PayloadFormatIndicator is null)
        {
            return null;
        }

        List<KeyValuePair<string, string>>? user = null;
        if (p.HasUserProperties)
        {
            var properties = p.EnumerateProperties();
            while (properties.MoveNext())
            {
                var property = properties.Current;
                if (property.Id == MqttPropertyId.UserProperty)
                {
                    (user ??= []).Add(new(property.String, property.PairValue));
                }
            }
        }

        return new PublicationProperties
        {
            PayloadFormat = p.PayloadFormatIndicator,
            ResponseTopic = p.HasResponseTopic ? Encoding.UTF8.GetString(p.ResponseTopic.Span) : null,
            CorrelationData = p.HasCorrelationData ? p.CorrelationData.ToArray() : null,
            UserProperties = user ?? [],
        };
    }

    /// <summary>Publishes on the core's topics; the reason code to acknowledge with.</summary>
    private MqttReasonCode Route(string topic, in PublishPacket p, out Task stored)
    {
        stored = Task.CompletedTask;
        if (topic.StartsWith('$'))
        {
            return MqttReasonCode.NotAuthorized; // $ topics are the server's (MQTT-4.7.2-1); 3.1.1 acknowledges and drops
        }

        var contentType = p.HasContentType ? Encoding.UTF8.GetString(p.ContentType.Span) : Publication.OpaqueContentType;
        try
        {
            var delivered = _engine.Topics.Publish(_tenant, _client, topic, p.Payload.ToArray(), contentType, (QualityOfService)p.Qos, p.Retain, out stored,
                V5 ? PropertiesOf(p) : null, p.MessageExpiryInterval is { } expiry ? TimeSpan.FromSeconds(expiry) : null);
            return delivered == 0 ? MqttReasonCode.NoMatchingSubscribers : MqttReasonCode.Success;
        }
        catch (DaakiaException ex)
        {
            return ex.Code switch
            {
                DaakiaErrorCode.QuotaExceeded => MqttReasonCode.QuotaExceeded,
                DaakiaErrorCode.PayloadTooLarge => MqttReasonCode.PacketTooLarge,
                DaakiaErrorCode.InvalidArgument => MqttReasonCode.TopicNameInvalid,
                DaakiaErrorCode.Forbidden => MqttReasonCode.NotAuthorized,
                _ => MqttReasonCode.UnspecifiedError,
            };
        }
    }

    private void OnAck(in AckPacket ack)
    {
        switch (ack.Type)
        {
            case MqttPacketType.PubRel:
                // Released: the id may be used again (MQTT-4.3.3-13). Unknown in 5.0 is 0x92.
                var known = _awaitingRelease.Remove(ack.PacketId);
                Send(new Control(MqttPacketType.PubComp, ack.PacketId, known ? 0 : MqttReasonCode.PacketIdentifierNotFound));
                return;
            case MqttPacketType.PubRec:
                lock (_gate)
                {
                    if (_inflight.TryGetValue(ack.PacketId, out var o) && o.Qos == 2 && !o.Released)
                    {
                        if (ack.Reason >= MqttReasonCode.UnspecifiedError)
                        {
                            _inflight.Remove(ack.PacketId); // the client refused it: the flow ends here
                        }
                        else
                        {
                            _inflight[ack.PacketId] = o with { Released = true };
                            _controls.Enqueue(new Control(MqttPacketType.PubRel, ack.PacketId, 0));
                        }
                    }
                    else
                    {
                        _controls.Enqueue(new Control(MqttPacketType.PubRel, ack.PacketId, MqttReasonCode.PacketIdentifierNotFound));
                    }
                }

                _wakePending = true;
                return;
            default: // PUBACK (QoS 1) or PUBCOMP (QoS 2): the flow is complete and the id free
                lock (_gate)
                {
                    if (_inflight.Remove(ack.PacketId, out var done) && done.LetterId != Guid.Empty && ack.Type == MqttPacketType.PubAck)
                    {
                        (_letterAcks ??= []).Add(done.LetterId); // acknowledged in the inbox once the read is handled
                    }
                }

                _wakePending = true;
                return;
        }
    }

    private void OnSubscribe(SubscribePacket subscribe)
    {
        var codes = new byte[subscribe.Filters.Count];
        var requests = new List<SubscriptionRequest>(codes.Length);
        var indexes = new List<int>(codes.Length);
        var id = subscribe.Properties?.SubscriptionIdentifiers?[0];
        var startInbox = false;
        for (var i = 0; i < codes.Length; i++)
        {
            var f = subscribe.Filters[i];
            if (f.Filter is InboxFilter or "$inbox/+")
            {
                // The client's letters (docs/protocols/mqtt.md, letters): at least once, so QoS 1 at most and not 0.
                codes[i] = f.Qos == 0 ? (V5 ? (byte)MqttReasonCode.ImplementationSpecificError : (byte)0x80) : (byte)1;
                startInbox |= f.Qos > 0;
                continue;
            }

            var options = new SubscriptionOptions
            {
                MaxQos = (QualityOfService)f.Qos,
                NoLocal = f.NoLocal,
                RetainAsPublished = f.RetainAsPublished,
                RetainHandling = (RetainHandling)f.RetainHandling,
                SubscriptionIdentifier = id,
            };
            var shared = f.Filter.StartsWith(TopicNames.SharePrefix, StringComparison.Ordinal);
            if (!TopicNames.IsValidFilter(f.Filter, _engine.Options, out _))
            {
                codes[i] = V5 ? (byte)MqttReasonCode.TopicFilterInvalid : (byte)0x80;
                continue;
            }

            if (shared && f.NoLocal)
            {
                codes[i] = V5 ? (byte)MqttReasonCode.ProtocolError : (byte)0x80; // MQTT-3.8.3-4
                continue;
            }

            codes[i] = f.Qos;
            requests.Add(new SubscriptionRequest(f.Filter, options));
            indexes.Add(i);
        }

        if (requests.Count > 0)
        {
            try
            {
                _engine.Topics.Subscribe(_connection!, requests);
            }
            catch (DaakiaException ex)
            {
                var code = ex.Code == DaakiaErrorCode.LimitExceeded ? MqttReasonCode.QuotaExceeded : MqttReasonCode.UnspecifiedError;
                foreach (var i in indexes)
                {
                    codes[i] = V5 ? (byte)code : (byte)0x80;
                }
            }
        }

        Send(new Control(MqttPacketType.SubAck, subscribe.PacketId, 0, codes));
        if (startInbox && !_inbox)
        {
            _inbox = true;
            _engine.Start(_connection!); // letters flow from the inbox: TryDeliver
        }
    }

    /// <summary>Ends the connection for a protocol violation: 5.0 says why in a DISCONNECT (MQTT-4.13.1-1), 3.1.1 just closes.</summary>
    private bool Violation(in MqttError error)
    {
        MqttLog.ProtocolError(_logger, _client.Value ?? "?", _remote, error.Message);
        if (V5)
        {
            lock (_gate)
            {
                _closing = true;
                _controls.Enqueue(new Control(MqttPacketType.Disconnect, 0, error.Code));
            }

            Signal();
        }

        return false;
    }

    // ---- The core's side ----------------------------------------------------------------------------------------

    /// <summary>
    /// A letter from the client's inbox (after it subscribed to <c>$inbox/#</c>): a QoS 1 PUBLISH on
    /// <c>$inbox/{author}</c>, DUP when it comes again; its PUBACK acknowledges it in the inbox.
    /// </summary>
    public bool TryDeliver(Letter letter, int deliveries)
    {
        var p = new Publication
        {
            Tenant = letter.Tenant,
            Topic = "$inbox/" + letter.Author.Value,
            Author = letter.Author,
            Payload = letter.Payload,
            ContentType = letter.ContentType,
            Qos = QualityOfService.AtLeastOnce,
            Timestamp = letter.Timestamp,
        };
        lock (_gate)
        {
            if (_closing)
            {
                return true; // unacknowledged, it goes back to the inbox with the connection
            }
        }

        return Offer(p, QualityOfService.AtLeastOnce, [], retain: false, letter.Id, dup: deliveries > 1);
    }

    public bool TryPublish(Publication publication) => Offer(publication, QualityOfService.AtMostOnce, []);

    public bool TryPublish(Publication publication, ReadOnlySpan<Subscription> matched)
    {
        var max = QualityOfService.AtMostOnce;
        var ids = 0;
        var asPublished = false;
        foreach (var s in matched)
        {
            max = s.Options.MaxQos > max ? s.Options.MaxQos : max;
            ids += s.Options.SubscriptionIdentifier is null ? 0 : 1;
            asPublished |= s.Options.RetainAsPublished;
        }

        // The retain flag: set on a retained message sent for a new subscription; on a live one only in 5.0 with
        // Retain As Published (MQTT-3.3.1-12/13; 3.1.1 clears it, MQTT-3.3.1-9).
        var retain = publication.IsRetainedCopy || (publication.Retain && asPublished && V5);

        int[] identifiers = [];
        if (ids > 0 && V5)
        {
            identifiers = new int[ids];
            var n = 0;
            foreach (var s in matched)
            {
                if (s.Options.SubscriptionIdentifier is { } id)
                {
                    identifiers[n++] = id;
                }
            }
        }

        // Delivered at the lower of the published QoS and the highest granted one (MQTT-3.8.4-8).
        return Offer(publication, publication.Qos < max ? publication.Qos : max, identifiers, retain);
    }

    private bool Offer(Publication publication, QualityOfService qos, int[] identifiers, bool retain = false, Guid letterId = default, bool dup = false)
    {
        var size = publication.Payload.Length + publication.Topic.Length + 64;
        lock (_gate)
        {
            if (_closing || _controls.Count + _publications.Count >= _options.OutboxCapacity || _queuedBytes + size > _options.OutboxBytes)
            {
                return false;
            }

            _publications.Enqueue(new Outgoing(publication, (byte)qos, identifiers, size, retain) { LetterId = letterId, Dup = dup });
            _queuedBytes += size;
        }

        Signal();
        return true;
    }

    public void Close(CloseReason reason)
    {
        var code = reason switch
        {
            CloseReason.ServerShutdown => MqttReasonCode.ServerShuttingDown,
            CloseReason.HeartbeatTimeout => MqttReasonCode.KeepAliveTimeout,
            CloseReason.SlowConsumer => MqttReasonCode.QuotaExceeded,
            _ => MqttReasonCode.Success,
        };
        CloseWith(code);
    }

    /// <summary>Another connection with this client id connected: this one ends (5.0: DISCONNECT 0x8E, MQTT-3.1.4-3).</summary>
    public void TakeOver()
    {
        MqttLog.TakenOver(_logger, _client.Value);
        _disconnectedNormally = true; // the session moves on; its will is not sent
        if (_connection is { } c)
        {
            _engine.Disconnect(c);
        }

        CloseWith(MqttReasonCode.SessionTakenOver);
    }

    private void CloseWith(MqttReasonCode code)
    {
        lock (_gate)
        {
            if (_closing)
            {
                return;
            }

            _closing = true;
            if (V5)
            {
                _controls.Enqueue(new Control(MqttPacketType.Disconnect, 0, code));
            }
        }

        Signal();
        if (!V5)
        {
            // Not inline: this may run under the core's tenant lock, and the read loop's end must not.
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Cancel(), _stop, preferLocal: false);
        }
    }

    // ---- Writing ------------------------------------------------------------------------------------------------

    /// <summary>Queues an answer from the read loop; the writer wakes when the read's packets are handled.</summary>
    private void Send(Control control)
    {
        lock (_gate)
        {
            _controls.Enqueue(control);
        }

        _wakePending = true;
    }

    private async Task WriteLoopAsync()
    {
        var output = _transport.Output;
        var maxInflight = Math.Min(_options.MaxInflight, _clientReceiveMaximum);
        try
        {
            var more = false;
            while (true)
            {
                if (!more)
                {
                    await _signal.WaitAsync(_stop.Token);
                }

                Volatile.Write(ref _signaled, 0); // before the drain: what is queued after it signals again

                more = false;
                var wrote = false;
                var ending = false;
                var batch = 0;
                lock (_gate)
                {
                    // At most FlushBytes leave per flush, so what waits stays in the bounded outbox, not in the pipe.
                    while (batch < FlushBytes && _controls.TryDequeue(out var c))
                    {
                        batch += 16;
                        WriteControl(output, c);
                        wrote = true;
                        if (c.Type == MqttPacketType.Disconnect)
                        {
                            ending = true;
                            _publications.Clear();
                            break;
                        }
                    }

                    while (!ending && batch < FlushBytes && _publications.Count > 0 && (_publications.Peek().Qos == 0 || _inflight.Count < maxInflight))
                    {
                        var o = _publications.Dequeue();
                        batch += o.Size;
                        _queuedBytes -= o.Size;
                        if (o.Qos > 0)
                        {
                            o = o with { PacketId = NextPacketId() };
                            _inflight[o.PacketId] = o;
                        }

                        if (!WritePublish(output, o) && o.Qos > 0)
                        {
                            _inflight.Remove(o.PacketId); // over the client's Maximum Packet Size: discarded (MQTT-3.1.2-24)
                        }

                        wrote = true;
                    }

                    more = !ending && (_controls.Count > 0 || (_publications.Count > 0 && (_publications.Peek().Qos == 0 || _inflight.Count < maxInflight)));
                }

                if (wrote)
                {
                    var flush = await output.FlushAsync(_stop.Token);
                    if (flush.IsCompleted)
                    {
                        return;
                    }
                }

                if (_readerWaiting)
                {
                    _readerWaiting = false;
                    _drained.Release();
                }

                if (ending)
                {
                    _stop.Cancel();
                    return;
                }

                lock (_gate)
                {
                    if (_finishing && _controls.Count == 0)
                    {
                        return; // the session ended and what it had queued has left
                    }
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ConnectionAbortedException or ObjectDisposedException or InvalidOperationException)
        {
            // The connection ended.
        }
    }

    private ushort NextPacketId()
    {
        do
        {
            _nextPacketId = _nextPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_nextPacketId + 1);
        }
        while (_inflight.ContainsKey(_nextPacketId));
        return _nextPacketId;
    }

    private bool WritePublish(PipeWriter output, in Outgoing o)
    {
        var p = o.Publication;
        var slot = WebSockets.EncodedFrames.Of(p);
        var cache = slot.Mqtt as MqttEncoded ?? (MqttEncoded)(slot.Mqtt = MqttEncoded.For(p));
        var properties = V5 ? cache.Properties : [];
        if (p.ExpiresAt is { } expires)
        {
            // Not sent once expired (MQTT-3.3.2-5); sent with the time that remains (MQTT-3.3.2-6), encoded per delivery.
            var remaining = expires - _engine.Time.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                return false;
            }

            properties = V5 ? MqttEncoded.PropertiesOf(p, (uint)Math.Ceiling(remaining.TotalSeconds)) : properties;
        }

        return MqttEncoder.TryWritePublish(output, _version, cache.Topic, p.Payload.Span, o.Qos, o.Retain, o.Dup, o.PacketId,
            properties, 0, o.Identifiers, _clientMaxPacketSize);
    }

    private void WriteControl(PipeWriter output, in Control c)
    {
        switch (c.Type)
        {
            case MqttPacketType.PingResp:
                MqttEncoder.WritePingResp(output);
                break;
            case MqttPacketType.SubAck:
                MqttEncoder.TryWriteSubAck(output, _version, c.PacketId, c.Codes, null, _clientMaxPacketSize);
                break;
            case MqttPacketType.UnsubAck:
                MqttEncoder.TryWriteUnsubAck(output, _version, c.PacketId, c.Codes, null, _clientMaxPacketSize);
                break;
            case MqttPacketType.Disconnect:
                MqttEncoder.TryWriteReason(output, _version, MqttPacketType.Disconnect, c.Reason, null, _clientMaxPacketSize);
                break;
            default:
                MqttEncoder.TryWriteAck(output, _version, c.Type, c.PacketId, V5 ? c.Reason : 0, null, _clientMaxPacketSize);
                break;
        }
    }

    // ---- The end ------------------------------------------------------------------------------------------------

    private async Task EndAsync(Task? writer)
    {
        if (_connection is { } c)
        {
            // Letters the client acknowledged are acknowledged in the inbox before the rest go back to it (else they
            // would come again). AckLettersAsync never throws.
            await Task.WhenAny(_lastLetterAck, Task.Delay(TimeSpan.FromSeconds(5)));
            _engine.Disconnect(c);
            _registry.Remove(_tenant, _client, this);
            if (!_disconnectedNormally && _will is { } will)
            {
                PublishWill(will);
            }
        }

        lock (_gate)
        {
            _closing = true;
            _finishing = true;
        }

        Signal();
        if (writer is not null)
        {
            // Let what is queued (a DISCONNECT with its reason) leave, briefly.
            await Task.WhenAny(writer, Task.Delay(TimeSpan.FromSeconds(1)));
        }

        await _stop.CancelAsync();
        try
        {
            await _transport.Output.CompleteAsync();
            await _transport.Input.CompleteAsync();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }

        _abort();
    }

    private void PublishWill(WillMessage will)
    {
        var delay = will.Properties?.WillDelayInterval ?? 0;
        if (delay == 0)
        {
            SendWill(will);
            return;
        }

        // Sent after the Will Delay unless the client connects again first (MQTT-3.1.3-9).
        ITimer? timer = null;
        timer = _engine.Time.CreateTimer(_ =>
        {
            _registry.WillDone(_tenant, _client, timer!);
            SendWill(will);
            timer!.Dispose();
        }, null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _registry.HoldWill(_tenant, _client, timer);
        timer.Change(TimeSpan.FromSeconds(delay), Timeout.InfiniteTimeSpan);
    }

    private void SendWill(WillMessage will)
    {
        try
        {
            _engine.Topics.Publish(_tenant, _client, will.Topic, will.Payload, will.Properties?.ContentType ?? Publication.OpaqueContentType,
                (QualityOfService)will.Qos, will.Retain, out var stored);
            stored.ContinueWith(static (t, s) =>
            {
                var (logger, client, topic) = ((ILogger, string, string))s!;
                MqttLog.WillFailed(logger, client, topic, t.Exception!.GetBaseException().Message);
            }, (_logger, _client.Value, will.Topic), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
        catch (DaakiaException ex)
        {
            MqttLog.WillFailed(_logger, _client.Value, will.Topic, ex.Message);
        }
    }

    /// <summary>A control packet to send: an acknowledgement, SUBACK/UNSUBACK with their codes, PINGRESP, DISCONNECT.</summary>
    private readonly record struct Control(MqttPacketType Type, ushort PacketId, MqttReasonCode Reason, byte[]? Codes = null);

    /// <summary>A publication on its way to this client, and once sent at QoS 1/2, in flight under its packet id.</summary>
    private readonly record struct Outgoing(Publication Publication, byte Qos, int[] Identifiers, int Size, bool Retain = false)
    {
        /// <summary>The letter this PUBLISH carries (on <c>$inbox/…</c>), acknowledged by its PUBACK; empty for a publication.</summary>
        public Guid LetterId { get; init; }

        /// <summary>A letter handed out before (MQTT's DUP flag).</summary>
        public bool Dup { get; init; }

        public ushort PacketId { get; init; }

        /// <summary>QoS 2: PUBREC came and PUBREL went; waiting for PUBCOMP.</summary>
        public bool Released { get; init; }
    }
}

/// <summary>What every MQTT delivery of one publication shares, made once: the topic's UTF-8 bytes and the 5.0
/// property block (content type).</summary>
internal sealed class MqttEncoded
{
    private MqttEncoded(byte[] topic, byte[] properties)
    {
        Topic = topic;
        Properties = properties;
    }

    public byte[] Topic { get; }

    public byte[] Properties { get; }

    public static MqttEncoded For(Publication p) => new(Encoding.UTF8.GetBytes(p.Topic), PropertiesOf(p, null));

    /// <summary>The 5.0 property block of a publication: content type, payload format, response topic, correlation data,
    /// user properties, and the message expiry that remains when given.</summary>
    public static byte[] PropertiesOf(Publication p, uint? expiry)
    {
        var x = p.Properties;
        if (p.ContentType is Publication.OpaqueContentType && x is null && expiry is null)
        {
            return [];
        }

        return MqttEncoder.EncodeProperties(new MqttProperties
        {
            ContentType = p.ContentType is Publication.OpaqueContentType ? null : p.ContentType,
            PayloadFormatIndicator = x?.PayloadFormat,
            ResponseTopic = x?.ResponseTopic,
            CorrelationData = x?.CorrelationData?.ToArray(),
            UserProperties = x is { UserProperties.Count: > 0 } ? [.. x.UserProperties] : null,
            MessageExpiryInterval = expiry,
        });
    }
}
