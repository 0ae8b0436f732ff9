namespace Daakia.Core;

/// <summary>What the sender learns once a letter is durably in every recipient's inbox.</summary>
public sealed record SendReceipt(Guid MessageId, DateTimeOffset Timestamp, int Recipients);
