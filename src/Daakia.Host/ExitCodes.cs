namespace Daakia.Host;

/// <summary>Exit codes of <c>daakia</c> besides 0 (stopped normally) and 1 (a command-line parse error or a crash).</summary>
public static class ExitCodes
{
    /// <summary>The configuration is invalid; nothing was started (EX_CONFIG of sysexits.h).</summary>
    public const int Configuration = 78;
}
