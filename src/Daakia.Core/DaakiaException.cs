using System.Diagnostics.CodeAnalysis;

namespace Daakia.Core;

/// <summary>An operation the core refused, with a code every adapter maps to its wire.</summary>
public sealed class DaakiaException : Exception
{
    public DaakiaException(DaakiaErrorCode code, string message) : base(message) => Code = code;

    public DaakiaException() : this(DaakiaErrorCode.InvalidArgument, "Invalid request.") { }

    public DaakiaException(string message) : this(DaakiaErrorCode.InvalidArgument, message) { }

    public DaakiaException(string message, Exception innerException) : base(message, innerException) => Code = DaakiaErrorCode.InvalidArgument;

    public DaakiaErrorCode Code { get; }

    public static DaakiaException Invalid(string message) => new(DaakiaErrorCode.InvalidArgument, message);

    [DoesNotReturn]
    public static void Throw(DaakiaErrorCode code, string message) => throw new DaakiaException(code, message);
}
