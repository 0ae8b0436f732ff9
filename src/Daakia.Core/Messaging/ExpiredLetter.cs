namespace Daakia.Core;

/// <summary>A letter the store removed from one recipient's inbox because its TTL passed.</summary>
public sealed record ExpiredLetter(ClientId Recipient, Letter Letter);
