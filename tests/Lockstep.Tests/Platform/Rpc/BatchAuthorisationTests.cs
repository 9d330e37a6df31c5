using System.Net;
using System.Text.Json;
using Lockstep.Tests.Gifts;
using Lockstep.Tests.Sessions;
using static Lockstep.Tests.Platform.Rpc.Batches;

namespace Lockstep.Tests.Platform.Rpc;

/// <summary>
/// A call the caller may not make alone is refused inside a batch too, and takes the allowed calls
/// before it down with it: the same claims reach every call, and the SQL functions check them.
/// </summary>
public sealed class BatchAuthorisationTests(BatchServerFixture server) : IClassFixture<BatchServerFixture>
{
    private static readonly DateTimeOffset Tomorrow = DateTimeOffset.UtcNow.Date.AddDays(1).AddHours(9);

    private async Task<Guid> OwnWorkspaceAsync(Guid user)
    {
        var created = await server.ScalarAsUserAsync<string>(user, "select public.create_workspace('Elsewhere')");
        return JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid();
    }

    private Task<long> CountAsync(string table, Guid workspace) =>
        server.ScalarAsync<long>($"select count(*) from {table} where workspace_id = $1", workspace);

    /// <summary>
    /// Each case: the caller first does something it may do (a client in its own workspace, when it has one),
    /// then the call it may not make alone. Expected: that call's own refusal, at index 1, nothing written.
    /// </summary>
    [Theory]
    [InlineData("crm: outsider creates a client in another workspace", "workspace_not_found")]
    [InlineData("crm: outsider adds a contact to another workspace's client", "workspace_not_found")]
    [InlineData("sessions: outsider sells a pack to another workspace's client", "client_not_found")]
    [InlineData("sessions: outsider books another workspace's client", "client_not_found")]
    [InlineData("sessions: outsider consumes a session of another workspace's pack", "purchase_not_found")]
    [InlineData("platform: plain member adds an owner", "forbidden")]
    [InlineData("gifts: celebrant claims an item of their own wishlist", "celebrant_forbidden")]
    [InlineData("gifts: member adds an item to someone else's wishlist", "celebrant_only_forbidden")]
    public async Task Batch_WhenACallIsOneTheCallerMayNotMakeAlone_RefusesItAndRollsBackTheBatch(string scenario, string code)
    {
        var (owner, workspace, client) = await SessionsTestData.ClientAsync(server);
        var pack = await SessionsTestData.PackAsync(server, owner, client, 10);
        var outsider = Guid.NewGuid();
        var outsiderWorkspace = await OwnWorkspaceAsync(outsider);
        var member = Guid.NewGuid();
        await server.ScalarAsUserAsync<string>(owner, "select public.add_member($1, $2, 'member')", workspace, member);
        var gifts = await GiftGroup.CreateAsync(server, others: 0);
        var allowed = ("create_client_with_contact", (object)new { p_workspace_id = outsiderWorkspace, p_client_name = "Mine", p_contact_name = "Mine" });

        var (caller, body) = scenario switch
        {
            "crm: outsider creates a client in another workspace" => (outsider, Body(allowed,
                ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Theirs", p_contact_name = "Theirs" }))),
            "crm: outsider adds a contact to another workspace's client" => (outsider, Body(allowed,
                ("add_contact", new { p_workspace_id = workspace, p_client_id = client, p_name = "Spy" }))),
            "sessions: outsider sells a pack to another workspace's client" => (outsider, Body(allowed,
                ("create_purchase", new { p_client_id = client, p_sessions_total = 5 }))),
            "sessions: outsider books another workspace's client" => (outsider, Body(allowed,
                ("create_booking", new { p_client_id = client, p_starts_at = Tomorrow, p_ends_at = Tomorrow.AddHours(1), p_purchase_id = pack }))),
            "sessions: outsider consumes a session of another workspace's pack" => (outsider, Body(allowed,
                ("consume_session", new { p_purchase_id = pack }))),
            "platform: plain member adds an owner" => (member, Body(
                ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Allowed", p_contact_name = "Allowed" }),
                ("add_member", new { p_workspace_id = workspace, p_user_id = Guid.NewGuid(), p_role = "owner" }))),
            "gifts: celebrant claims an item of their own wishlist" => (gifts.Celebrant, Body(
                ("add_wishlist_item", new { p_wishlist_id = gifts.Wishlist, p_title = "Kite", p_price = 20m }),
                ("claim_item", new { p_item_id = Ref("0.item_id") }))),
            "gifts: member adds an item to someone else's wishlist" => (gifts.Claimer, Body(
                ("create_wishlist", new { p_workspace_id = gifts.Workspace, p_title = "Mine" }),
                ("add_wishlist_item", new { p_wishlist_id = gifts.Wishlist, p_title = "Kite", p_price = 20m }))),
            _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
        };

        var response = await PostAsync(server.Client(caller), body);

        await AssertErrorAsync(response, HttpStatusCode.UnprocessableEntity, code, 1);
        Assert.Equal(1L, await CountAsync("crm.clients", workspace)); // the seeded client only
        Assert.Equal(0L, await CountAsync("crm.contacts", workspace));
        Assert.Equal(0L, await CountAsync("crm.clients", outsiderWorkspace));
        Assert.Equal(1L, await CountAsync("sessions.purchases", workspace));
        Assert.Equal(0L, await CountAsync("sessions.bookings", workspace));
        Assert.Equal(0, await SessionsTestData.UsedAsync(server, pack));
        Assert.Equal(2L, await CountAsync("platform.members", workspace));
        Assert.Equal(0L, await CountAsync("gifts.wishlist_items", gifts.Workspace));
        Assert.Equal(1L, await CountAsync("gifts.wishlists", gifts.Workspace));
    }

    [Fact]
    public async Task Batch_WhenAnOutsiderUsesAnotherWorkspacesPack_GetsFalseAsAloneAndNothingMoves()
    {
        var (owner, _, client) = await SessionsTestData.ClientAsync(server);
        var pack = await SessionsTestData.PackAsync(server, owner, client, 10);
        var outsider = server.Client(Guid.NewGuid());

        var results = await AssertResultsAsync(await PostAsync(outsider, Body(("use_session", new { p_purchase_id = pack }))));
        // get_purchase answers an outsider {"success": false}: inside a batch that refusal rolls the batch back.
        var refused = await PostAsync(outsider, Body(("use_session", new { p_purchase_id = pack }), ("get_purchase", new { p_purchase_id = pack })));

        Assert.False(results[0].GetBoolean());
        await AssertErrorAsync(refused, HttpStatusCode.UnprocessableEntity, "purchase_not_found", 1);
        Assert.Equal(0, await SessionsTestData.UsedAsync(server, pack));
    }

    [Theory]
    [InlineData("pg_sleep")]
    [InlineData("set_config")]
    [InlineData("crm.client_json")]
    [InlineData("sessions.complete_past_bookings")]
    [InlineData("public.create_workspace")]
    public async Task Batch_WhenAFunctionIsNotInTheExposedSchema_Answers404NamingTheCallAndRunsNothing(string fn)
    {
        var user = Guid.NewGuid();
        var workspace = await OwnWorkspaceAsync(user);

        var response = await PostAsync(server.Client(user), Body(
            ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Ann", p_contact_name = "Ann" }),
            (fn, new { })));

        var error = await AssertErrorAsync(response, HttpStatusCode.NotFound, "PGRST202", 1);
        Assert.Contains("calls[1]", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(0L, await CountAsync("crm.clients", workspace));
    }
}
