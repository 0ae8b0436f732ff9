namespace Daakia.Core.Tests;

/// <summary>A letter's headers are bytes it holds in memory: windows and in-flight limits count them with the payload.</summary>
public sealed class HeaderBytesTests
{
    [Fact]
    public void Size_IsPayloadPlusTheUtf8BytesOfEveryHeader()
    {
        var letter = new Letter
        {
            Id = Guid.CreateVersion7(),
            Tenant = TenantId.Default,
            Author = ClientId.Parse("alice"),
            Recipients = [ClientId.Parse("bob")],
            Payload = new byte[10],
            Headers = [new("k", "v"), new("é", "✓✓")],
            Timestamp = DateTimeOffset.UnixEpoch,
        };
        Assert.Equal(10 + 1 + 1 + 2 + 6, letter.Size);
        Assert.Equal(letter.Size, letter.Size);
    }

    [Fact]
    public async Task InflightBytes_CountHeaders_NotOnlyThePayload()
    {
        await using var f = await new EngineFixture(o => o.MaxInflightBytesPerConnection = 2500).StartAsync();
        var (_, bob) = await f.ConnectAsync("bob");
        KeyValuePair<string, string>[] headers = [new("trace", new string('h', 1000))];
        for (var i = 0; i < 5; i++)
        {
            await f.Engine.Letters.SendAsync(EngineFixture.Tenant, EngineFixture.Id("alice"), [EngineFixture.Id("bob")], EngineFixture.Json("1"), headers: headers);
        }

        // Each letter holds ~1,000 bytes of headers and a 1-byte payload: two fit in 2,500 bytes in flight, not five.
        Assert.Equal(2, bob.Letters.Count);
        await f.AckAsync("bob", bob.Letters.ToArray());
        Assert.Equal(4, bob.Letters.Count);
    }
}
