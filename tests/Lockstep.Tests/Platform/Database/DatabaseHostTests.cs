using Lockstep.Platform.Database;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Lockstep.Tests.Platform.Database;

public sealed class DatabaseHostTests
{
    [Fact]
    public async Task StartAsync_WhenNoConnectionStringIsConfigured_RunsMigratedEmbeddedClusterThatStopsAndKeepsData()
    {
        await using var folder = new ClusterFolder();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Lockstep:DataDir"] = folder.Path,
            ["Lockstep:Embedded:Port"] = ClusterFolder.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
        }).Build();

        var first = new DatabaseHost(configuration, NullLogger<DatabaseHost>.Instance);
        await first.StartAsync(CancellationToken.None);
        try
        {
            Assert.Equal("127.0.0.1", new NpgsqlConnectionStringBuilder(first.DataSource.ConnectionString).Host);
            Assert.True(await MigrationRunner.BuiltIn(first.DataSource).IsCurrentAsync());
            await using var create = first.OwnerDataSource.CreateCommand("create table kept (v int); insert into kept values (5)");
            await create.ExecuteNonQueryAsync();
        }
        finally
        {
            await first.StopAsync(CancellationToken.None);
        }
        Assert.Empty(folder.Processes());
        Assert.Throws<InvalidOperationException>(() => first.DataSource);

        var second = new DatabaseHost(configuration, NullLogger<DatabaseHost>.Instance);
        await second.StartAsync(CancellationToken.None);
        try
        {
            await using var read = second.OwnerDataSource.CreateCommand("select v from kept");
            Assert.Equal(5, await read.ExecuteScalarAsync());
            Assert.True(await MigrationRunner.BuiltIn(second.DataSource).IsCurrentAsync());
        }
        finally
        {
            await second.StopAsync(CancellationToken.None);
        }
        Assert.Empty(folder.Processes());
    }

    [Fact]
    public async Task DataSource_WhenOnTheEmbeddedCluster_LogsInAsTheServingRoleWhichCannotBecomeTheOwner()
    {
        await using var folder = new ClusterFolder();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Lockstep:DataDir"] = folder.Path,
            ["Lockstep:Embedded:Port"] = "0",
        }).Build();

        // Twice: the second start finds the cluster, the role and its password file already there.
        foreach (var start in new[] { "first start", "second start" })
        {
            var host = new DatabaseHost(configuration, NullLogger<DatabaseHost>.Instance);
            await host.StartAsync(CancellationToken.None);
            try
            {
                await using var ownerLogin = host.OwnerDataSource.CreateCommand("select session_user");
                var owner = (string)(await ownerLogin.ExecuteScalarAsync())!;
                await using var connection = await host.DataSource.OpenConnectionAsync();
                foreach (var escape in new[] { $"set role \"{owner}\"", $"set session authorization \"{owner}\"", "reset role", "reset session authorization" })
                {
                    var refused = await Record.ExceptionAsync(() => ScalarAsync<object>(connection, escape));
                    Assert.True(refused is null or PostgresException { SqlState: PostgresErrorCodes.InsufficientPrivilege }, $"{start}, {escape}: {refused}");
                    var current = await ScalarAsync<string>(connection, "select current_user");
                    Assert.True(current == DatabaseHost.ServingRole, $"{start}: after {escape}, current_user is {current}");
                }
                Assert.Equal(DatabaseHost.ServingRole, await ScalarAsync<string>(connection, "select session_user"));
                Assert.False(await ScalarAsync<bool>(connection, "select rolsuper from pg_roles where rolname = session_user"), start);
            }
            finally
            {
                await host.StopAsync(CancellationToken.None);
            }
        }
        var passwordFiles = Directory.GetFiles(folder.Path, "*password*");
        Assert.Equal(2, passwordFiles.Length);
        Assert.All(passwordFiles, file => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file)));
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    [Theory]
    [InlineData("postgres://app:s3cret@db.example.com:6543/shop", "db.example.com", 6543, "shop", "app", "s3cret")]
    [InlineData("postgresql://app@localhost/shop", "localhost", 5432, "shop", "app", null)]
    [InlineData("postgres://us%40er:p%3Aw%2Fd@10.0.0.5/my%20db", "10.0.0.5", 5432, "my db", "us@er", "p:w/d")]
    [InlineData("postgres://db.internal:5433/shop", "db.internal", 5433, "shop", null, null)]
    public void FromUrl_WhenUrlIsValid_GivesItsParts(string url, string host, int port, string database, string? user, string? password)
    {
        var parsed = new NpgsqlConnectionStringBuilder(DatabaseHost.FromUrl(url));

        Assert.Equal(host, parsed.Host);
        Assert.Equal(port, parsed.Port);
        Assert.Equal(database, parsed.Database);
        Assert.Equal(user, parsed.Username);
        Assert.Equal(password, parsed.Password);
    }

    [Theory]
    [InlineData("postgres://h/db?sslmode=require", SslMode.Require)]
    [InlineData("postgres://h/db?application_name=x&sslmode=verify-full", SslMode.VerifyFull)]
    [InlineData("postgres://h/db?sslmode=disable", SslMode.Disable)]
    public void FromUrl_WhenUrlHasSslMode_KeepsIt(string url, SslMode mode) =>
        Assert.Equal(mode, new NpgsqlConnectionStringBuilder(DatabaseHost.FromUrl(url)).SslMode);

    [Theory]
    [InlineData("mysql://app:pw@host/db")]
    [InlineData("Host=localhost;Database=shop")]
    [InlineData("localhost:5432/shop")]
    [InlineData("")]
    public void FromUrl_WhenNotAPostgresUrl_ThrowsClearError(string url)
    {
        var error = Assert.Throws<InvalidOperationException>(() => DatabaseHost.FromUrl(url));

        Assert.Contains("DATABASE_URL", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConfiguredConnectionString_WhenBothAreSet_PrefersConnectionStringsLockstep()
    {
        var both = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Lockstep"] = "Host=primary;Database=a",
            ["DATABASE_URL"] = "postgres://other/b",
        }).Build();
        var urlOnly = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DATABASE_URL"] = "postgres://other/b",
        }).Build();

        Assert.Equal("Host=primary;Database=a", DatabaseHost.ConfiguredConnectionString(both));
        Assert.Equal("other", new NpgsqlConnectionStringBuilder(DatabaseHost.ConfiguredConnectionString(urlOnly)).Host);
        Assert.Null(DatabaseHost.ConfiguredConnectionString(new ConfigurationBuilder().Build()));
    }

    [Theory]
    [InlineData("Host=db", null, -1)]
    [InlineData("Host=db;Maximum Pool Size=30", null, 30)]
    [InlineData("Host=db;Maximum Pool Size=30", "12", 12)]
    [InlineData("Host=db", "200", 200)]
    public async Task CreateDataSource_PoolSize_IsTheSettingThenTheConnectionStringsThenFourPerCore(string connectionString, string? setting, int expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Lockstep:Database:MaxPoolSize"] = setting,
        }).Build();

        await using var dataSource = DatabaseHost.CreateDataSource(connectionString, configuration);

        var pool = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString).MaxPoolSize;
        Assert.Equal(expected == -1 ? Math.Max(8, 4 * Environment.ProcessorCount) : expected, pool);
        Assert.NotEqual(100, pool);
    }
}
