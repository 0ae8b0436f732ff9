
namespace Daakia.Core.Tests;

public sealed class TopicNamesTests
{
    private static readonly DaakiaCoreOptions Options = new() { MaxTopicLength = 64, MaxTopicLevels = 4 };

    [Theory]
    [InlineData("a/b/c", "a/b/c", true)]
    [InlineData("a/+/c", "a/b/c", true)]
    [InlineData("a/+", "a/b/c", false)]
    [InlineData("a/#", "a/b/c", true)]
    [InlineData("a/#", "a", true)]
    [InlineData("#", "a/b", true)]
    [InlineData("+/+", "a/b", true)]
    [InlineData("+", "a/b", false)]
    [InlineData("#", "$presence/bob", false)]
    [InlineData("+/bob", "$presence/bob", false)]
    [InlineData("$presence/+", "$presence/bob", true)]
    [InlineData("a/b", "a/c", false)]
    [InlineData("a//c", "a//c", true)]
    [InlineData("a/+/c", "a//c", true)]
    public void Matches_FollowsMqttWildcardRules(string filter, string topic, bool expected) =>
        Assert.Equal(expected, TopicNames.Matches(filter, topic));

    [Theory]
    [InlineData("a/#/b")]
    [InlineData("a#")]
    [InlineData("a+")]
    [InlineData("a/b+/c")]
    [InlineData("")]
    [InlineData("a\0b")]
    [InlineData("a/b/c/d/e")]
    public void IsValidFilter_MalformedFilters_AreRejectedWithAReason(string filter)
    {
        Assert.False(TopicNames.IsValidFilter(filter, Options, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void IsValidName_WildcardsOrTooLong_AreRejected()
    {
        Assert.False(TopicNames.IsValidName("a/+", Options, out _));
        Assert.False(TopicNames.IsValidName("a/#", Options, out _));
        Assert.False(TopicNames.IsValidName(new string('x', 65), Options, out _));
        Assert.True(TopicNames.IsValidName("a/b", Options, out _));
        Assert.True(TopicNames.IsValidFilter("a/+/#", Options, out _));
    }

    [Theory]
    [InlineData("alice", true)]
    [InlineData("754cd3a0-27b3-4c51-a66e-466fed82b667", true)]
    [InlineData("svc:worker@host.example", true)]
    [InlineData("has space", false)]
    [InlineData("a/b", false)]
    [InlineData("a+", false)]
    [InlineData("", false)]
    public void ClientId_Validation(string value, bool valid) => Assert.Equal(valid, ClientId.TryCreate(value, out _));

    [Fact]
    public void ClientId_LongerThanTheMaximum_IsInvalid() => Assert.False(ClientId.TryCreate(new string('a', ClientId.MaxLength + 1), out _));
}
