using System.Globalization;

namespace Daakia.Core.Tests;

public sealed class MessageIdsTests
{
    [Fact]
    public void Ids_AreVersion7_WithTheVariant_AndCarryTheirMillisecond()
    {
        var at = DateTimeOffset.Parse("2026-12-02T16:20:22.123Z", CultureInfo.InvariantCulture);
        for (var i = 0; i < 1000; i++)
        {
            var id = MessageIds.New(at);
            Assert.Equal(7, id.Version);
            Assert.Equal(0x8, id.Variant & 0xC); // RFC 9562 variant: 10xx
            var hex = id.ToString("N");
            Assert.Equal(at.ToUnixTimeMilliseconds(), long.Parse(hex[..12], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            // The same layout as the framework's own version 7 ids: time first, in the first 48 bits of the string.
            Assert.Equal(Guid.CreateVersion7(at).ToString("N")[..13], hex[..13]);
        }
    }

    [Fact]
    public void Ids_AreUnique_AcrossRefills_AndThreads_AndOrderedByTime()
    {
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<Guid, bool>();
        var at = DateTimeOffset.UtcNow;
        Parallel.For(0, 4, _ =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                Assert.True(seen.TryAdd(MessageIds.New(at), true));
            }
        });
        Assert.Equal(80_000, seen.Count);

        var earlier = MessageIds.New(at);
        var later = MessageIds.New(at.AddMilliseconds(1));
        Assert.True(string.CompareOrdinal(earlier.ToString(), later.ToString()) < 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => MessageIds.New(DateTimeOffset.UnixEpoch.AddMilliseconds(-1)));
    }
}
