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

    /// <summary>
    /// The embedded store: <c>sqlite</c> (one SQLite database) or <c>journal</c> (the state in memory, an append-only
    /// journal on disk; see docs/journal-store.md). Both keep the same contract.
    /// </summary>
    public string Storage { get; set; } = "sqlite";

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

    /// <summary>
    /// Largest TCP segment the listeners send (Linux <c>TCP_MAXSEG</c> on the listening sockets, inherited by every
    /// accepted connection); 0 leaves it to the kernel. A client whose receive window is smaller than the segment size
    /// stalls on Linux whenever data is queued (the kernel waits for a full segment's window and backs off its probes):
    /// on loopback (64 KiB MTU) that is any client with an 8 KiB socket buffer, such as MQTTnet's default. Networks
    /// with a 1,500-byte MTU already send smaller segments, so the default changes nothing there.
    /// </summary>
    public int TcpMaxSegmentSize { get; set; } = 4096;

    /// <summary>Allows an open (credential-free) tenant on a non-loopback address. Off: such a bind refuses to start.</summary>
    public bool AllowOpenTenantOnNetwork { get; set; }
}
