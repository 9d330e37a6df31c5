using System.Net;
using System.Text.Json;
using Lockstep.Tests.Sessions;
using Lockstep.Tests.Support;
using static Lockstep.Tests.Platform.Rpc.Batches;

namespace Lockstep.Tests.Platform.Rpc;

/// <summary>POST /rest/v1/rpc with {"calls": [...]}: in order, one transaction, all or nothing, $refs between calls.</summary>
public sealed class BatchTests(BatchServerFixture server) : IClassFixture<BatchServerFixture>
{
    private static readonly DateTimeOffset Tomorrow = DateTimeOffset.UtcNow.Date.AddDays(1).AddHours(9);

    private async Task<(Guid Owner, Guid Workspace)> WorkspaceAsync()
    {
        var owner = Guid.NewGuid();
        var created = await server.ScalarAsUserAsync<string>(owner, "select public.create_workspace('Studio')");
        return (owner, JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid());
    }

    /// <summary>A client with its contact, a 10-session pack for it, and a booking on that pack; the booking's end is a parameter.</summary>
    private static string ClientPackBooking(Guid workspace, object bookingEndsAt) => Body(
        ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Ann Lee", p_contact_name = "Ann Lee", p_contact_phone = "+1 555 010 0199" }),
        ("create_purchase", new { p_client_id = Ref("0.client_id"), p_sessions_total = 10, p_price = 120.50m }),
        ("create_booking", new { p_client_id = Ref("0.client_id"), p_purchase_id = Ref("1.purchase_id"), p_starts_at = Tomorrow, p_ends_at = bookingEndsAt }));

    private async Task<(long Clients, long Contacts, long Packs, long Bookings)> CountAsync(Guid workspace) => (
        await server.ScalarAsync<long>("select count(*) from crm.clients where workspace_id = $1", workspace),
        await server.ScalarAsync<long>("select count(*) from crm.contacts where workspace_id = $1", workspace),
        await server.ScalarAsync<long>("select count(*) from sessions.purchases where workspace_id = $1", workspace),
        await server.ScalarAsync<long>("select count(*) from sessions.bookings where workspace_id = $1", workspace));

    [Fact]
    public async Task Batch_WhenClientPackAndBookingReferenceEachOther_CommitsAllThreeAndReturnsEachResult()
    {
        var (owner, workspace) = await WorkspaceAsync();

        var response = await PostAsync(server.Client(owner), ClientPackBooking(workspace, Tomorrow.AddHours(1)));

        var results = await AssertResultsAsync(response);
        Assert.Equal(3, results.Length);
        Assert.All(results, r => Assert.True(r.GetProperty("success").GetBoolean()));
        Assert.Equal((1L, 1L, 1L, 1L), await CountAsync(workspace));
        var client = Id(results[0], "client_id");
        var pack = Id(results[1], "purchase_id");
        var booking = Id(results[2], "booking_id");
        Assert.Equal(1L, await server.ScalarAsync<long>("""
            select count(*) from sessions.bookings b
            join sessions.purchases p on p.workspace_id = b.workspace_id and p.id = b.purchase_id
            where b.id = $1 and b.client_id = $2 and p.id = $3 and p.client_id = $2 and p.sessions_total = 10 and p.price = 120.50
            """, booking, client, pack));
    }

    [Fact]
    public async Task Batch_WhenTheThirdCallIsRefused_LeavesNoneOfThemAndNamesTheCall()
    {
        var (owner, workspace) = await WorkspaceAsync();

        // The booking ends before it starts: create_booking refuses with invalid_booking_times.
        var response = await PostAsync(server.Client(owner), ClientPackBooking(workspace, Tomorrow.AddHours(-1)));

        var error = await AssertErrorAsync(response, HttpStatusCode.UnprocessableEntity, "invalid_booking_times", 2);
        Assert.False(error.GetProperty("refusal").GetProperty("success").GetBoolean());
        Assert.Equal("invalid_booking_times", error.GetProperty("refusal").GetProperty("code").GetString());
        Assert.Equal((0L, 0L, 0L, 0L), await CountAsync(workspace));
    }

