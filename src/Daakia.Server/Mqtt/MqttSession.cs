using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
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
internal sealed partial class MqttSession : ISubscriptionAwareTarget
{
    private readonly DaakiaEngine _engine;
    private readonly TenantResolver _tenants;
    private readonly MqttOptions _options;
    private readonly MqttSessionRegistry _registry;
    private readonly ILogger _logger;
    private readonly IDuplexPipe _transport;
    private readonly object? _remote; // the peer (an EndPoint, or the WebSocket's text), formatted only on the paths that log it
    private readonly Action _abort;
    private readonly MqttFrameReader _frames;

    /// <summary>Bytes of packets the write loop hands the pipe between two flushes, about.</summary>
    private const int FlushBytes = 64 * 1024;
    private readonly CancellationTokenSource _stop = new();

    // The outbox, guarded by _gate.
    private readonly Lock _gate = new();
    // Made on first use, so an idle connection holds none of them.
    private Queue<Control>? _controls;
    private Queue<Outgoing>? _publications;
    private Dictionary<ushort, Outgoing>? _inflight;
    private readonly AsyncSignal _signal = new();
    private SemaphoreSlim? _drained; // the read loop waits on it for outbox room (made on its first wait)
    private volatile bool _readerWaiting;
    private bool _wakePending; // the read loop's: it queued for the writer since its last wake
    private int _signaled; // 1 while a wake of the writer is pending (Signal)
    private List<MqttSession>? _heldWakes; // subscribers' wakes this client's routes held back (MqttPacing.Defer)
    private bool _wakesPooled; // this read woke more than InlineWakes subscribers: the rest go through the pool
    private int _heldRoutes; // publications this read routed while holding wakes (InlineBurst)
    private bool _windowFreed; // this read's PUBACK / PUBCOMP freed window room while publications wait
    private Task _lastLetterAck = Task.CompletedTask; // the read loop's: awaited before the connection's letters go back
    private List<Guid>? _letterAcks; // under _gate: letters whose PUBACK came, acknowledged in the inbox after the read
    private bool _inbox; // the client subscribed to its letters
    private const string InboxFilter = "$inbox/#";
    private List<Guid>? _sessionAcks; // under _gate: session messages whose PUBACK came (or discarded), acknowledged after the read
    private List<(Guid Message, ushort PacketId)>? _sessionReleases; // under _gate: session messages whose PUBREC came
    private long _queuedBytes;
    private ushort _nextPacketId;
    private bool _closing;
    private bool _finishing;
    private bool _writerEnded; // under _gate: nothing leaves the outbox any more, so nobody is paced on it
    private bool _paceExempt; // under _gate: a publisher waited for this outbox in vain; it paces nobody until drained
    private PaceMark _mark; // under _gate: the outbox's pacing mark, PaceMilliseconds of its measured drain (MqttSession.Pacing.cs)

    // Read-loop state.
    private List<PendingAck>? _pending; // made on the first answer held back
    private Task<bool> _draining = Task.FromResult(true); // the read loop's: the previous read's answers being given
    private MqttReasonCode? _violation; // the read loop's: a 5.0 DISCONNECT to send once those answers are given
    private HashSet<MqttSession>? _paceFull; // the read loop's: subscribers' outboxes this read filled past their mark
    private string?[]? _aliases; // topic aliases from the client, up to _aliasMaximum: made when the first is set
    private int _aliasMaximum;

    // The session: a clean session's state is the connection's; a persistent session's outlives it (the core keeps it).
    private MqttSessionState _state = new();
    private PersistentSession? _session;
    private bool _cleanStart;
    private uint _expiry;
    private MqttProperties? _connAckProps;
    private (string Method, byte[]? Data)? _authentication; // an enhanced authentication that succeeded

    private MqttVersion _version;
    private TenantId _tenant;
    private ClientId _client;
    private ClientConnection? _connection;
    private WillMessage? _will;
    private bool _disconnectedNormally;
    private int _clientReceiveMaximum = 65_535;
    private int _clientMaxPacketSize = MqttEncoder.NoLimit;

    // Topic aliases towards the client (5.0, up to its Topic Alias Maximum): the write loop's.
    private int _clientTopicAliasMaximum;
    private Dictionary<string, ushort>? _outAliases;

