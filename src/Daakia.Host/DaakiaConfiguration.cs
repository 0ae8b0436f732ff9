using System.ComponentModel;
using System.Net;
using System.Reflection;
using Daakia.Core;
using Daakia.Server;
using Daakia.Storage.Journal;
using Daakia.Storage.Sqlite;

namespace Daakia.Host;

/// <summary>
/// Every setting of the process, bound from the <c>Daakia</c> section and validated as a whole before anything starts.
/// A value that does not convert, or that breaks a rule of its options class's validator, stops the start with
/// <see cref="DaakiaConfigurationException"/> listing every problem.
/// </summary>
internal sealed record DaakiaConfiguration(
    DaakiaHostSettings Host,
    DaakiaServerOptions Server,
    DaakiaCoreOptions Core,
    SqliteStoreOptions Store,
    JournalStoreOptions Journal,
    IPAddress Bind)
{
    public const string JournalSection = "Journal";

    /// <summary>Whether the journal store is chosen (<c>Daakia:Storage</c>).</summary>
    public bool UsesJournal => string.Equals(Host.Storage, "journal", StringComparison.OrdinalIgnoreCase);

    public const string CoreSection = "Core";

    public const string StoreSection = "Store";

    /// <summary>Binds and validates; <paramref name="origin"/> names where a key's value came from (a file, a variable, a flag).</summary>
    public static DaakiaConfiguration Read(IConfiguration configuration, Func<string, string?>? origin = null)
    {
        var section = configuration.GetSection(DaakiaHostBuilder.Section);
        var v = new OptionsValidation(DaakiaHostBuilder.Section);
        var core = v.Child(CoreSection);
        var store = v.Child(StoreSection);
        var journal = v.Child(JournalSection);

        var host = BindSection(section, v, () => new DaakiaHostSettings());
        var server = BindSection(section, v, () => new DaakiaServerOptions());
        var coreOptions = BindSection(section.GetSection(CoreSection), core, () => new DaakiaCoreOptions());
        var storeSection = section.GetSection(StoreSection);
        var storeOptions = BindSection(storeSection, store, () => new SqliteStoreOptions { DataDirectory = "" }) with
        {
            DataDirectory = DaakiaHostSettingsValidator.DataDirectoryPath(host.DataDir) ?? "",
            Durability = string.Equals(host.Durability, "os", StringComparison.OrdinalIgnoreCase) ? SqliteDurability.Os : SqliteDurability.Fsync,
        };

        var journalSection = section.GetSection(JournalSection);
        var journalOptions = BindSection(journalSection, journal, () => new JournalStoreOptions { DataDirectory = "" }) with
        {
            DataDirectory = storeOptions.DataDirectory,
            Durability = storeOptions.Durability == SqliteDurability.Os ? JournalDurability.Os : JournalDurability.Fsync,
        };

        // The core's own rules first: the adapters' rules relate to core values already known to be in range.
        DaakiaHostSettingsValidator.Validate(host, v);
        DaakiaCoreOptionsValidator.Validate(coreOptions, core);
        DaakiaServerOptionsValidator.Validate(server, coreOptions, v);
        SqliteStoreOptionsValidator.Validate(storeOptions, store);
        JournalStoreOptionsValidator.Validate(journalOptions, journal);
        // The store's directory and durability are host settings (Daakia:DataDir, Daakia:Durability), not Store keys.
        foreach (var (key, instead) in new[] { (nameof(SqliteStoreOptions.DataDirectory), "DataDir"), (nameof(SqliteStoreOptions.Durability), "Durability") })
        {
            if (storeSection[key] is not null)
            {
                store.Fail(key, $"is not a setting; use {v.Key(instead)}");
            }

            if (journalSection[key] is not null)
            {
                journal.Fail(key, $"is not a setting; use {v.Key(instead)}");
            }
        }

        if (!v.IsValid)
        {
            var problems = new List<string>(v.Failures.Count);
            foreach (var failure in v.Failures)
            {
                problems.Add(origin?.Invoke(failure.Key) is { } from ? $"{failure.Message} [{from}]" : failure.Message);
            }

            throw new DaakiaConfigurationException(problems);
        }

        return new DaakiaConfiguration(host, server, coreOptions, storeOptions, journalOptions, DaakiaHostSettingsValidator.ParseBind(host.Bind)!);
    }

    /// <summary>
    /// Binds <typeparamref name="T"/> from <paramref name="section"/>. Every value that does not convert to its
    /// property's type is reported (the binder alone would stop at the first, naming a CLR type) and left at its
    /// default, so the rules still run on every other value.
    /// </summary>
    private static T BindSection<T>(IConfigurationSection section, OptionsValidation v, Func<T> defaults)
        where T : class
    {
        HashSet<string>? unconvertible = null;
        foreach (var property in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (property.SetMethod is not { IsPublic: true } || Expected(type) is not { } expected || section[property.Name] is not { } raw)
            {
                continue;
            }

            try
            {
                _ = TypeDescriptor.GetConverter(type).ConvertFromInvariantString(raw);
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or NotSupportedException or OverflowException)
            {
                v.Fail(property.Name, $"must be {expected} (was {OptionsValidation.Format(raw)})");
                (unconvertible ??= new(StringComparer.OrdinalIgnoreCase)).Add(property.Name);
            }
        }

        IConfiguration source = section;
        if (unconvertible is not null)
        {
            source = new ConfigurationBuilder()
                .AddInMemoryCollection(section.AsEnumerable(makePathsRelative: true).Where(kv => !unconvertible.Contains(kv.Key)))
                .Build();
        }

        try
        {
            return source.Get<T>() ?? defaults();
        }
        catch (InvalidOperationException ex)
        {
            // A shape the checks above do not cover (e.g. an object where a list was expected): the binder's own words.
            v.Fail("", $"could not be read: {ex.Message}");
            return defaults();
        }
    }

    // What a scalar setting must look like, for the message; null for types the binder does not convert from one value.
    private static string? Expected(Type type) => type switch
    {
        _ when type == typeof(int) || type == typeof(long) => "a whole number",
        _ when type == typeof(double) => "a number",
        _ when type == typeof(bool) => "true or false",
        _ when type == typeof(TimeSpan) => "a duration such as 00:00:30 (hh:mm:ss) or 1.00:00:00 (one day)",
        _ when type.IsEnum => $"one of {string.Join(", ", Enum.GetNames(type))}",
        _ => null,
    };
}
