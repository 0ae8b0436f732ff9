using Daakia.Core;
using Microsoft.Extensions.Logging;

namespace Daakia.Server.WebSockets;

/// <summary>What every WebSocket session shares: the core, settings, clock, logger, tenant resolution, metrics and texto's resume secrets.</summary>
internal sealed record SessionContext(DaakiaEngine Engine, DaakiaServerOptions Options, TimeProvider Time, TenantResolver Tenants, ILogger Logger, SessionMetrics Metrics, TextoResumeSecrets ResumeSecrets)
{
    /// <summary>Parse settings for request frames: the configured nesting limit.</summary>
    public System.Text.Json.JsonDocumentOptions JsonOptions { get; } = new() { MaxDepth = Options.MaxJsonDepth };
}