    public MqttSession(DaakiaEngine engine, TenantResolver tenants, MqttOptions options, MqttSessionRegistry registry, ILogger logger,
        IDuplexPipe transport, object? remote, Action abort)
    {
        _engine = engine;
        _tenants = tenants;
        _options = options;
        _mark = new PaceMark(options.PaceBytes);
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
        // Three ends, without a linked source per connection: _stop (cancelled by the transport's end too, through one
        // registration) ends the read side's waits; the read itself ends only with the pipe or the session's own Stop
        // (so packets that came before a client's FIN are still answered); the write loop ends when EndAsync lets it
        // (so what is queued when a client half-closes still leaves).
        using var abortion = aborted.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _stop);
        var stop = _stop.Token;
        Task? writer = null;
        _registry.SessionStarted();
        try
        {
            if (!await ConnectAsync(stop))
            {
                await _transport.Output.FlushAsync(CancellationToken.None);
                return;
            }

            // The connection takes no letters yet (the core's Start is not called: letters wait in the inbox until the
            // inbox topic arrives, docs/mqtt-design.md); publications flow at once.
            await _transport.Output.FlushAsync(stop); // the CONNACK
            writer = WriteLoopAsync();
            if (_session is { } session)
            {
                Resume(session);
            }

            await ReadLoopAsync(stop);
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
            await _draining; // answers of the last read that wait for the store go first (never faults; bounded by the store)
            await EndAsync(writer);
            _registry.SessionEnded();
        }
    }

    // ---- CONNECT ------------------------------------------------------------------------------------------------

    private async Task<bool> ConnectAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(_options.ConnectTimeoutSeconds));
        var input = _transport.Input;
        Packet? next;
        try
        {
            next = await ReadPacketAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            MqttLog.Refused(_logger, _remote?.ToString(), "no CONNECT within the connect timeout");
            return false;
        }

        if (next is not { } packet)
        {
            return false;
        }

        var (status, frame, consumed, error) = packet;
        if (status == MqttFrameStatus.Error || frame.Type != MqttPacketType.Connect)
        {
            // The first packet must be a CONNECT (MQTT-3.1.0-1); nothing is known of the version to answer in.
            MqttLog.Refused(_logger, _remote?.ToString(), status == MqttFrameStatus.Error ? error.Message : $"the first packet is {frame.Type}, not CONNECT");
            return false;
        }

        var connect = Decode(frame);
        input.AdvanceTo(consumed);
        if (connect is null)
        {
            return false;
        }

        if (connect.Properties?.AuthenticationMethod is { } method)
        {
            if (_registry.Authenticator(method) is not { } authenticator)
            {
                return Refuse(MqttReasonCode.BadAuthenticationMethod, MqttConnectReturnCode.NotAuthorized, $"the authentication method '{method}' is not offered");
            }

            try
            {
                if (!await AuthenticateAsync(connect, authenticator, timeout.Token))
                {
                    return false;
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return Refuse(MqttReasonCode.NotAuthorized, MqttConnectReturnCode.NotAuthorized, "the authentication did not finish within the connect timeout");
            }
        }

        return Admit(connect) && await OpenSessionAsync();
    }

    /// <summary>
    /// MQTT 5 enhanced authentication (MQTT 4.12): the CONNECT's data is the first step, each Continue goes to the client
    /// as AUTH 0x18 and its AUTH answer is the next step. True once authenticated (the CONNACK will name the method);
    /// false once refused (a CONNACK with the reason is written).
    /// </summary>
    private async Task<bool> AuthenticateAsync(ConnectPacket connect, IMqttEnhancedAuthenticator authenticator, CancellationToken cancellationToken)
    {
        var method = authenticator.Method;
        var input = _transport.Input;
        ReadOnlyMemory<byte>? data = connect.Properties!.AuthenticationData;
        object? state = null;
        for (var step = 0; ; step++)
        {
            MqttAuthStep answer;
            try
            {
                answer = await authenticator.AuthenticateAsync(new MqttAuthRequest(connect.ClientId, connect.UserName, step, data, state), cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                MqttLog.SessionFailed(_logger, ex, connect.ClientId);
                return Refuse(MqttReasonCode.UnspecifiedError, MqttConnectReturnCode.ServerUnavailable, "the authentication failed on the server");
            }

            state = answer.State;
            switch (answer.Outcome)
            {
                case MqttAuthOutcome.Success:
                    _authentication = (method, answer.Data?.ToArray());
                    return true;
                case MqttAuthOutcome.Continue when step + 1 < IMqttEnhancedAuthenticator.MaxSteps:
                    break;
                case MqttAuthOutcome.Continue:
                    return Refuse(MqttReasonCode.NotAuthorized, MqttConnectReturnCode.NotAuthorized, $"the authentication took more than {IMqttEnhancedAuthenticator.MaxSteps} steps");
                default:
                    return Refuse(MqttReasonCode.NotAuthorized, MqttConnectReturnCode.NotAuthorized, answer.Reason ?? "not authorized");
            }

            MqttEncoder.TryWriteReason(_transport.Output, MqttVersion.V500, MqttPacketType.Auth, MqttReasonCode.ContinueAuthentication,
                new MqttProperties { AuthenticationMethod = method, AuthenticationData = answer.Data?.ToArray() });
            await _transport.Output.FlushAsync(cancellationToken);

            // The client's answer: an AUTH 0x18 with the same method (MQTT-4.12.0-2/-3); anything else ends it.
            while (true)
            {
                if (await ReadPacketAsync(cancellationToken) is not { } packet)
                {
                    return false;
                }

                var (status, frame, consumed, error) = packet;
                if (status == MqttFrameStatus.Error)
                {
                    input.AdvanceTo(consumed);
                    return Refuse(error.Code, MqttConnectReturnCode.NotAuthorized, error.Message);
                }

                if (frame.Type == MqttPacketType.Disconnect)
                {
                    input.AdvanceTo(consumed);
                    return false; // the client gave up
                }

                if (frame.Type != MqttPacketType.Auth || !MqttDecoder.TryDecodeReason(frame, MqttVersion.V500, out var auth, out error))
                {
                    input.AdvanceTo(consumed);
                    return Refuse(MqttReasonCode.ProtocolError, MqttConnectReturnCode.NotAuthorized,
                        frame.Type == MqttPacketType.Auth ? error.Message : $"a {frame.Type} packet during the authentication exchange [MQTT-4.12.0-4]");
                }

                input.AdvanceTo(consumed);
                if (auth.Reason != MqttReasonCode.ContinueAuthentication || auth.Properties?.AuthenticationMethod != method)
                {
                    return Refuse(MqttReasonCode.ProtocolError, MqttConnectReturnCode.NotAuthorized,
                        "an AUTH during the exchange continues it (0x18) with the CONNECT's authentication method [MQTT-4.12.0-5]");
                }

                data = auth.Properties.AuthenticationData;
                break;
            }
        }
    }

    /// <summary>
    /// The session (docs/mqtt-design.md, persistent sessions): 3.1.1's clean session 0 and 5.0's session expiry above 0
    /// keep one in the core, durable before CONNACK; clean start discards the one there was. Then CONNACK, with Session
    /// Present when one was resumed.
    /// </summary>
    private async Task<bool> OpenSessionAsync()
    {
        var present = false;
        try
        {
            var opened = await _engine.Sessions.OpenAsync(_connection!, _cleanStart, _expiry);
            if (opened.Session is { } session)
            {
                _session = session;
                _state = session.AdapterState as MqttSessionState ?? (MqttSessionState)(session.AdapterState = new MqttSessionState(session.RestoredReleases, fromRestart: opened.Present));
                present = opened.Present;
            }
        }
        catch (Exception ex) when (ex is DaakiaException or InvalidOperationException or IOException)
        {
            var quota = ex is DaakiaException { Code: DaakiaErrorCode.LimitExceeded };
            return Refuse(quota ? MqttReasonCode.QuotaExceeded : MqttReasonCode.ServerUnavailable, MqttConnectReturnCode.ServerUnavailable, ex.Message);
        }

        MqttEncoder.TryWriteConnAck(_transport.Output, _version, sessionPresent: present, 0, _connAckProps);
        return true;
    }

    /// <summary>A persistent session's connection starts: PUBRELs still awaiting PUBCOMP go again first, then the queue
    /// resends what was in flight (DUP, same packet ids) and goes on with what waited.</summary>
    private void Resume(PersistentSession session)
    {
        var releases = _state.AwaitingComplete();
        if (releases.Length > 0)
        {
            lock (_gate)
            {
                foreach (var id in releases)
                {
                    (_controls ??= new()).Enqueue(new Control(MqttPacketType.PubRel, id, 0));
                }
            }

            Signal();
        }

        _engine.Sessions.Start(session, _connection!);
        if (_engine.Sessions.HasSubscription(session, InboxFilter) && !_inbox)
        {
            _inbox = true;
            _engine.Start(_connection!); // its letters, as when it subscribed to them
        }
    }

    /// <summary>A whole packet (or a framing error) before CONNACK; the caller advances past <c>Consumed</c>.</summary>
    private readonly record struct Packet(MqttFrameStatus Status, MqttFrame Frame, SequencePosition Consumed, MqttError Error);

    /// <summary>Reads until a whole packet or a framing error is there (null: the pipe ended first). On an error,
    /// <c>Consumed</c> is the end of what was read.</summary>
    private async ValueTask<Packet?> ReadPacketAsync(CancellationToken cancellationToken)
    {
        var input = _transport.Input;
        while (true)
        {
            var read = await input.ReadAsync(cancellationToken);
            var buffer = read.Buffer;
            var status = _frames.TryRead(buffer, out var frame, out var consumed, out var error);
            if (status != MqttFrameStatus.Incomplete)
            {
                return new Packet(status, frame, status == MqttFrameStatus.Error ? buffer.End : consumed, error);
            }

            if (read.IsCompleted)
            {
                return null;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>The CONNECT, or null when it is malformed (answered as the client's level reads, where it can be).</summary>
    private ConnectPacket? Decode(in MqttFrame frame)
    {
        var output = _transport.Output;
        if (!MqttDecoder.TryDecodeConnect(frame, out var connect, out var error, out var level))
        {
            MqttLog.Refused(_logger, _remote?.ToString(), error.Message);
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

            return null;
        }

        _version = connect.Version;
        return connect;
    }

    /// <summary>Admits the client of a well-formed (and, with a method, authenticated) CONNECT; false if refused.</summary>
    private bool Admit(ConnectPacket connect)
    {
        var props = connect.Properties;
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
        _clientTopicAliasMaximum = Math.Min(props?.TopicAliasMaximum ?? 0, _options.MaxOutboundTopicAliases);
        _aliasMaximum = _options.TopicAliasMaximum;
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

        // 3.1.1: clean session 0 keeps the session for ever (as mosquitto's default); 5.0: as long as the client asks.
        _cleanStart = connect.CleanStart;
        _expiry = V5 ? props?.SessionExpiryInterval ?? 0 : connect.CleanStart ? 0 : Core.Storage.SessionRecord.Never;
        if (V5)
        {
            _connAckProps = new MqttProperties
            {
                ReceiveMaximum = (ushort)_options.ReceiveMaximum,
                MaximumPacketSize = (uint)_options.MaxPacketSize,
                TopicAliasMaximum = (ushort)_options.TopicAliasMaximum,
                AssignedClientIdentifier = assigned ? id : null,
                ServerKeepAlive = keepAlive != connect.KeepAlive ? (ushort)keepAlive : null,
                AuthenticationMethod = _authentication?.Method,
                AuthenticationData = _authentication?.Data,
            };
        }

        return true;
    }

    private bool Refuse(MqttReasonCode v5, MqttConnectReturnCode v311, string reason)
    {
        MqttLog.Refused(_logger, _remote?.ToString(), reason);
        MqttEncoder.TryWriteConnAck(_transport.Output, _version, false, V5 ? (byte)v5 : (byte)v311, V5 ? new MqttProperties { ReasonString = reason } : null);
        return false;
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
            ReleasePacedLocked();
        }

        Signal();
        if (writer is not null)
        {
            // Let what is queued (a DISCONNECT with its reason) leave, briefly.
            await Task.WhenAny(writer, Task.Delay(TimeSpan.FromSeconds(1)));
        }

        _signal.Cancel(); // the write loop's wait ends, and so does a flush the client never reads
        _transport.Output.CancelPendingFlush();
        if (writer is not null)
        {
            await Task.WhenAny(writer, Task.Delay(TimeSpan.FromSeconds(1))); // gone before the pipe completes under it
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

    /// <summary>How long a session the server closed (MQTT 5: its DISCONNECT queued) waits for that to be written.</summary>
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(2);

    /// <summary>The session ends itself: the read side's waits and the read itself end.</summary>
    private void Stop()
    {
        _stop.Cancel();
        try
        {
            _transport.Input.CancelPendingRead();
        }
        catch (InvalidOperationException)
        {
            // the session's end completed the pipe already
        }
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
}
