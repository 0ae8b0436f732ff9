namespace Daakia.Core;

/// <summary>
/// A client: a uniquely identified user of a tenant (a person's app, a bot, a service), distinct from its connections.
/// 1 to <see cref="MaxLength"/> characters from <c>[A-Za-z0-9._:@-]</c>, so an id is always a single topic level
/// (it never holds <c>/</c>, <c>+</c> or <c>#</c>) and is safe in URLs and logs.
/// </summary>
public readonly record struct ClientId
{
    public const int MaxLength = 128;

    private ClientId(string value) => Value = value;

    public string Value { get; }

    public static bool TryCreate(string? value, out ClientId client)
    {
        client = default;
        if (string.IsNullOrEmpty(value) || value.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or ':' or '@'))
            {
                return false;
            }
        }

        client = new ClientId(value);
        return true;
    }

    public static ClientId Parse(string? value) =>
        TryCreate(value, out var c) ? c : throw DaakiaException.Invalid($"'{Truncate(value)}' is not a valid client id (1-{MaxLength} of [A-Za-z0-9._:@-]).");

    /// <summary>A fresh server-made identity (a UUID), as texto hands out.</summary>
    public static ClientId NewUnique() => new(Guid.NewGuid().ToString());

    public override string ToString() => Value ?? string.Empty;

    private static string Truncate(string? value) => value is { Length: > 40 } ? value[..40] + "…" : value ?? "";
}
