using System.Globalization;

namespace Daakia.LoadTest;

/// <summary>CPU time, resident memory and disk writes of another process, from /proc; sizes of data directories.</summary>
internal static class ProcStats
{
    private const double TicksPerSecond = 100; // CLK_TCK on Linux

    /// <summary>User + system CPU seconds used so far by the process (0 when unknown).</summary>
    public static double CpuSeconds(int? pid)
    {
        if (pid is null || !File.Exists($"/proc/{pid}/stat"))
        {
            return 0;
        }

        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // After the command name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
    }

    /// <summary>Resident set size in KiB (VmRSS).</summary>
    public static long RssKib(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    /// <summary>
    /// Bytes the process has caused to be sent to the storage layer (<c>write_bytes</c> of /proc/PID/io; counted when a
    /// page is dirtied, so it includes WAL appends and checkpoints as they happen); 0 when unknown.
    /// </summary>
    public static long WriteBytes(int? pid) => IoField(pid, "write_bytes:");

    /// <summary>Bytes of dirtied pages that were truncated or deleted before they reached the disk (<c>cancelled_write_bytes</c>).</summary>
    public static long CancelledWriteBytes(int? pid) => IoField(pid, "cancelled_write_bytes:");

    /// <summary>Sum of the lengths of every file under <paramref name="directory"/> (0 when it does not exist).</summary>
    public static long DirectoryBytes(string? directory)
    {
        if (directory is null || !Directory.Exists(directory))
        {
            return 0;
        }

        long total = 0;
        foreach (var file in Directory.EnumerateFiles(directory, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true }))
        {
            try
            {
                total += new FileInfo(file).Length;
            }
            catch (FileNotFoundException)
            {
                // Deleted while we looked (a segment rolled over).
            }
        }

        return total;
    }

    private static long IoField(int? pid, string name)
    {
        if (pid is null || !File.Exists($"/proc/{pid}/io"))
        {
            return 0;
        }

        foreach (var line in File.ReadLines($"/proc/{pid}/io"))
        {
            if (line.StartsWith(name, StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(name.Length).Trim(), CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }
}
