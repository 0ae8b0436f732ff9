using System.Globalization;
using System.Text;
using System.Text.Json;
using Daakia.Server.Json;

namespace Daakia.Server.Tests.Json;

public sealed class WireFormatTests
{
    public static TheoryData<string> Instants => new()
    {
        "0001-01-01T00:00:00.0000000+00:00",
        "0999-02-03T04:05:06.0070000+00:00",
        "2026-11-24T15:04:05.1239999+00:00",
        "2026-12-31T23:59:59.9990000-05:30",
        "9999-12-31T23:59:59.9999999+00:00",
    };

    [Theory]
    [MemberData(nameof(Instants))]
    public void Timestamp_IsRfc3339Utc_WithMilliseconds_TruncatedLikeTheCustomFormat(string instant)
    {
        var t = DateTimeOffset.Parse(instant, CultureInfo.InvariantCulture);
        var expected = t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

        Assert.Equal(expected, WireFormat.Timestamp(t));
        Assert.Equal(WireFormat.TimestampLength, expected.Length);

        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            WireFormat.WriteTimestamp(w, "at"u8, t);
            w.WriteEndObject();
        }

        Assert.Equal($"{{\"at\":\"{expected}\"}}", Encoding.UTF8.GetString(buffer.ToArray()));
    }

    [Fact]
    public void Timestamp_OfRandomInstants_MatchesTheCustomFormat()
    {
        var random = new Random(42);
        for (var i = 0; i < 10_000; i++)
        {
            var t = new DateTimeOffset(random.NextInt64(DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks), TimeSpan.Zero);
            Assert.Equal(t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture), WireFormat.Timestamp(t));
        }
    }
}
