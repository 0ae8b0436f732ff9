using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Daakia.Server.Zaqar;

namespace Daakia.Server.Tests.Zaqar;

/// <summary>
/// Zaqar's pre-signed URL signature (docs/zaqar-wire.md §7.2): the test vector, the literal <c>\n</c> separators, sorting,
/// Zaqar's reading of an expiry, and the path patterns of a grant (never a hang).
/// </summary>
public sealed class ZaqarSignerTests
{
    private const string Key = "reference-secret";
    private const string Vector = "a8d274d2317f7a117d7060ef876b9e020279dd00d503171dce07c4e1ecc7c201";
    private static readonly string[] Paths = ["/v2/queues/demo/messages", "/v2/queues/demo/claims"];
    private static readonly DateTimeOffset Before = new(2029, 12, 31, 23, 59, 0, TimeSpan.Zero);

    [Fact]
    public void TheSignature_IsTheReferenceVector_WhateverTheOrderOfPathsAndMethods()
    {
        Assert.Equal(Vector, ZaqarSigner.Sign(Key, Paths, ["GET", "POST"], "p1", "2030-01-01T00:00:00"));
        Assert.Equal(Vector, ZaqarSigner.Sign(Key, Paths.Reverse(), ["POST", "GET"], "p1", new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc)));

        // The separators are a backslash and an n, not newlines (Zaqar's raw format string).
        var literal = @"/v2/queues/demo/claims,/v2/queues/demo/messages\nGET,POST\np1\n2030-01-01T00:00:00";
        Assert.Equal(Vector, Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Key), Encoding.UTF8.GetBytes(literal))));
        Assert.NotEqual(Vector, ZaqarSigner.Sign(Key, Paths, ["GET", "POST"], "p2", "2030-01-01T00:00:00"));
        Assert.NotEqual(Vector, ZaqarSigner.Sign(Key, Paths, ["GET", "POST"], null, "2030-01-01T00:00:00")); // signed as "None"
    }

    [Fact]
    public void Verify_HoldsOnlyForTheSignedGrant_Unexpired_UnderTheSameKey()
    {
        bool Verify(string? key = Key, string? project = "p1", string? expires = "2030-01-01T00:00:00", string? signature = Vector, DateTimeOffset? now = null, string[]? methods = null) =>
            ZaqarSigner.Verify(key, Paths, methods ?? ["POST", "GET"], project, expires, signature, now ?? Before);

        Assert.True(Verify());
        Assert.True(Verify(expires: "2030-01-01T02:00:00+02:00")); // read as Zaqar reads it, then signed normalised
        Assert.False(Verify(signature: Vector.ToUpperInvariant())); // Zaqar compares the hex as it is
        Assert.False(Verify(signature: Vector[..^1] + "0"));
        Assert.False(Verify(signature: ""));
        Assert.False(Verify(project: "p2"));
        Assert.False(Verify(methods: ["GET"]));
        Assert.False(Verify(key: "another-secret-key"));
        Assert.False(Verify(key: null));
        Assert.False(Verify(expires: "2030-01-01T00:00:01"));
        Assert.False(Verify(expires: null));
        Assert.False(Verify(now: new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero))); // expired: not after now
        Assert.False(ZaqarSigner.Verify(Key, [], ["GET"], "p1", "2030-01-01T00:00:00", Vector, Before));
    }

    [Theory]
    [InlineData("2030-01-01T00:00:00", "2030-01-01T00:00:00")]
    [InlineData("2030-01-01T00:00:00Z", "2030-01-01T00:00:00")]
    [InlineData("2030-01-01T00:00:00.999999", "2030-01-01T00:00:00")]
    [InlineData("2030-01-01T05:30:00+05:30", "2030-01-01T00:00:00")]
    [InlineData("2029-12-31T19:00:00-0500", "2030-01-01T00:00:00")]
    [InlineData("2030-01-01 01:00:00+01", "2030-01-01T00:00:00")]
    [InlineData("2030-01-01T00:00", "2030-01-01T00:00:00")]
    [InlineData("2030-01-01", "2030-01-01T00:00:00")]
    public void AnExpiry_IsReadAsIso8601_AndWrittenInUtcToTheSecond(string text, string written)
    {
        Assert.Null(ZaqarSigner.ParseExpires(text, out var utc));
        Assert.Equal(written, ZaqarSigner.FormatExpires(utc));
    }

    [Theory]
    [InlineData("1893456000", "`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: 1893456000")]
    [InlineData("tomorrow", "Unable to parse date string 'tomorrow'")]
    [InlineData("0", "Unable to parse date string '0'")]
    [InlineData("2030-13-01T00:00:00", "Unable to parse date string '2030-13-01T00:00:00'")]
    public void AnExpiryThatIsNoDate_IsRefusedWithZaqarsReason(string text, string reason) =>
        Assert.Equal(reason, ZaqarSigner.ParseExpires(text, out _));

    [Fact]
    public void AGrantsPaths_ArePatternsSearchedInTheRequestPath_AndABadOrSlowOneAdmitsNothing()
    {
        Assert.True(ZaqarSignedAccess.Admits(["/v2/queues/demo/messages"], "/v2/queues/demo/messages"));
        Assert.True(ZaqarSignedAccess.Admits(["/v2/queues/demo/claims", "/v2/queues/demo/messages"], $"/v2/queues/demo/messages/{Guid.NewGuid()}"));
        Assert.False(ZaqarSignedAccess.Admits(["/v2/queues/demo/messages"], "/v2/queues/demo/claims"));
        Assert.False(ZaqarSignedAccess.Admits(["/v2/queues/demo/messages"], "/v2/queues/demo2/messages"));
        Assert.False(ZaqarSignedAccess.Admits(["/v2/queues/(?P<q>demo)/messages"], "/v2/queues/demo/messages")); // Python-only syntax
        Assert.False(ZaqarSignedAccess.Admits(["/v2/queues/demo/messages("], "/v2/queues/demo/messages"));

        // Catastrophic backtracking: stopped by the match timeout, and not admitted.
        var clock = Stopwatch.StartNew();
        Assert.False(ZaqarSignedAccess.Admits(["^(a+)+$"], new string('a', 40) + "!"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }
}
