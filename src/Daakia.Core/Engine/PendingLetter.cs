namespace Daakia.Core;

/// <summary>A letter of an online client's inbox held in memory, with where it is in flight.</summary>
internal sealed class PendingLetter(Letter letter)
{
    public Letter Letter { get; } = letter;

    public long Sequence => Letter.Sequence;

    /// <summary>Delivery mode <c>any</c>: the connection it was handed to, or null while waiting.</summary>
    public ClientConnection? AssignedTo { get; set; }

    /// <summary>Delivery mode <c>any</c>: expired before it was handed out; waits for the sweep.</summary>
    public bool Skipped { get; set; }
}
