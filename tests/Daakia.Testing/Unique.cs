namespace Daakia.Testing;

/// <summary>Unique names per test, so tests never share clients, topics or data directories.</summary>
public static class Unique
{
    private static int s_counter;

    public static string Name(string prefix) => $"{prefix}-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}-{Guid.NewGuid().ToString("N")[..6]}";

    public static string TempDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "daakia-tests", Name("d"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
