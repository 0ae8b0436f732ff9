namespace Daakia.Core;

/// <summary>A letter of an online client's inbox held in memory, with where it is in flight.</summary>
internal sealed class PendingLetter(Letter letter)
{
    public Letter Letter { get; } = letter;

    /// <summary>What an entry costs in memory, counted against the byte limits: payload plus a fixed overhead.</summary>
    public const int EntryOverhead = 128;

    public long Sequence => Letter.Sequence;

    public int Size { get; } = letter.Payload.Length + EntryOverhead;

    /// <summary>Delivery mode <c>any</c>: the connection it was handed to, or null while waiting.</summary>
    public ClientConnection? AssignedTo { get; set; }
}
