using System.Reflection;
using Daakia.Core;
using Daakia.Server;
using Daakia.Storage.Sqlite;
using Daakia.Testing;
using Microsoft.Extensions.Configuration;

namespace Daakia.Host.Tests;

/// <summary>The rules of every options class, checked in process through the host's own binding (no I/O).</summary>
public sealed class ConfigurationValidationTests
{
    private static DaakiaConfiguration Read(params (string Key, string Value)[] settings) =>
        DaakiaConfiguration.Read(new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build());

    private static IReadOnlyList<string> Problems(params (string Key, string Value)[] settings) =>
        Assert.Throws<DaakiaConfigurationException>(() => Read(settings)).Problems;

    [Fact]
    public void Defaults_AreValid()
    {
        var config = Read();
        Assert.Equal(new DaakiaCoreOptions().InboxPageSize, config.Core.InboxPageSize);
        Assert.Equal(1024, config.Store.MaxBatchSize);
        Assert.Equal(Path.GetFullPath("./daakia-data"), config.Store.DataDirectory);
    }

    [Fact]
    public void ValuesAtTheEdges_AreValid_AndReachTheirOptions()
    {
        var config = Read(
            ("Daakia:HttpPort", "65535"), ("Daakia:MqttPort", "0"), ("Daakia:Bind", "::1"), ("Daakia:Durability", "OS"), ("Daakia:LogFormat", "JSON"),
            ("Daakia:OutboxCapacity", "8"), ("Daakia:MaxJsonDepth", "1"), ("Daakia:DrainTimeoutSeconds", "0"), ("Daakia:OpenTenants:0", "acme"),
            ("Daakia:Core:InboxPageSize", "1"), ("Daakia:Core:MaxInflightPerConnection", "2"), ("Daakia:Core:RouteCacheSize", "0"),
            ("Daakia:Core:MinHeartbeat", "00:00:05"), ("Daakia:Core:DefaultHeartbeat", "00:00:05"), ("Daakia:Core:MaxHeartbeat", "1.00:00:00"),
            ("Daakia:Core:HeartbeatCheckInterval", "00:00:05"), ("Daakia:Store:MaxBatchSize", "1"), ("Daakia:Store:ReaderPoolSize", "64"));
        Assert.Equal(65535, config.Host.HttpPort);
        Assert.Equal(System.Net.IPAddress.IPv6Loopback, config.Bind);
        Assert.Equal(SqliteDurability.Os, config.Store.Durability);
        Assert.Equal(["acme"], config.Server.OpenTenants);
        Assert.Equal(2, config.Core.MaxInflightPerConnection);
        Assert.Equal(TimeSpan.FromDays(1), config.Core.MaxHeartbeat);
        Assert.Equal(1, config.Store.MaxBatchSize);
        Assert.Equal(64, config.Store.ReaderPoolSize);
    }

