namespace Daakia.Server.Zaqar;

/// <summary>The Zaqar v2 adapter's settings (<c>Daakia:Zaqar</c>; docs/configuration.md).</summary>
public sealed class ZaqarOptions
{
    /// <summary>
    /// The key pre-signed URLs are signed with (Zaqar's <c>[signed_url] secret_key</c>; docs/protocols/zaqar.md): at
    /// least 16 characters, the same on every node of a cluster. Unset: <c>/share</c> answers 400 and no signed request
    /// is accepted. A secret: never logged, never shown in a validation error.
    /// </summary>
    public string? SignedUrlKey { get; set; }
}
