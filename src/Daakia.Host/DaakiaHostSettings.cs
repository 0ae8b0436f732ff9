namespace Daakia.Host;

/// <summary>Where and how the process listens and stores (the <c>Daakia</c> configuration section).</summary>
public sealed class DaakiaHostSettings
{
    /// <summary>HTTP + WebSocket port; 0 picks a free one (the bound address is logged).</summary>
    public int HttpPort { get; set; } = 8398;

    /// <summary>MQTT port (MQTT 3.1.1 and 5.0 over TCP); 0 picks a free one (the bound address is logged).</summary>
    public int MqttPort { get; set; } = 1883;

    /// <summary>Address to bind; loopback by default.</summary>
    public string Bind { get; set; } = "127.0.0.1";

    /// <summary>The embedded store's directory.</summary>
    public string DataDir { get; set; } = "./daakia-data";

    /// <summary><c>fsync</c> (survives power loss) or <c>os</c> (survives a process crash).</summary>
    public string Durability { get; set; } = "fsync";

    /// <summary><c>simple</c> (one line per event) or <c>json</c> (structured, one JSON object per line).</summary>
    public string LogFormat { get; set; } = "simple";

    /// <summary>
    /// Runs protocol code inline on the socket I/O threads (Kestrel's <c>UnsafePreferInlineScheduling</c>, and the
    /// runtime's inline socket completions in the executable). Fewer thread hops per message.
    /// </summary>
    public bool InlineIo { get; set; } = true;

    /// <summary>
    /// Takes plain WebSocket upgrades to <c>/v1/ws</c> and <c>/v1/texto</c> below ASP.NET Core's HTTP layer (about
    /// 6 KiB less per idle connection). Off: every upgrade goes through ASP.NET Core.
    /// </summary>
    public bool DirectUpgrades { get; set; } = true;

    /// <summary>Allows an open (credential-free) tenant on a non-loopback address. Off: such a bind refuses to start.</summary>
    public bool AllowOpenTenantOnNetwork { get; set; }
}
