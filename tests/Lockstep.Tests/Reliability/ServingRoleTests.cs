using Lockstep.Platform.Database;
using Lockstep.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Lockstep.Tests.Reliability;

/// <summary>The running server (the one every HTTP test uses) serves as lockstep_api and migrates as the owner.</summary>
public sealed class ServingRoleTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Server_WhenStarted_ServesRequestsAsTheServingRoleAndKeepsTheOwnerForMigrations()
    {
        var database = server.Factory.Services.GetRequiredService<DatabaseHost>();
        await using (var serving = database.DataSource.CreateCommand("select current_user"))
        {
            Assert.Equal(DatabaseHost.ServingRole, await serving.ExecuteScalarAsync());
        }
        await using var owner = database.OwnerDataSource.CreateCommand("select current_user");
        Assert.NotEqual(DatabaseHost.ServingRole, await owner.ExecuteScalarAsync());
    }
}
