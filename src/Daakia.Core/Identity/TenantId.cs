namespace Daakia.Core;

/// <summary>
/// A tenant (vendor): an isolated namespace that owns clients, topics and inboxes. Nothing crosses tenants.
/// 1 to 64 characters from <c>[A-Za-z0-9._-]</c>.
/// </summary>
public readonly record struct TenantId
{
    /// <summary>The open development tenant used when nothing is configured.</summary>
    public static readonly TenantId Default = new("default");

    public const int MaxLength = 64;

    private TenantId(string value) => Value = value;

    public string Value { get; }

    public static bool TryCreate(string? value, out TenantId tenant)
    {
        tenant = default;
        if (string.IsNullOrEmpty(value) || value.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return false;
            }
        }

        tenant = new TenantId(value);
        return true;
    }

    public static TenantId Parse(string? value) =>
        TryCreate(value, out var t) ? t : throw DaakiaException.Invalid($"'{value}' is not a valid tenant id (1-{MaxLength} of [A-Za-z0-9._-]).");

    public override string ToString() => Value ?? string.Empty;
}
