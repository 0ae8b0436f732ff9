namespace Daakia.Core.Tests;

/// <summary>An activity entry's texts are bounded, so the log's size is bounded by its entry count.</summary>
public sealed class ActivityEntryTests
{
    private static ActivityEntry Entry(string? subject, string? detail) =>
        new(0, TenantId.Default, DateTimeOffset.UnixEpoch, ActivityKinds.TaskFailed, null, subject, detail);

    [Fact]
    public void LongSubjectAndDetail_AreCutWithAnEllipsis_ShortOnesKept()
    {
        var e = Entry(new string('s', 5000), new string('d', ActivityEntry.MaxTextLength + 1));
        Assert.Equal(ActivityEntry.MaxTextLength, e.Subject!.Length);
        Assert.EndsWith("…", e.Subject, StringComparison.Ordinal);
        Assert.Equal(ActivityEntry.MaxTextLength, e.Detail!.Length);
        Assert.Equal("ok", Entry("ok", null).Subject);
        Assert.Null(Entry(null, null).Detail);
        var exact = new string('x', ActivityEntry.MaxTextLength);
        Assert.Equal(exact, Entry(exact, exact).Detail);
    }

    [Fact]
    public void ACut_NeverSplitsASurrogatePair_AndWithCutsToo()
    {
        var text = new string('a', ActivityEntry.MaxTextLength - 2) + "😀" + new string('b', 10);
        var e = Entry(null, text);
        Assert.True(System.Text.Unicode.Utf8.IsValid(System.Text.Encoding.UTF8.GetBytes(e.Detail!)));
        Assert.DoesNotContain('\uFFFD', e.Detail!);
        Assert.False(char.IsHighSurrogate(e.Detail![^2]));
        var again = e with { Detail = new string('z', 4000) };
        Assert.Equal(ActivityEntry.MaxTextLength, again.Detail!.Length);
    }
}
