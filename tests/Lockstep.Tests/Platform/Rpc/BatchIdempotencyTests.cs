using System.Net;
using System.Text.Json;
using Lockstep.Tests.Support;
using static Lockstep.Tests.Platform.Rpc.Batches;

namespace Lockstep.Tests.Platform.Rpc;

/// <summary>A batch with an Idempotency-Key is the unit: its effect and its stored answer commit together.</summary>
public sealed class BatchIdempotencyTests(BatchServerFixture server) : IClassFixture<BatchServerFixture>
{
    private static readonly DateTimeOffset Tomorrow = DateTimeOffset.UtcNow.Date.AddDays(1).AddHours(9);

    private async Task<(Guid Owner, Guid Workspace)> WorkspaceAsync()
    {
        var owner = Guid.NewGuid();
        var created = await server.ScalarAsUserAsync<string>(owner, "select public.create_workspace('Studio')");
        return (owner, JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid());
    }

    private static HttpRequestMessage Keyed(string body, string key) => new(HttpMethod.Post, "/rest/v1/rpc")
    {
        Content = Http.Json(body),
        Headers = { { "Idempotency-Key", key } },
    };

    private static string ClientAndPack(Guid workspace, object bookingEndsAt) => Body(
        ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Ann Lee", p_contact_name = "Ann Lee", p_contact_phone = "+1 555 010 0199" }),
        ("create_purchase", new { p_client_id = Ref("0.client_id"), p_sessions_total = 10 }),
        ("create_booking", new { p_client_id = Ref("0.client_id"), p_starts_at = Tomorrow, p_ends_at = bookingEndsAt }));

    [Fact]
    public async Task KeyedBatch_WhenRetriedWithTheSameKey_RunsOnceAndReplaysTheAnswer()
    {
        var (owner, workspace) = await WorkspaceAsync();
        var client = server.Client(owner);
        var body = ClientAndPack(workspace, Tomorrow.AddHours(1));
        var key = Guid.NewGuid().ToString();

        var first = await client.SendAsync(Keyed(body, key));
        var retry = await client.SendAsync(Keyed(body, key));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        Assert.Equal("true", retry.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(await first.Content.ReadAsStringAsync(), await retry.Content.ReadAsStringAsync());
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from crm.clients where workspace_id = $1", workspace));
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from sessions.bookings where workspace_id = $1", workspace));
    }

    [Fact]
    public async Task KeyedBatch_WhenACallIsRefused_LeavesNothingAndReplaysTheRefusal()
    {
        var (owner, workspace) = await WorkspaceAsync();
        var client = server.Client(owner);
        var body = ClientAndPack(workspace, Tomorrow.AddHours(-1));
        var key = Guid.NewGuid().ToString();

        var first = await client.SendAsync(Keyed(body, key));
        var retry = await client.SendAsync(Keyed(body, key));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, first.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, retry.StatusCode);
        Assert.Equal("true", retry.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from crm.clients where workspace_id = $1", workspace));
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from sessions.purchases where workspace_id = $1", workspace));
    }
}
