namespace Daakia.Server.Mqtt;

/// <summary>
/// MQTT 5 enhanced authentication (the AUTH packet's hook, MQTT 4.12): one implementation per authentication method,
/// registered in the service collection. A CONNECT naming a method no authenticator offers is refused with 0x8C (Bad
/// authentication method); with one, the CONNECT's authentication data is its first step, and each
/// <see cref="MqttAuthOutcome.Continue"/> sends the client an AUTH (0x18, continue authentication) whose answer is the
/// next step, until success (CONNACK, with the method and the last data) or failure (CONNACK 0x87, Not authorized). The
/// whole exchange is bounded by the connect timeout and <see cref="MaxSteps"/>.
/// </summary>
public interface IMqttEnhancedAuthenticator
{
    /// <summary>Most steps of one exchange; past it the connection is refused.</summary>
    const int MaxSteps = 16;

    /// <summary>The method's name as clients give it in the Authentication Method property (e.g. <c>SCRAM-SHA-256</c>).</summary>
    string Method { get; }

    /// <summary>One step of an exchange: what the client sent, and what this authenticator kept from the step before.</summary>
    ValueTask<MqttAuthStep> AuthenticateAsync(MqttAuthRequest request, CancellationToken cancellationToken);
}

/// <summary>One step of an enhanced authentication exchange, as the client sent it.</summary>
/// <param name="ClientId">The CONNECT's client id (empty when the server is to assign one).</param>
/// <param name="UserName">The CONNECT's user name, if any.</param>
/// <param name="Step">0 for the CONNECT's data, then 1, 2, … for each AUTH.</param>
/// <param name="Data">The Authentication Data property, if the packet had one.</param>
/// <param name="State">What the previous step's answer kept (<see cref="MqttAuthStep.State"/>); null at step 0.</param>
public sealed record MqttAuthRequest(string ClientId, string? UserName, int Step, ReadOnlyMemory<byte>? Data, object? State);

/// <summary>What an authenticator answers to one step.</summary>
public enum MqttAuthOutcome
{
    /// <summary>Authenticated: the CONNACK follows (with <see cref="MqttAuthStep.Data"/> if any).</summary>
    Success,

    /// <summary>Another round: an AUTH 0x18 with <see cref="MqttAuthStep.Data"/> goes to the client.</summary>
    Continue,

    /// <summary>Refused: CONNACK 0x87 (Not authorized) with <see cref="MqttAuthStep.Reason"/> as its reason string.</summary>
    Fail,
}

/// <summary>An authenticator's answer to one step.</summary>
public readonly record struct MqttAuthStep(MqttAuthOutcome Outcome, ReadOnlyMemory<byte>? Data = null, string? Reason = null, object? State = null)
{
    public static MqttAuthStep Succeed(ReadOnlyMemory<byte>? data = null) => new(MqttAuthOutcome.Success, data);

    public static MqttAuthStep Continue(ReadOnlyMemory<byte> data, object? state = null) => new(MqttAuthOutcome.Continue, data, State: state);

    public static MqttAuthStep Refuse(string reason) => new(MqttAuthOutcome.Fail, Reason: reason);
}
