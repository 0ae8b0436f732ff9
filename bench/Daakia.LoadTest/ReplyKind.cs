namespace Daakia.LoadTest;

/// <summary>What a frame the load generator reads turned out to be.</summary>
internal enum ReplyKind
{
    /// <summary>Something the scenario does not count (another reply, a greeting).</summary>
    Other,

    /// <summary>The expected frame: a send's ack, or a delivered message.</summary>
    Ok,

    /// <summary>An error frame.</summary>
    Error,
}
