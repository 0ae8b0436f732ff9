using System.Diagnostics;
using System.Globalization;

namespace Daakia.LoadTest;

/// <summary>The disk's raw rate of small write + fsync: the ceiling of a store that fsyncs every message alone.</summary>
internal static class FsyncScenario
{
    public static int Run(Args args)
    {
        var dir = args.String("dir", Path.GetTempPath());
        var seconds = args.Int("seconds", 3);
        var path = Path.Combine(dir, "fsync-probe-" + Guid.NewGuid().ToString("N"));
        var block = new byte[100];
        long count = 0;
        var clock = Stopwatch.StartNew();
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None))
        {
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                file.Write(block);
                file.Flush(flushToDisk: true);
                count++;
            }
        }

        File.Delete(path);
        var rate = count / clock.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fsync: {rate:0} fsyncs/s ({count} in {clock.Elapsed.TotalSeconds:0.0} s, 100-byte writes, {dir})"));
        Report.Emit(new Dictionary<string, object> { ["scenario"] = "fsync", ["fsync_per_sec"] = Math.Round(rate) });
        return 0;
    }
}
