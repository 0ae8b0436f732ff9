using System.Globalization;
using System.Runtime.CompilerServices;

namespace Daakia.Core;

/// <summary>
/// Collects what is wrong with a group of settings, each failure naming its configuration key
/// (<c>Daakia:Core:InboxPageSize must be between 1 and 10000 (was 0)</c>). The validators of the options classes use it
/// with one line per rule; the host runs them all at start-up and refuses to start on any failure.
/// </summary>
/// <remarks>
/// The rule helpers take the setting itself (<c>v.Between(o.InboxPageSize, 1, 10_000)</c>) and read its name from the
/// argument expression, so a rule and the key it reports cannot drift apart. Pass a property access, nothing else.
/// </remarks>
public sealed class OptionsValidation
{
    private readonly List<OptionsFailure> _failures;

    /// <summary>Starts an empty validation of the settings under <paramref name="section"/> (e.g. <c>Daakia</c>).</summary>
    public OptionsValidation(string section)
        : this(section, [])
    {
    }

    private OptionsValidation(string section, List<OptionsFailure> failures)
    {
        Section = section;
        _failures = failures;
    }

    /// <summary>The configuration path of the settings this instance validates.</summary>
    public string Section { get; }

    /// <summary>Every failure so far, of this section and of its sub-sections, in the order found.</summary>
    public IReadOnlyList<OptionsFailure> Failures => _failures;

    public bool IsValid => _failures.Count == 0;

    /// <summary>The validation of a sub-section (e.g. <c>Core</c>); its failures are collected here too.</summary>
    public OptionsValidation Child(string name) => new($"{Section}:{name}", _failures);

    /// <summary>The configuration key of a setting of this section (of the section itself for an empty name).</summary>
    public string Key(string setting) => setting.Length == 0 ? Section : $"{Section}:{setting}";

    /// <summary>Records a failure: <paramref name="message"/> follows the key (<c>{key} {message}</c>).</summary>
    public void Fail(string setting, string message)
    {
        var key = Key(setting);
        _failures.Add(new OptionsFailure(key, $"{key} {message}"));
    }

    /// <summary>
    /// Records a failure unless <paramref name="ok"/>: <c>{key} must {rule} (was {value})</c>, then <c>: {because}</c>
    /// when given. A rule relating the setting to another (<paramref name="dependsOn"/>, a full key) is skipped when that
    /// one is already wrong, so one bad value gives one message.
    /// </summary>
    public void Require(bool ok, string setting, string rule, object? value, string? because = null, string? dependsOn = null)
    {
        if (!ok && (dependsOn is null || !HasFailed(dependsOn)) && !HasFailed(Key(setting)))
        {
            Fail(setting, $"must {rule} (was {Format(value)}){(because is null ? "" : ": " + because)}");
        }
    }

    /// <summary>Whether a failure was recorded for the full configuration key <paramref name="key"/>.</summary>
    public bool HasFailed(string key)
    {
        foreach (var f in _failures)
        {
            if (string.Equals(f.Key, key, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary><paramref name="value"/> lies in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public void Between<T>(T value, T min, T max, [CallerArgumentExpression(nameof(value))] string setting = "")
        where T : IComparable<T> =>
        Require(value.CompareTo(min) >= 0 && value.CompareTo(max) <= 0, Name(setting), $"be between {Format(min)} and {Format(max)}", value);

    /// <summary><paramref name="value"/> is at most another setting of the same section, <paramref name="limit"/>.</summary>
    public void NotAbove<T>(T value, T limit, [CallerArgumentExpression(nameof(value))] string setting = "", [CallerArgumentExpression(nameof(limit))] string limitSetting = "")
        where T : IComparable<T> =>
        Require(value.CompareTo(limit) <= 0, Name(setting), $"be at most {Key(Name(limitSetting))} ({Format(limit)})", value, dependsOn: Key(Name(limitSetting)));

    /// <summary><paramref name="value"/> is one of <paramref name="allowed"/>, ignoring case.</summary>
    public void OneOf(string? value, IReadOnlyList<string> allowed, [CallerArgumentExpression(nameof(value))] string setting = "")
    {
        var ok = false;
        foreach (var a in allowed)
        {
            ok |= string.Equals(value, a, StringComparison.OrdinalIgnoreCase);
        }

        Require(ok, Name(setting), $"be one of {string.Join(", ", allowed)}", value);
    }

    /// <summary><paramref name="value"/> is a named member of its enum.</summary>
    public void Defined<T>(T value, [CallerArgumentExpression(nameof(value))] string setting = "")
        where T : struct, Enum =>
        Require(Enum.IsDefined(value), Name(setting), $"be one of {string.Join(", ", Enum.GetNames<T>())}", value);

    /// <summary>A value as a failure message shows it: strings quoted, numbers and durations as configuration writes them.</summary>
    public static string Format(object? value) => value switch
    {
        null => "nothing",
        string s => $"'{s}'",
        TimeSpan t => Format(t),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    // 00:00:00.1 rather than 00:00:00.1000000; configuration reads either.
    private static string Format(TimeSpan t)
    {
        var c = t.ToString("c", CultureInfo.InvariantCulture);
        return t.Ticks % TimeSpan.TicksPerSecond != 0 ? c.TrimEnd('0') : c;
    }

    // `o.InboxPageSize` → `InboxPageSize`. Anything else is a mistake in a validator, caught by its tests.
    private static string Name(string expression)
    {
        var name = expression[(expression.LastIndexOf('.') + 1)..];
        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_')
            {
                throw new ArgumentException($"A rule takes a setting (a property), not '{expression}'.", nameof(expression));
            }
        }

        return name.Length > 0 ? name : throw new ArgumentException("A rule needs the setting it checks.", nameof(expression));
    }
}
