using System.Diagnostics.CodeAnalysis;

namespace Daakia.Core;

/// <summary>Validation and matching of MQTT-style topic names and filters (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7).</summary>
public static class TopicNames
{
    /// <summary>Prefix of the server's own presence topics: <c>$presence/{client}</c>.</summary>
    public const string PresencePrefix = "$presence/";

    /// <summary>Prefix of shared-subscription filters: <c>$share/{ShareName}/{filter}</c> (MQTT 5.0 §4.8.2).</summary>
    public const string SharePrefix = "$share/";

    /// <summary>A topic to publish to: non-empty, no wildcards, no NUL (MQTT-4.7.1-1, MQTT-4.7.3-1, MQTT-4.7.3-2).</summary>
    public static bool IsValidName(string? topic, DaakiaCoreOptions options, out string? error)
    {
        if (!CheckCommon(topic, options, out error) || !CheckLevels(topic, options, out error))
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
    /// A shared subscription is <c>$share/{ShareName}/{filter}</c> (MQTT-4.8.2-1, MQTT-4.8.2-2).
    /// </summary>
    public static bool IsValidFilter(string? filter, DaakiaCoreOptions options, out string? error)
    {
        if (!CheckCommon(filter, options, out error))
        {
            return false;
        }

        var topicFilter = filter.AsSpan();
        if (filter!.StartsWith(SharePrefix, StringComparison.Ordinal))
        {
            var rest = topicFilter[SharePrefix.Length..];
            var slash = rest.IndexOf('/');
            if (slash <= 0)
            {
                error = "A shared subscription is '$share/{ShareName}/{filter}' with a ShareName of at least one character [MQTT-4.8.2-1].";
                return false;
            }

            if (rest[..slash].IndexOfAny('+', '#') >= 0)
            {
                error = "A ShareName must not contain '/', '+' or '#' [MQTT-4.8.2-2].";
                return false;
            }

            topicFilter = rest[(slash + 1)..];
            if (topicFilter.IsEmpty)
            {
                error = "The ShareName must be followed by '/' and a topic filter [MQTT-4.8.2-2].";
                return false;
            }
        }

        // The level limit applies to what is matched: a share prefix does not count against it.
        if (!CheckLevels(topicFilter, options, out error))
        {
            return false;
        }

        var last = false;
        while (!last)
        {
            var end = topicFilter.IndexOf('/');
            last = end < 0;
            var level = last ? topicFilter : topicFilter[..end];
            if (level.Contains('#') && (level.Length != 1 || !last))
            {
                error = "'#' must be the whole last level of a filter [MQTT-4.7.1-2].";
                return false;
            }

            if (level.Contains('+') && level.Length != 1)
            {
                error = "'+' must occupy a whole level of a filter [MQTT-4.7.1-3].";
                return false;
            }

            topicFilter = last ? default : topicFilter[(end + 1)..];
        }

        return true;
    }

    /// <summary>
    /// Splits a valid shared-subscription filter <c>$share/{group}/{filter}</c> into its ShareName and topic filter.
    /// False (and the filter itself as <paramref name="topicFilter"/>) for an ordinary filter.
    /// </summary>
    public static bool TrySplitShared(string filter, [NotNullWhen(true)] out string? group, out string topicFilter)
    {
        if (filter.StartsWith(SharePrefix, StringComparison.Ordinal))
        {
            var slash = filter.IndexOf('/', SharePrefix.Length);
            if (slash > SharePrefix.Length)
            {
                group = filter[SharePrefix.Length..slash];
                topicFilter = filter[(slash + 1)..];
                return true;
            }
        }

        group = null;
        topicFilter = filter;
        return false;
    }

    /// <summary>Whether a (valid) filter has a wildcard, i.e. can match more than the one topic spelled like it.</summary>
    public static bool HasWildcard(string topicFilter) => topicFilter.AsSpan().IndexOfAny('+', '#') >= 0;

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

        return true;
    }

    private static bool CheckLevels(ReadOnlySpan<char> value, DaakiaCoreOptions options, out string? error)
    {
        error = null;
        if (value.Count('/') + 1 > options.MaxTopicLevels)
        {
            error = $"A topic may have at most {options.MaxTopicLevels} levels.";
            return false;
        }

        return true;
    }
}
