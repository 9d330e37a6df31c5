using System.Net;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting;

namespace Lockstep.Tests.Platform.Database;

public sealed class PoolExhaustionTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task Call_WhenEveryPooledConnectionStaysBusy_Answers503DatabaseUnavailableAndTheBusyCallStillFinishes()
    {
        await using (var create = db.DataSource.CreateCommand("""
            create function public.test_pool_hold(p_seconds double precision) returns void
            language sql as $$ select pg_sleep(p_seconds) $$;
            grant execute on function public.test_pool_hold(double precision) to lockstep_api
            """))
        {
            await create.ExecuteNonQueryAsync();
        }
        // A pool of 2: the gift notification listener holds one, the slow call takes the other.
        await using var root = new LockstepFactory(db.ConnectionString);
        await using var factory = root.WithWebHostBuilder(b => b
            .UseSetting("Lockstep:Database:MaxPoolSize", "2")
            .UseSetting("Lockstep:Database:ConnectTimeoutSeconds", "1"));
        var client = factory.Client(Guid.NewGuid());
        await client.PostAsync("/rest/v1/rpc/list_workspaces", null);

        var slow = client.PostAsync("/rest/v1/rpc/test_pool_hold", Http.Json("""{"p_seconds": 8}"""));
        await Task.Delay(TimeSpan.FromSeconds(1));
        var waiting = await client.GetAsync("/api/workspaces");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, waiting.StatusCode);
        Assert.Contains("database_unavailable", await waiting.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.NotNull(waiting.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.NoContent, (await slow).StatusCode);
    }
}
