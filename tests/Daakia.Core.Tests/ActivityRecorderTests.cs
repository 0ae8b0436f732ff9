using Daakia.Core.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Daakia.Core.Tests;

public sealed class ActivityRecorderTests
{
    private static readonly TenantId T = TenantId.Parse("t");

    private static ActivityEntry Entry(string kind) => new(0, T, DateTimeOffset.UnixEpoch, kind, null, null, null);

    [Fact]
    public async Task EntriesRecordedAfterTheStop_AreNotWritten_AndOnesBeforeItAre_AndAStartWritesAgain()
    {
        // After the engine's stop the store closes next: what a connection ending late records is not written (the write
        // would fail on the closing store); what was recorded before the stop is.
        var store = new InMemoryStore();
        var recorder = new ActivityRecorder(store, new DaakiaCoreOptions(), NullLogger.Instance);
        recorder.Record(Entry("before"));
        recorder.SetStopped(true);
        recorder.Record(Entry("after"));
        await recorder.FlushAsync();
        Assert.Equal(["before"], (await store.ReadActivityAsync(T, 0, 10)).Select(e => e.Kind));

        recorder.SetStopped(false);
        recorder.Record(Entry("restarted"));
        await recorder.FlushAsync();
        Assert.Equal(["before", "restarted"], (await store.ReadActivityAsync(T, 0, 10)).Select(e => e.Kind));
    }
}
