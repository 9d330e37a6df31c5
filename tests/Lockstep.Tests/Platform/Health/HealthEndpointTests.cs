using System.Net;
using Lockstep.Tests.Support;

namespace Lockstep.Tests.Platform.Health;

public sealed class HealthEndpointTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Live_WhenServerRuns_Returns200()
    {
        var response = await server.Client().GetAsync("/health/live");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Ready_WhenEveryMigrationIsApplied_Returns200()
    {
        var response = await server.Client().GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Ready_WhenAMigrationIsPending_Returns503()
    {
        var (name, checksum) = await LatestMigrationAsync();
        await server.ScalarAsync<int>("with gone as (delete from platform.schema_migrations where name = $1 returning 1) select count(*)::int from gone", name);
        try
        {
            var response = await server.Client().GetAsync("/health/ready");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }
        finally
        {
            await server.ScalarAsync<int>(
                "with back as (insert into platform.schema_migrations (name, checksum) values ($1, $2) returning 1) select count(*)::int from back",
                name, checksum);
        }
    }

    private async Task<(string Name, string Checksum)> LatestMigrationAsync()
    {
        var name = await server.ScalarAsync<string>("select max(name) from platform.schema_migrations");
        var checksum = await server.ScalarAsync<string>("select checksum from platform.schema_migrations where name = $1", name);
        return (name, checksum);
    }
}
