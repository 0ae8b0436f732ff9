using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Daakia.Testing;

/// <summary>
/// A real SMTP server to send notifications to: Debian's python3-aiosmtpd (installed by the test script), on a loopback
/// port of its own, writing each mail it takes to a Maildir.
/// </summary>
public sealed class SmtpSink : IAsyncDisposable
{
    private readonly Process _process;

    private SmtpSink(Process process, int port, string maildir)
    {
        _process = process;
        Port = port;
        Maildir = maildir;
    }

    public int Port { get; }

    public string Maildir { get; }

    /// <summary>The mails taken so far, as text.</summary>
    public IReadOnlyList<string> Mails()
    {
        var dir = Path.Combine(Maildir, "new");
        return Directory.Exists(dir) ? [.. Directory.GetFiles(dir).Order(StringComparer.Ordinal).Select(File.ReadAllText)] : [];
    }

    public static async Task<SmtpSink> StartAsync()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        var maildir = Path.Combine(Unique.TempDirectory(), "maildir"); // made by aiosmtpd (an existing empty one it would not fill)
        var start = new ProcessStartInfo("/usr/bin/python3", ["-m", "aiosmtpd", "-n", "-l", $"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Mailbox", maildir])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("python3 -m aiosmtpd did not start");
        var sink = new SmtpSink(process, port, maildir);
        await Eventually.True(async () =>
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"aiosmtpd exited: {await process.StandardError.ReadToEndAsync()} (is python3-aiosmtpd installed?)");
            }

            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, port);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }, "the SMTP sink listens");
        return sink;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
