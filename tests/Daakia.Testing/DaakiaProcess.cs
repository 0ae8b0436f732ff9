using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Daakia.Testing;

/// <summary>
/// The real <c>daakia</c> executable as a child process (<c>dotnet daakia.dll serve …</c>), for tests of the command
/// line, crash safety (kill -9) and graceful shutdown (SIGTERM).
/// </summary>
public sealed partial class DaakiaProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly ConcurrentQueue<string> _errorOutput = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private DaakiaProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                _errorOutput.Enqueue(e.Data);
            }

            OnLine(e.Data);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    /// <summary>Every line written, standard output and standard error together, in arrival order.</summary>
    public IReadOnlyCollection<string> Output => _output;

    /// <summary>The lines written to standard error.</summary>
    public IReadOnlyCollection<string> ErrorOutput => _errorOutput;

    /// <summary>The HTTP base address the server logged.</summary>
    public Uri BaseUri => _listening.Task.IsCompletedSuccessfully ? _listening.Task.Result : throw new InvalidOperationException("Not listening yet.");

    /// <summary>The MQTT listener's port (from the listening line).</summary>
    public int MqttPort { get; private set; }

    public Uri WebSocketUri(string path) => new($"ws://{BaseUri.Authority}/{path.TrimStart('/')}");

    /// <summary>The built <c>daakia.dll</c> of the same configuration as the running tests.</summary>
    public static string DllPath()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Daakia.slnx")))
        {
            dir = dir.Parent;
        }

        var path = Path.Combine(dir?.FullName ?? throw new InvalidOperationException("Repository root not found."), "src", "Daakia.Host", "bin", configuration, "net10.0", "daakia.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("Build the host first.", path);
    }

    /// <summary>Starts <c>daakia</c> with the given arguments (after <c>serve</c>) and waits for its "listening" line.</summary>
    public static async Task<DaakiaProcess> StartAsync(IEnumerable<string> args, IDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var process = Launch(args, environment, workingDirectory);
        var exited = process._process.WaitForExitAsync();
        var first = await Task.WhenAny(process._listening.Task, exited, Task.Delay(TimeSpan.FromSeconds(60)));
        if (first != process._listening.Task)
        {
            var output = string.Join("\n", process._output);
            await process.DisposeAsync();
            throw new InvalidOperationException("daakia did not start listening:\n" + output);
        }

        return process;
    }

    /// <summary>
    /// Runs <c>daakia</c> with the given arguments (after <c>serve</c>) for a start that must fail: waits until it exits
    /// by itself (all of its output read) and returns the process, whose <see cref="ExitCode"/> and output the test
    /// inspects. Throws if it starts listening instead.
    /// </summary>
    public static async Task<DaakiaProcess> RunToExitAsync(IEnumerable<string> args, IDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var process = Launch(args, environment, workingDirectory);
        var exited = process._process.WaitForExitAsync();
        var first = await Task.WhenAny(process._listening.Task, exited, Task.Delay(TimeSpan.FromSeconds(60)));
        if (first != exited)
        {
            var output = string.Join("\n", process._output);
            await process.DisposeAsync();
            throw new InvalidOperationException((first == process._listening.Task ? "daakia started, but was expected to refuse to:\n" : "daakia did not exit in time:\n") + output);
        }

        await exited; // the redirected streams are read to their end too
        return process;
    }

    /// <summary>The exit code, once the process has exited.</summary>
    public int ExitCode => _process.ExitCode;

    private static DaakiaProcess Launch(IEnumerable<string> args, IDictionary<string, string>? environment, string? workingDirectory)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        info.ArgumentList.Add(DllPath());
        info.ArgumentList.Add("serve");
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        // A free MQTT port unless the test names one (a flag or the caller's variable wins), so parallel tests never share 1883.
        info.Environment["DAAKIA_MqttPort"] = "0";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }

        return new DaakiaProcess(Process.Start(info)!);
    }

    /// <summary>kill -9: no chance to flush anything.</summary>
    public async Task KillHardAsync()
    {
        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as a service manager stops the server; returns the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        var m = ListeningLine().Match(line);
        if (m.Success)
        {
            var mqtt = MqttAddress().Match(line);
            MqttPort = mqtt.Success ? int.Parse(mqtt.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
            _listening.TrySetResult(new Uri(m.Groups[1].Value + "/"));
        }
    }

    [GeneratedRegex(@"mqtt=mqtt://[^\s,]+:(\d+)")]
    private static partial Regex MqttAddress();

    [GeneratedRegex(@"Daakia listening: http=(http://[^\s,]+)")]
    private static partial Regex ListeningLine();

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
