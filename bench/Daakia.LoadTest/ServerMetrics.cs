using System.Globalization;

namespace Daakia.LoadTest;

/// <summary>Reads one sample from a server's Prometheus endpoint (<c>/metrics</c>); null when it cannot.</summary>
internal static class ServerMetrics
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>The value of the first sample named <paramref name="name"/> (no labels), or null.</summary>
    public static async Task<double?> ReadAsync(string? url, string name)
    {
        if (string.IsNullOrEmpty(url))
        {
            return null;
        }

        try
        {
            var text = await Http.GetStringAsync(new Uri(url));
            foreach (var line in text.AsSpan().EnumerateLines())
            {
                if (line.StartsWith(name) && line.Length > name.Length && line[name.Length] == ' '
                    && double.TryParse(line[(name.Length + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    return value;
                }
            }
        }
        catch (HttpRequestException)
        {
        }

        return null;
    }
}
