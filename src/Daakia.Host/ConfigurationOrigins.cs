using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;

namespace Daakia.Host;

/// <summary>
/// Where the value of a configuration key came from, for messages about bad values: the flag, the <c>DAAKIA_</c>
/// environment variable or the appsettings.json file that won.
/// </summary>
internal sealed class ConfigurationOrigins(
    IConfigurationRoot root,
    IReadOnlyDictionary<string, string> overrides,
    IReadOnlyDictionary<string, string> environment)
{
    /// <summary>The winning source of <paramref name="key"/>, or null when nothing set it (a default).</summary>
    public string? Describe(string key)
    {
        // The overrides (flags) and the DAAKIA_ variables are the last two sources, so they win when they hold the key.
        if (overrides.TryGetValue(key, out var flag))
        {
            return flag;
        }

        if (environment.TryGetValue(key, out var variable))
        {
            return $"environment variable {variable}";
        }

        for (var i = root.Providers.Count() - 1; i >= 0; i--)
        {
            var provider = root.Providers.ElementAt(i);
            if (!provider.TryGet(key, out _))
            {
                continue;
            }

            switch (provider)
            {
                case JsonConfigurationProvider json:
                    return json.Source.FileProvider?.GetFileInfo(json.Source.Path ?? "").PhysicalPath ?? json.Source.Path;
                case EnvironmentVariablesConfigurationProvider:
                    return $"environment variable {key.Replace(":", "__", StringComparison.Ordinal)}";
            }
        }

        return null;
    }
}
