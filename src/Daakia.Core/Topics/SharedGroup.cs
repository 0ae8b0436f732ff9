namespace Daakia.Core;

/// <summary>
/// A shared subscription: the members of one ShareName on one topic filter (<c>$share/{name}/{filter}</c>). Each
/// message that matches goes to one member (MQTT 5.0 §4.8.2), picked round-robin without allocating.
/// </summary>
/// <remarks>
/// Route results hold the group itself, not a copy of its members, so members joining and leaving an existing group
/// change no cached result; only the group's creation and removal do. The member array is replaced on change (under the
/// tenant lock) and read without locking.
/// </remarks>
internal sealed class SharedGroup(string name, string topicFilter)
{
    private Subscription[] _members = [];
    private uint _cursor;

    public string Name { get; } = name;

    public string TopicFilter { get; } = topicFilter;

    /// <summary>The members now; a stable snapshot for the caller.</summary>
    public Subscription[] Members => Volatile.Read(ref _members);

    /// <summary>Where the next message starts looking for a member that takes it (round-robin).</summary>
    public int NextStart(int memberCount) => (int)(Interlocked.Increment(ref _cursor) % (uint)memberCount);

    /// <summary>Adds a member (caller holds the tenant lock).</summary>
    public void Add(Subscription subscription) => Volatile.Write(ref _members, [.. _members, subscription]);

    /// <summary>Replaces a member's subscription with one carrying new options, in place (caller holds the tenant lock).</summary>
    public void Replace(Subscription old, Subscription subscription)
    {
        var members = (Subscription[])_members.Clone();
        members[Array.IndexOf(members, old)] = subscription;
        Volatile.Write(ref _members, members);
    }

    /// <summary>Removes a member (caller holds the tenant lock). True when the group is empty afterwards.</summary>
    public bool Remove(Subscription subscription)
    {
        var members = _members;
        var i = Array.IndexOf(members, subscription);
        if (i >= 0)
        {
            Volatile.Write(ref _members, [.. members.AsSpan(0, i), .. members.AsSpan(i + 1)]);
        }

        return _members.Length == 0;
    }
}
