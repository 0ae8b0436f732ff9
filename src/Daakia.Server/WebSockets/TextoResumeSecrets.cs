using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using Daakia.Core;

namespace Daakia.Server.WebSockets;

/// <summary>
/// texto resume secrets: HMAC-SHA256 of <c>tenant</c> and <c>client id</c> under a server key, base64url. The server
/// gives one out in every <c>connection</c> frame and requires it to resume that identity, so no storage is needed
/// and an id learnt from a peer (<c>receive.sender_id</c>) is not enough to take it over.
/// </summary>
internal sealed class TextoResumeSecrets
{
    public const int MinKeyBytes = 32;

    private readonly byte[] _key;

    /// <param name="configuredKey">Base64 of the key (validated at start-up), or null for a random key per process.</param>
    public TextoResumeSecrets(string? configuredKey)
    {
        if (configuredKey is null)
        {
            _key = RandomNumberGenerator.GetBytes(MinKeyBytes);
        }
        else
        {
            _key = TryDecodeKey(configuredKey, out var key)
                ? key
                : throw new ArgumentException($"The texto resume key must be base64 of at least {MinKeyBytes} bytes.", nameof(configuredKey));
        }
    }

    public static bool TryDecodeKey(string base64, [NotNullWhen(true)] out byte[]? key)
    {
        key = null;
        var buffer = new byte[(base64.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(base64, buffer, out var written) || written < MinKeyBytes)
        {
            return false;
        }

        key = buffer.AsSpan(0, written).ToArray();
        return true;
    }

    public string For(TenantId tenant, ClientId client)
    {
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        Compute(tenant, client, mac);
        return Base64Url(mac);
    }

    /// <summary>True if <paramref name="secret"/> is the one given out for this identity (compared in constant time).</summary>
    public bool Verify(TenantId tenant, ClientId client, string? secret)
    {
        if (secret is null || secret.Length != 43)
        {
            return false;
        }

        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        Compute(tenant, client, mac);
        Span<byte> expected = stackalloc byte[43];
        Span<byte> given = stackalloc byte[43];
        Encoding.ASCII.GetBytes(Base64Url(mac), expected);
        if (Encoding.UTF8.GetByteCount(secret) != 43)
        {
            return false;
        }

        Encoding.UTF8.GetBytes(secret, given);
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }

    private void Compute(TenantId tenant, ClientId client, Span<byte> mac)
    {
        // Tenant ids cannot hold '\n', so "tenant\nclient" names one identity only.
        var data = Encoding.UTF8.GetBytes(tenant.Value + "\n" + client.Value);
        HMACSHA256.HashData(_key, data, mac);
    }

    private static string Base64Url(ReadOnlySpan<byte> bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);
}
