namespace Daakia.Host;

/// <summary>
/// The configuration is invalid: nothing was started. <see cref="Exception.Message"/> lists every problem, one per
/// line, each naming its configuration key and where the value came from.
/// </summary>
public sealed class DaakiaConfigurationException : Exception
{
    public DaakiaConfigurationException(IReadOnlyList<string> problems)
        : base(Describe(problems)) => Problems = problems;

    public DaakiaConfigurationException()
        : this([])
    {
    }

    public DaakiaConfigurationException(string message)
        : this([message])
    {
    }

    public DaakiaConfigurationException(string message, Exception innerException)
        : base(message, innerException) => Problems = [message];

    /// <summary>Each problem, e.g. <c>Daakia:Core:InboxPageSize must be between 1 and 10000 (was 0) [environment variable DAAKIA_Core__InboxPageSize]</c>.</summary>
    public IReadOnlyList<string> Problems { get; }

    private static string Describe(IReadOnlyList<string> problems) =>
        $"Invalid configuration, not starting ({problems.Count} {(problems.Count == 1 ? "problem" : "problems")}):{Environment.NewLine}  " +
        string.Join(Environment.NewLine + "  ", problems);
}
