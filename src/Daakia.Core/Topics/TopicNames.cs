namespace Daakia.Core;

/// <summary>Validation and matching of MQTT-style topic names and filters (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7).</summary>
public static class TopicNames
{
    /// <summary>Prefix of the server's own presence topics: <c>$presence/{client}</c>.</summary>
    public const string PresencePrefix = "$presence/";

    /// <summary>A topic to publish to: non-empty, no wildcards, no NUL (MQTT-4.7.1-1, MQTT-4.7.3-1, MQTT-4.7.3-2).</summary>
    public static bool IsValidName(string? topic, DaakiaCoreOptions options, out string? error)
    {
        if (!CheckCommon(topic, options, out error))
        {
            return false;
        }

        if (topic!.AsSpan().IndexOfAny('+', '#') >= 0)
        {
            error = "A topic name must not contain the wildcards '+' or '#' [MQTT-4.7.1-1].";
            return false;
        }

        return true;
    }

    /// <summary>
    /// A subscription filter: '#' only as the whole last level (MQTT-4.7.1-2), '+' only as a whole level (MQTT-4.7.1-3).
    /// </summary>
    public static bool IsValidFilter(string? filter, DaakiaCoreOptions options, out string? error)
    {
        if (!CheckCommon(filter, options, out error))
        {
            return false;
        }

        var levels = filter!.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level.Contains('#', StringComparison.Ordinal) && (level.Length != 1 || i != levels.Length - 1))
            {
                error = "'#' must be the whole last level of a filter [MQTT-4.7.1-2].";
                return false;
            }

            if (level.Contains('+', StringComparison.Ordinal) && level.Length != 1)
            {
                error = "'+' must occupy a whole level of a filter [MQTT-4.7.1-3].";
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether <paramref name="filter"/> matches <paramref name="topic"/> (both already valid).</summary>
    public static bool Matches(string filter, string topic)
    {
        // Wildcards at the first level do not match topics starting with '$' [MQTT-4.7.2-1].
        if (topic.StartsWith('$') && (filter.StartsWith('+') || filter.StartsWith('#')))
        {
            return false;
        }

        var f = filter.AsSpan();
        var t = topic.AsSpan();
        while (true)
        {
            var fi = f.IndexOf('/');
            var fl = fi < 0 ? f : f[..fi];
            if (fl is "#")
            {
                return true;
            }

            var ti = t.IndexOf('/');
            var tl = ti < 0 ? t : t[..ti];
            if (!(fl is "+" || fl.SequenceEqual(tl)))
            {
                return false;
            }

            if (fi < 0 || ti < 0)
            {
                // "a/#" also matches "a" [MQTT-4.7.1-2]
                return fi < 0 && ti < 0 || ti < 0 && f[(fi + 1)..] is "#";
            }

            f = f[(fi + 1)..];
            t = t[(ti + 1)..];
        }
    }

    private static bool CheckCommon(string? value, DaakiaCoreOptions options, out string? error)
    {
        error = null;
        if (string.IsNullOrEmpty(value))
        {
            error = "A topic must not be empty [MQTT-4.7.3-1].";
            return false;
        }

        if (value.Length > options.MaxTopicLength)
        {
            error = $"A topic may be at most {options.MaxTopicLength} characters.";
            return false;
        }

        if (value.Contains('\0', StringComparison.Ordinal))
        {
            error = "A topic must not contain NUL [MQTT-4.7.3-2].";
            return false;
        }

        if (value.AsSpan().Count('/') + 1 > options.MaxTopicLevels)
        {
            error = $"A topic may have at most {options.MaxTopicLevels} levels.";
            return false;
        }

        return true;
    }
}