    [Theory]
    // Host
    [InlineData("Daakia:HttpPort", "65536", "Daakia:HttpPort must be between 0 and 65535 (was 65536)")]
    [InlineData("Daakia:HttpPort", "-1", "Daakia:HttpPort must be between 0 and 65535 (was -1)")]
    [InlineData("Daakia:HttpPort", "eighty", "Daakia:HttpPort must be a whole number (was 'eighty')")]
    [InlineData("Daakia:MqttPort", "70000", "Daakia:MqttPort must be between 0 and 65535 (was 70000)")]
    [InlineData("Daakia:TcpMaxSegmentSize", "100", "Daakia:TcpMaxSegmentSize must be 0 (the kernel's choice) or between 536 and 32767 (was 100)")]
    [InlineData("Daakia:Bind", "localhost", "Daakia:Bind must be an IP address such as 127.0.0.1, ::1 or 0.0.0.0 (was 'localhost')")]
    [InlineData("Daakia:Bind", "1", "Daakia:Bind must be an IP address")]
    [InlineData("Daakia:Bind", "10.1.2.3", "Daakia:Bind is 10.1.2.3, not loopback: refusing to serve the open development tenant there")]
    [InlineData("Daakia:DataDir", " ", "Daakia:DataDir must be a directory path (was ' '): not a usable path")]
    [InlineData("Daakia:Durability", "fsycn", "Daakia:Durability must be one of fsync, os (was 'fsycn')")]
    [InlineData("Daakia:Durability", "", "Daakia:Durability must be one of fsync, os (was '')")]
    [InlineData("Daakia:LogFormat", "xml", "Daakia:LogFormat must be one of simple, json (was 'xml')")]
    [InlineData("Daakia:InlineIo", "yes", "Daakia:InlineIo must be true or false (was 'yes')")]
    [InlineData("Daakia:AllowOpenTenantOnNetwork", "1", "Daakia:AllowOpenTenantOnNetwork must be true or false (was '1')")]
    // Adapters
    [InlineData("Daakia:OpenTenants:0", "no spaces", "Daakia:OpenTenants:0 must be a tenant id: 1-64 of [A-Za-z0-9._-] (was 'no spaces')")]
    [InlineData("Daakia:MaxFrameBytes", "100", "Daakia:MaxFrameBytes must be between 256 and 134217728 (was 100)")]
    [InlineData("Daakia:OutboxCapacity", "0", "Daakia:OutboxCapacity must be between 8 and 1048576 (was 0)")]
    [InlineData("Daakia:MaxRequestsPerSecond", "0", "Daakia:MaxRequestsPerSecond must be between 1 and 10000000 (was 0)")]
    [InlineData("Daakia:RequestBurst", "0", "Daakia:RequestBurst must be between 1 and 10000000 (was 0)")]
    [InlineData("Daakia:HelloTimeoutSeconds", "0", "Daakia:HelloTimeoutSeconds must be between 1 and 3600 (was 0)")]
    [InlineData("Daakia:MaxJsonDepth", "0", "Daakia:MaxJsonDepth must be between 1 and 1000 (was 0)")]
    [InlineData("Daakia:MaxRequestIdLength", "0", "Daakia:MaxRequestIdLength must be between 1 and 1024 (was 0)")]
    [InlineData("Daakia:MaxRequestBodyBytes", "0", "Daakia:MaxRequestBodyBytes must be between 256 and 134217728 (was 0)")]
    [InlineData("Daakia:DrainTimeoutSeconds", "-1", "Daakia:DrainTimeoutSeconds must be between 0 and 3600 (was -1)")]
    // Core
    [InlineData("Daakia:Core:MaxPayloadBytes", "0", "Daakia:Core:MaxPayloadBytes must be between 1 and 67108864 (was 0)")]
    [InlineData("Daakia:Core:MaxRecipients", "0", "Daakia:Core:MaxRecipients must be between 1 and 10000 (was 0)")]
    [InlineData("Daakia:Core:MaxConnectionsPerClient", "0", "Daakia:Core:MaxConnectionsPerClient must be between 1 and 10000 (was 0)")]
    [InlineData("Daakia:Mqtt:PaceMilliseconds", "-1", "Daakia:Mqtt:PaceMilliseconds must be between 0 and 60000 (was -1)")]
    [InlineData("Daakia:Mqtt:PaceMinimumBytes", "100", "Daakia:Mqtt:PaceMinimumBytes must be at least 4096 (was 100)")]
    [InlineData("Daakia:Core:MaxSubscriptionsPerConnection", "0", "Daakia:Core:MaxSubscriptionsPerConnection must be between 1 and 100000 (was 0)")]
    [InlineData("Daakia:Core:MaxTopicLength", "0", "Daakia:Core:MaxTopicLength must be between 1 and 65535 (was 0)")]
    [InlineData("Daakia:Core:MaxTopicLevels", "0", "Daakia:Core:MaxTopicLevels must be between 1 and 1024 (was 0)")]
    [InlineData("Daakia:Core:MaxInflightPerConnection", "0", "Daakia:Core:MaxInflightPerConnection must be between 1 and 65536 (was 0)")]
    [InlineData("Daakia:Core:InboxPageSize", "0", "Daakia:Core:InboxPageSize must be between 1 and 10000 (was 0)")]
    [InlineData("Daakia:Core:InboxPageSize", "lots", "Daakia:Core:InboxPageSize must be a whole number (was 'lots')")]
    [InlineData("Daakia:Core:DefaultHeartbeat", "30", "Daakia:Core:DefaultHeartbeat must be at most Daakia:Core:MaxHeartbeat (01:00:00) (was 30.00:00:00)")]
    [InlineData("Daakia:Core:DefaultHeartbeat", "00:00:00.5", "Daakia:Core:MinHeartbeat must be at most Daakia:Core:DefaultHeartbeat (00:00:00.5) (was 00:00:01)")]
    [InlineData("Daakia:Core:DefaultHeartbeat", "soon", "Daakia:Core:DefaultHeartbeat must be a duration such as 00:00:30 (hh:mm:ss)")]
    [InlineData("Daakia:Core:MinHeartbeat", "00:00:00", "Daakia:Core:MinHeartbeat must be between 00:00:00.1 and 1.00:00:00 (was 00:00:00)")]
    [InlineData("Daakia:Core:MaxHeartbeat", "2.00:00:00", "Daakia:Core:MaxHeartbeat must be between 00:00:00.1 and 1.00:00:00 (was 2.00:00:00)")]
    [InlineData("Daakia:Core:MissedHeartbeats", "0", "Daakia:Core:MissedHeartbeats must be between 1 and 100 (was 0)")]
    [InlineData("Daakia:Core:HeartbeatCheckInterval", "00:00:00", "Daakia:Core:HeartbeatCheckInterval must be between 00:00:00.01 and 1.00:00:00 (was 00:00:00)")]
    [InlineData("Daakia:Core:HeartbeatCheckInterval", "00:00:02", "Daakia:Core:HeartbeatCheckInterval must be at most Daakia:Core:MinHeartbeat (00:00:01) (was 00:00:02)")]
    [InlineData("Daakia:Core:ExpirySweepInterval", "-00:00:01", "Daakia:Core:ExpirySweepInterval must be between 00:00:00.01 and 1.00:00:00 (was -00:00:01)")]
    [InlineData("Daakia:Core:MaxTtl", "00:00:00.5", "Daakia:Core:MaxTtl must be between 00:00:01 and 3650.00:00:00 (was 00:00:00.5)")]
    [InlineData("Daakia:Core:MaxHeadersPerLetter", "-1", "Daakia:Core:MaxHeadersPerLetter must be between 0 and 1024 (was -1)")]
    [InlineData("Daakia:Core:MaxHeaderBytes", "2000000", "Daakia:Core:MaxHeaderBytes must be between 0 and 1048576 (was 2000000)")]
    [InlineData("Daakia:Core:RouteCacheSize", "-1", "Daakia:Core:RouteCacheSize must be between 0 and 1000000 (was -1)")]
    [InlineData("Daakia:Core:MaxStatusTextLength", "-1", "Daakia:Core:MaxStatusTextLength must be between 0 and 10000 (was -1)")]
    [InlineData("Daakia:Core:MaxPageSize", "0", "Daakia:Core:MaxPageSize must be between 1 and 10000 (was 0)")]
    // Store
    [InlineData("Daakia:Store:MaxBatchSize", "0", "Daakia:Store:MaxBatchSize must be between 1 and 100000 (was 0)")]
    [InlineData("Daakia:Store:ReaderPoolSize", "0", "Daakia:Store:ReaderPoolSize must be between 1 and 64 (was 0)")]
    [InlineData("Daakia:Store:DataDirectory", "/x", "Daakia:Store:DataDirectory is not a setting; use Daakia:DataDir")]
    [InlineData("Daakia:Store:Durability", "os", "Daakia:Store:Durability is not a setting; use Daakia:Durability")]
    public void BadValue_IsTheOneProblem_NamingItsKey(string key, string value, string expected)
    {
        var problem = Assert.Single(Problems((key, value)));
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Daakia:Core:MaxIdempotencyBytesPerQueue", "16000", "Daakia:Core:MaxIdempotencyBytesPerQueue must be at least 16352 (was 16000): room for one key of a full post (Daakia:Core:MaxMessagesPerPost = 1000)")]
    [InlineData("Daakia:Core:MaxInflightPerConnection", "1025", "Daakia:Core:MaxInflightPerConnection must be at most 2 × Daakia:Core:InboxPageSize = 1024 (was 1025)")]
    [InlineData("Daakia:OutboxCapacity", "100", "Daakia:Core:MaxInflightPerConnection must be at most half of Daakia:OutboxCapacity = 50 (was 256)")]
    [InlineData("Daakia:MqttPort", "8398", "Daakia:MqttPort must differ from Daakia:HttpPort (was 8398)")]
    public void RelatedSettings_ThatDisagree_AreReported(string key, string value, string expected)
    {
        var problem = Assert.Single(Problems((key, value)));
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void TheZaqarSigningKey_IsAtLeast16Characters_AndNeverShownInTheProblem()
    {
        Assert.Equal("exactly-16-chars", Read(("Daakia:Zaqar:SignedUrlKey", "exactly-16-chars")).Server.Zaqar.SignedUrlKey);
        Assert.Null(Read().Server.Zaqar.SignedUrlKey);
        var problem = Assert.Single(Problems(("Daakia:Zaqar:SignedUrlKey", "15-chars-secret")));
        Assert.Equal("Daakia:Zaqar:SignedUrlKey must be at least 16 characters (was '(not shown)')", problem);
    }

    [Fact]
    public void PortZero_ForBoth_IsValid()
    {
        var config = Read(("Daakia:HttpPort", "0"), ("Daakia:MqttPort", "0"));
        Assert.Equal(0, config.Host.MqttPort);
    }

    [Fact]
    public void NonLoopbackBind_WithTheOpenTenantAllowed_IsValid() =>
        Assert.Equal(System.Net.IPAddress.Any, Read(("Daakia:Bind", "0.0.0.0"), ("Daakia:AllowOpenTenantOnNetwork", "true")).Bind);

    [Fact]
    public void DataDirThatIsAFile_IsRefused()
    {
        var file = Path.Combine(Unique.TempDirectory(), "not-a-dir");
        File.WriteAllText(file, "");
        Assert.StartsWith($"Daakia:DataDir must be a directory path (was '{file}'): it is a file", Assert.Single(Problems(("Daakia:DataDir", file))), StringComparison.Ordinal);
        Assert.EndsWith($": {file} is a file", Assert.Single(Problems(("Daakia:DataDir", Path.Combine(file, "sub")))), StringComparison.Ordinal);
    }

    [Fact]
    public void EveryProblem_IsReportedAtOnce_AndAValueOutOfItsOwnRangeDoesNotAlsoFailTheRulesBuiltOnIt()
    {
        var problems = Problems(("Daakia:HttpPort", "x"), ("Daakia:Core:InboxPageSize", "0"), ("Daakia:Store:MaxBatchSize", "0"), ("Daakia:Durability", "never"));
        Assert.Equal(
            [
                "Daakia:HttpPort must be a whole number (was 'x')",
                "Daakia:Durability must be one of fsync, os (was 'never')",
                "Daakia:Core:InboxPageSize must be between 1 and 10000 (was 0)",
                "Daakia:Store:MaxBatchSize must be between 1 and 100000 (was 0)",
            ],
            problems);
    }

    /// <summary>
    /// Guards the validators as options are added: a number or duration no one could mean (its type's minimum) must be
    /// refused for every such property, naming it. A new option without a rule fails here.
    /// </summary>
    [Theory]
    [InlineData(typeof(DaakiaHostSettings), "Daakia")]
    [InlineData(typeof(DaakiaServerOptions), "Daakia")]
    [InlineData(typeof(DaakiaCoreOptions), "Daakia:Core")]
    [InlineData(typeof(SqliteStoreOptions), "Daakia:Store")]
    public void EveryNumericAndDurationSetting_HasARule(Type options, string section)
    {
        var checkedAny = false;
        foreach (var property in options.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var absurd = property.PropertyType switch
            {
                var t when t == typeof(int) => int.MinValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
                var t when t == typeof(long) => long.MinValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
                var t when t == typeof(TimeSpan) => TimeSpan.MinValue.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
                _ => null,
            };
            if (absurd is null || property.SetMethod is not { IsPublic: true })
            {
                continue;
            }

            checkedAny = true;
            var key = $"{section}:{property.Name}";
            var error = Record.Exception(() => Read((key, absurd)));
            var problems = Assert.IsType<DaakiaConfigurationException>(error).Problems;
            // Named as the wrong setting, or as the limit of a related one (DefaultHeartbeat bounds MinHeartbeat).
            Assert.Contains(problems, p => p.Contains(key + " ", StringComparison.Ordinal));
        }

        Assert.True(checkedAny, $"{options.Name} has numeric settings");
    }

    [Fact]
    public void Helper_RefusesARuleOnAnExpressionRatherThanASetting()
    {
        var v = new OptionsValidation("Daakia");
        var o = new DaakiaCoreOptions();
        Assert.Throws<ArgumentException>(() => v.Between(o.InboxPageSize * 2, 1, 10));
    }
}