    [Fact]
    public async Task Batch_WhenTheThirdCallRaises_LeavesNoneOfThemAndAnswersThePostgrestError()
    {
        var (owner, workspace) = await WorkspaceAsync();

        // Not a timestamp: PostgreSQL raises 22007 while calling create_booking.
        var response = await PostAsync(server.Client(owner), ClientPackBooking(workspace, "not a time"));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "22007", 2);
        Assert.Equal((0L, 0L, 0L, 0L), await CountAsync(workspace));
    }

    [Fact]
    public async Task Batch_WhenAScalarSessionCallRaises_RollsBackTheSessionsUsedBeforeIt()
    {
        var (owner, _, client) = await SessionsTestData.ClientAsync(server);
        var pack = await SessionsTestData.PackAsync(server, owner, client, 5);

        // release_session raises P0001 (no_session_to_release) on an unused pack; the two uses before it are undone.
        var response = await PostAsync(server.Client(owner), Body(
            ("use_session", new { p_purchase_id = pack }),
            ("release_session", new { p_purchase_id = pack }),
            ("release_session", new { p_purchase_id = pack })));

        var error = await AssertErrorAsync(response, HttpStatusCode.BadRequest, "P0001", 2);
        Assert.Equal("no_session_to_release", error.GetProperty("hint").GetString());
        Assert.Equal(0, await SessionsTestData.UsedAsync(server, pack));
    }

    [Fact]
    public async Task Batch_WhenFunctionsReturnScalarsVoidAndSets_ReturnsEachAsSingleRpcWould()
    {
        var (owner, _, client) = await SessionsTestData.ClientAsync(server);
        var pack = await SessionsTestData.PackAsync(server, owner, client, 1);

        var response = await PostAsync(server.Client(owner), Body(
            ("use_session", new { p_purchase_id = pack }),
            ("use_session", new { p_purchase_id = pack }),
            ("test_batch_note", new { p_note = "hello" }),
            ("get_purchase", new { p_purchase_id = pack })));

        var results = await AssertResultsAsync(response);
        Assert.True(results[0].GetBoolean());
        Assert.False(results[1].GetBoolean()); // use_session's false is its value, not a refusal: the batch commits
        Assert.Equal(JsonValueKind.Null, results[2].ValueKind);
        Assert.Equal(1, results[3].GetProperty("purchase").GetProperty("sessions_used").GetInt32());
        Assert.Equal(1, await SessionsTestData.UsedAsync(server, pack));
    }

    [Fact]
    public async Task Batch_WhenRefsPointIntoNestedValuesArraysAndWholeResults_SubstitutesThem()
    {
        var (owner, _) = await WorkspaceAsync();

        var response = await PostAsync(server.Client(owner), Body(
            ("test_batch_echo", new { p_value = new { items = new object[] { new { id = 7, tags = new[] { "a", "b" } } }, note = (string?)null } }),
            ("test_batch_echo", new { p_value = new { id = Ref("0.items.0.id"), tag = Ref("0.items.0.tags.1"), note = Ref("0.note"), nested = new[] { Ref("0.items") } } }),
            ("test_batch_echo", new { p_value = Ref("1") })));

        var results = await AssertResultsAsync(response);
        Assert.Equal(7, results[1].GetProperty("id").GetInt32());
        Assert.Equal("b", results[1].GetProperty("tag").GetString());
        Assert.Equal(JsonValueKind.Null, results[1].GetProperty("note").ValueKind);
        Assert.Equal(7, results[1].GetProperty("nested")[0][0].GetProperty("id").GetInt32());
        Assert.Equal(results[1].GetRawText(), results[2].GetRawText());
    }

    [Theory]
    [InlineData("3.client_id", "calls[1].args.p_client_id")] // a call that does not exist
    [InlineData("1.client_id", "calls[1].args.p_client_id")] // the call itself
    [InlineData("2.purchase_id", "calls[1].args.p_client_id")] // a later call
    public async Task Batch_WhenARefPointsToAMissingOrLaterCall_Answers400NamingItAndRunsNothing(string reference, string location)
    {
        var (owner, workspace) = await WorkspaceAsync();

        var response = await PostAsync(server.Client(owner), Body(
            ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Ann", p_contact_name = "Ann" }),
            ("create_purchase", new { p_client_id = Ref(reference), p_sessions_total = 10 }),
            ("test_batch_note", new { p_note = "x" })));

        var error = await AssertErrorAsync(response, HttpStatusCode.BadRequest, "batch_ref_invalid", 1);
        var message = error.GetProperty("message").GetString()!;
        Assert.Contains(location, message, StringComparison.Ordinal);
        Assert.Contains(reference, message, StringComparison.Ordinal);
        Assert.Equal((0L, 0L, 0L, 0L), await CountAsync(workspace));
    }

    [Theory]
    [InlineData("0.customer_id")] // no such field
    [InlineData("0.client_id.deeper")] // below a string
    [InlineData("1.purchase_id")] // the result of a void call is null
    public async Task Batch_WhenARefNamesAFieldTheResultLacks_Answers400NamingItAndRollsBack(string reference)
    {
        var (owner, workspace) = await WorkspaceAsync();

        var response = await PostAsync(server.Client(owner), Body(
            ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Ann", p_contact_name = "Ann" }),
            ("test_batch_note", new { p_note = "x" }),
            ("create_purchase", new { p_client_id = Ref(reference), p_sessions_total = 10 })));

        var error = await AssertErrorAsync(response, HttpStatusCode.BadRequest, "batch_ref_missing", 2);
        Assert.Contains("calls[2].args.p_client_id", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains(reference, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal((0L, 0L, 0L, 0L), await CountAsync(workspace));
    }

    [Fact]
    public async Task Batch_WhenFiftyCallsAreSent_RunsAllOfThem()
    {
        var (owner, _, client) = await SessionsTestData.ClientAsync(server);
        var pack = await SessionsTestData.PackAsync(server, owner, client, 100);

        var calls = Enumerable.Range(0, 50).Select(_ => ("use_session", (object)new { p_purchase_id = pack })).ToArray();
        var results = await AssertResultsAsync(await PostAsync(server.Client(owner), Body(calls)));

        Assert.Equal(50, results.Length);
        Assert.Equal(50, await SessionsTestData.UsedAsync(server, pack));
    }

    [Fact]
    public async Task Batch_WhenTheCallerHasNoToken_Answers401With42501ForTheFirstCallAndRunsNothing()
    {
        var (_, workspace) = await WorkspaceAsync();

        var response = await PostAsync(server.Client(), Body(
            ("test_batch_echo", new { p_value = new { note = "anyone" } }),
            ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Theirs", p_contact_name = "Theirs" })));

        var error = await AssertErrorAsync(response, HttpStatusCode.Unauthorized, "42501", 0);
        Assert.Equal("permission denied for function test_batch_echo", error.GetProperty("message").GetString());
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
        Assert.Equal((0L, 0L, 0L, 0L), await CountAsync(workspace));
    }
}
