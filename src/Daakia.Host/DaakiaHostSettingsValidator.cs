using System.Net;
using System.Net.Sockets;
using Daakia.Core;

namespace Daakia.Host;

/// <summary>
/// The rules for <see cref="DaakiaHostSettings"/> (section <c>Daakia</c>), one line each. A new setting gets its line
/// here and its range in docs/configuration.md.
/// </summary>
public static class DaakiaHostSettingsValidator
{
    public static readonly string[] Durabilities = ["fsync", "os"];

    public static readonly string[] Storages = ["sqlite", "journal"];

    public static readonly string[] LogFormats = ["simple", "json"];

    public static void Validate(DaakiaHostSettings s, OptionsValidation v)
    {
        v.Between(s.HttpPort, 0, 65_535);
        v.Between(s.MqttPort, 0, 65_535);
        v.Require(s.MqttPort == 0 || s.MqttPort != s.HttpPort, nameof(s.MqttPort), $"differ from {v.Key(nameof(s.HttpPort))}", s.MqttPort);

        v.Require(s.TcpMaxSegmentSize == 0 || s.TcpMaxSegmentSize is >= 536 and <= 32_767, nameof(s.TcpMaxSegmentSize),
            "be 0 (the kernel's choice) or between 536 and 32767", s.TcpMaxSegmentSize);

        var bind = ParseBind(s.Bind);
        v.Require(bind is not null, nameof(s.Bind), "be an IP address such as 127.0.0.1, ::1 or 0.0.0.0", s.Bind);
        if (bind is not null && !IPAddress.IsLoopback(bind) && !s.AllowOpenTenantOnNetwork)
        {
            v.Fail(nameof(s.Bind), $"is {bind}, not loopback: refusing to serve the open development tenant there, it has no credentials. " +
                $"Bind to loopback, or set {v.Key(nameof(s.AllowOpenTenantOnNetwork))}=true knowingly.");
        }

        var dataDir = DataDirectoryProblem(s.DataDir);
        v.Require(dataDir is null, nameof(s.DataDir), "be a directory path", s.DataDir, dataDir);
        v.OneOf(s.Durability, Durabilities);
        v.OneOf(s.Storage, Storages);
        v.OneOf(s.LogFormat, LogFormats);
    }

    /// <summary>The address to bind, or null when it is not a whole IP address (<c>IPAddress</c> alone would read "1" as 0.0.0.1).</summary>
    public static IPAddress? ParseBind(string? value) =>
        IPAddress.TryParse(value, out var address) && (address.AddressFamily == AddressFamily.InterNetworkV6 || value.Count('.') == 3)
            ? address
            : null;

    /// <summary>The full path of the data directory, or null when the setting is not a usable path.</summary>
    public static string? DataDirectoryPath(string? value)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Contains('\0', StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            return Path.GetFullPath(value);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException or System.Security.SecurityException)
        {
            return null;
        }
    }

    // What is wrong with the data directory, or null. Whether it can be created or written is found out when the store
    // opens it.
    private static string? DataDirectoryProblem(string? value)
    {
        if (DataDirectoryPath(value) is not { } path)
        {
            return "not a usable path";
        }

        for (var p = path; p is not null; p = Path.GetDirectoryName(p))
        {
            if (File.Exists(p))
            {
                return p == path ? "it is a file" : $"{p} is a file";
            }
        }

        return null;
    }
}
