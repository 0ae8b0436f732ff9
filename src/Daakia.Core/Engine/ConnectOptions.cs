namespace Daakia.Core;

/// <summary>What an adapter tells the core about a new connection.</summary>
/// <param name="Protocol">A short protocol name for logs and metrics (<c>ws</c>, <c>texto</c>, <c>mqtt</c>).</param>
/// <param name="DeliveryMode">Sets the client's delivery mode; null keeps the current one (default <see cref="Core.DeliveryMode.All"/>).</param>
/// <param name="Heartbeat">The heartbeat interval the client promises; null for the server default. Clamped to the configured range.</param>
public sealed record ConnectOptions(string Protocol, DeliveryMode? DeliveryMode = null, TimeSpan? Heartbeat = null);
