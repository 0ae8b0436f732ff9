namespace Daakia.Server.Http;

/// <summary>A REST request refused by the adapter before it reaches the core.</summary>
internal sealed class RestException(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string Code { get; } = code;

    public static RestException Invalid(string message) => new(400, ErrorCodes.InvalidArgument, message);
}
