using System.Globalization;

namespace Daakia.LoadTest;

/// <summary><c>--key value</c> pairs of a scenario.</summary>
internal sealed class Args(Dictionary<string, string> values)
{
    public static Args Parse(ReadOnlySpan<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        return new Args(values);
    }

    public string String(string key, string fallback) => values.TryGetValue(key, out var v) ? v : fallback;

    public int Int(string key, int fallback) => values.TryGetValue(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public int? OptionalInt(string key) => values.TryGetValue(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : null;
}
