using Microsoft.Extensions.Logging;

namespace Daakia.Core;

/// <summary>The named queues' log events (1301–1399).</summary>
internal static partial class QueueLog
{
    [LoggerMessage(EventId = 1301, Level = LogLevel.Warning, Message = "Queue {Tenant}/{Queue} did not take {Dropped} publication(s) its topic bindings matched (the last on {Topic}): {Reason}")]
    public static partial void BindingDropped(ILogger logger, TenantId tenant, string queue, string topic, long dropped, string reason);
}
