
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
    [InlineData("+/#", "a", true)]
    [InlineData("a/+", "a", false)]
    [InlineData("a/+", "a/", true)]
    [InlineData("+/+", "/", true)]
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
    [InlineData("$share/g/a/+", "g", "a/+")]
    [InlineData("$share/g/#", "g", "#")]
    [InlineData("$share/group-1/$presence/+", "group-1", "$presence/+")]
    [InlineData("$share/g//", "g", "/")]
    public void TrySplitShared_SharedFilters_GiveShareNameAndTopicFilter(string filter, string group, string topicFilter)
    {
        Assert.True(TopicNames.IsValidFilter(filter, Options, out _));
        Assert.True(TopicNames.TrySplitShared(filter, out var g, out var tf));
        Assert.Equal(group, g);
        Assert.Equal(topicFilter, tf);
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("$share")]
    [InlineData("$shared/g/a")]
    [InlineData("$presence/+")]
    public void TrySplitShared_OtherFilters_AreNotShared(string filter)
    {
        Assert.True(TopicNames.IsValidFilter(filter, Options, out _));
        Assert.False(TopicNames.TrySplitShared(filter, out var g, out var tf));
        Assert.Null(g);
        Assert.Equal(filter, tf);
    }

    [Theory]
    [InlineData("$share/")]
    [InlineData("$share//a")]
    [InlineData("$share/g")]
    [InlineData("$share/g/")]
    [InlineData("$share/g+/a")]
    [InlineData("$share/#/a")]
    [InlineData("$share/g/a#")]
    [InlineData("$share/g/a/b/c/d/e")]
    public void IsValidFilter_MalformedSharedFilters_AreRejectedWithAReason(string filter)
    {
        Assert.False(TopicNames.IsValidFilter(filter, Options, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void IsValidFilter_TheSharePrefix_DoesNotCountAgainstTheLevelLimit() =>
        Assert.True(TopicNames.IsValidFilter("$share/g/a/b/c/d", Options, out _));

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
