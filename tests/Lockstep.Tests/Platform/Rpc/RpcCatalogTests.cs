using System.Net;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting;

namespace Lockstep.Tests.Platform.Rpc;

[RunsOnCitus]
public sealed class RpcCatalogTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task KeyedRpcCalls_WhenTheyAreTheFirstRequestsAndFillThePool_AllRunWithoutWaitingForAConnection()
    {
        // A keyed call holds its pooled connection for the whole request; if the function catalog were
        // read at the first rpc call, that read would need one more connection than a full pool has.
        await using var root = new LockstepFactory(db.ConnectionString);
        await using var factory = root.WithWebHostBuilder(b => b
            .UseSetting("Lockstep:Database:MaxPoolSize", "3")
            .UseSetting("Lockstep:Database:ConnectTimeoutSeconds", "2"));
        var owner = Guid.NewGuid();
        var client = factory.Client(owner);

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => client.SendAsync(
            new HttpRequestMessage(HttpMethod.Post, "/rest/v1/rpc/create_workspace")
            {
                Content = Http.Json($$"""{"p_name": "Studio {{i}}"}"""),
                Headers = { { "Idempotency-Key", Guid.NewGuid().ToString() } },
            })));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
        Assert.Equal(8L, await db.ScalarAsync<long>("select count(*) from platform.members where user_id = $1", owner));
    }
}
