using Daakia.Core.Storage;

namespace Daakia.Core.Tests;

/// <summary>A publication's properties as the stores keep them beside a retained message.</summary>
public class PropertiesBlobTests
{
    [Fact]
    public void EveryProperty_RoundTrips_AndAbsentOnesStayAbsent()
    {
        var full = new PublicationProperties
        {
            PayloadFormat = 0,
            ResponseTopic = "r/ü",
            CorrelationData = new byte[] { 1, 2 },
            UserProperties = [new("a", "1"), new("a", "2"), new("", "")],
        };
        var back = PropertiesBlob.Decode(PropertiesBlob.Encode(full)!);
        Assert.Equal((0, "r/ü", "0102"), ((int)back.PayloadFormat!, back.ResponseTopic, Convert.ToHexString(back.CorrelationData!.Value.Span)));
        Assert.Equal(full.UserProperties, back.UserProperties);

        var bare = PropertiesBlob.Decode(PropertiesBlob.Encode(new PublicationProperties())!);
        Assert.Equal((null, null, false, 0), (bare.PayloadFormat, bare.ResponseTopic, bare.CorrelationData.HasValue, bare.UserProperties.Count));
        var empty = PropertiesBlob.Decode(PropertiesBlob.Encode(new PublicationProperties { CorrelationData = ReadOnlyMemory<byte>.Empty })!);
        Assert.True(empty.CorrelationData is { Length: 0 }, "empty correlation data is kept as present and empty");
        Assert.Null(PropertiesBlob.Encode(null));
    }

    [Theory]
    [InlineData("")]
    [InlineData("02")]
    [InlineData("01FF02")]
    [InlineData("01FF0000FFFFFFFF")]
    [InlineData("01FF00000000000000")]
    public void ADamagedBlob_IsInvalidData_NotAnotherException(string hex) =>
        Assert.Throws<InvalidDataException>(() => PropertiesBlob.Decode(Convert.FromHexString(hex)));
}
