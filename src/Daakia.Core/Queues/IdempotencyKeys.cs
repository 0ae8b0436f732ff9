namespace Daakia.Core;

/// <summary>
/// The idempotency keys one named queue remembers (beyond Zaqar): until when each is remembered and the ids its post
/// stored, with what they take counted in bytes as well as in keys, so that both bounds
/// (<see cref="DaakiaCoreOptions.MaxIdempotencyKeysPerQueue"/>, <see cref="DaakiaCoreOptions.MaxIdempotencyBytesPerQueue"/>)
/// hold. Guarded by the tenant's lock, as the queue's other state.
/// </summary>
internal sealed class IdempotencyKeys
{
    private readonly Dictionary<string, Entry> _keys = new(StringComparer.Ordinal);

    /// <summary>A remembered post: until when, the ids it stored (completes once durable; faults if the post failed),
    /// and the bytes it is counted for.</summary>
    public readonly record struct Entry(DateTimeOffset Expires, Task<IReadOnlyList<Guid>> Ids, int Size);

    public int Count => _keys.Count;

    /// <summary>What the remembered keys take, as <see cref="SizeOf"/> counts them.</summary>
    public long Bytes { get; private set; }

    public IEnumerable<string> Keys => _keys.Keys;

    /// <summary>What one key with <paramref name="ids"/> ids takes: two bytes per character, 16 per id, and 96 of the
    /// entry's overhead.</summary>
    public static int SizeOf(string key, int ids) => (2 * key.Length) + (16 * ids) + 96;

    public bool TryGetValue(string key, out Entry entry) => _keys.TryGetValue(key, out entry);

    public bool ContainsKey(string key) => _keys.ContainsKey(key);

    /// <summary>Whether a key of <paramref name="size"/> bytes fits both bounds. A key already here (expired or failed,
    /// not yet swept) replaces itself: it takes no new place, and fits if it grows no larger or the growth fits.</summary>
    public bool Fits(string key, int size, int maxKeys, long maxBytes)
    {
        if (_keys.TryGetValue(key, out var old))
        {
            return size <= old.Size || Bytes - old.Size + size <= maxBytes;
        }

        return _keys.Count < maxKeys && Bytes + size <= maxBytes;
    }

    public void Set(string key, DateTimeOffset expires, Task<IReadOnlyList<Guid>> ids, int size)
    {
        if (_keys.TryGetValue(key, out var old))
        {
            Bytes -= old.Size;
        }

        _keys[key] = new Entry(expires, ids, size);
        Bytes += size;
    }

    public bool Remove(string key)
    {
        if (!_keys.Remove(key, out var old))
        {
            return false;
        }

        Bytes -= old.Size;
        return true;
    }

    /// <summary>Forgets the keys expired at <paramref name="now"/> whose posts are settled; returns them (null: none).</summary>
    public List<string>? RemoveExpired(DateTimeOffset now)
    {
        List<string>? expired = null;
        foreach (var (k, e) in _keys)
        {
            if (e.Expires <= now && e.Ids.IsCompleted)
            {
                (expired ??= []).Add(k);
            }
        }

        foreach (var k in expired ?? [])
        {
            Remove(k);
        }

        return expired;
    }
}
