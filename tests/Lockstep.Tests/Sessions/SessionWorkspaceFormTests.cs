using System.Text.Json;
using Lockstep.Tests.Reliability;
using Lockstep.Tests.Support;
using Npgsql;
using static Lockstep.Tests.Sessions.SessionsTestData;

namespace Lockstep.Tests.Sessions;

/// <summary>
/// The p_workspace_id forms of the session functions (use_session(p_workspace_id, p_purchase_id), ...):
/// the same answers as the seed's id-only forms, and a row of another workspace answered as a missing one.
/// </summary>
public sealed class SessionWorkspaceFormTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private Task<string> CallAsync(Guid user, string sql, params object?[] args) => db.ScalarAsUserAsync<string>(user, sql, args);

    [Fact]
    public async Task Reads_WhenNamedWithTheirWorkspace_AnswerAsTheIdOnlyForms()
    {
        var (owner, workspace, client) = await ClientAsync(db);
        var pack = await PackAsync(db, owner, client, 3);
        await PackAsync(db, owner, client, 5);
        await BookingAsync(db, owner, client, pack, DateTimeOffset.UtcNow.AddDays(2));
        await BookingAsync(db, owner, client, null, DateTimeOffset.UtcNow.AddDays(3));

        Assert.Equal(await CallAsync(owner, "select public.get_purchase($1)", pack),
            await CallAsync(owner, "select public.get_purchase($1, $2)", workspace, pack));
        Assert.Equal(await CallAsync(owner, "select public.list_client_purchases($1, 1)", client),
            await CallAsync(owner, "select public.list_client_purchases($1, $2, 1)", workspace, client));
        Assert.Equal(await CallAsync(owner, "select public.list_client_bookings($1, 1)", client),
            await CallAsync(owner, "select public.list_client_bookings($1, $2, 1)", workspace, client));
        Assert.Contains("\"next_before\": \"", await CallAsync(owner, "select public.list_client_bookings($1, $2, 1)", workspace, client));
    }

    [Fact]
    public async Task PackChanges_WhenBothFormsAlternateOnOnePack_AnswerAlike()
    {
        var (owner, workspace, client) = await ClientAsync(db);
        var pack = await PackAsync(db, owner, client, 3);

        Assert.True(await db.ScalarAsUserAsync<bool>(owner, "select public.use_session($1, $2)", workspace, pack));
        Assert.True(await db.ScalarAsUserAsync<bool>(owner, "select public.use_session($1)", pack));
        var consumed = await CallAsync(owner, "select public.consume_session($1, $2)", workspace, pack);
        Assert.Equal(3, JsonDocument.Parse(consumed).RootElement.GetProperty("purchase").GetProperty("sessions_used").GetInt32());
        Assert.False(await db.ScalarAsUserAsync<bool>(owner, "select public.use_session($1, $2)", workspace, pack));
        Assert.False(await db.ScalarAsUserAsync<bool>(owner, "select public.use_session($1)", pack));
        Assert.Equal(await CallAsync(owner, "select public.consume_session($1)", pack),
            await CallAsync(owner, "select public.consume_session($1, $2)", workspace, pack));

        Assert.Equal(2, await db.ScalarAsUserAsync<int>(owner, "select public.release_session($1, $2)", workspace, pack));
        Assert.Equal(1, await db.ScalarAsUserAsync<int>(owner, "select public.release_session($1)", pack));
        var reinstated = await CallAsync(owner, "select public.reinstate_session($1, $2)", workspace, pack);
        Assert.Equal(0, JsonDocument.Parse(reinstated).RootElement.GetProperty("purchase").GetProperty("sessions_used").GetInt32());
        Assert.Equal(await CallAsync(owner, "select public.reinstate_session($1)", pack),
            await CallAsync(owner, "select public.reinstate_session($1, $2)", workspace, pack));
        var idOnly = await Assert.ThrowsAsync<PostgresException>(() => db.ScalarAsUserAsync<int>(owner, "select public.release_session($1)", pack));
        var routed = await Assert.ThrowsAsync<PostgresException>(() => db.ScalarAsUserAsync<int>(owner, "select public.release_session($1, $2)", workspace, pack));
        Assert.Equal(("P0001", "no_session_to_release"), (routed.SqlState, routed.ConstraintName));
        Assert.Equal((idOnly.SqlState, idOnly.ConstraintName, idOnly.MessageText), (routed.SqlState, routed.ConstraintName, routed.MessageText));
        Assert.Equal(0, await UsedAsync(db, pack));
    }

    [Fact]
    public async Task CreatesAndBookingChanges_WhenNamedWithTheirWorkspace_WorkAsTheIdOnlyForms()
    {
        var (owner, workspace, client) = await ClientAsync(db);
        var created = JsonDocument.Parse(await CallAsync(owner, "select public.create_purchase($1, $2, 4, 80.00)", workspace, client)).RootElement;
        var pack = created.GetProperty("purchase_id").GetGuid();
        Assert.Equal(4, await db.ScalarAsync<int>("select sessions_total from sessions.purchases where workspace_id = $1 and id = $2", workspace, pack));
        Assert.Equal(await CallAsync(owner, "select public.create_purchase($1, 0)", client),
            await CallAsync(owner, "select public.create_purchase($1, $2, 0)", workspace, client));

        var starts = DateTimeOffset.UtcNow.AddDays(5);
        var booking = JsonDocument.Parse(await CallAsync(owner, "select public.create_booking($1, $2, $3, $4, $5)",
            workspace, client, starts, starts.AddHours(1), pack)).RootElement.GetProperty("booking_id").GetGuid();
        Assert.Equal(await CallAsync(owner, "select public.create_booking($1, $2, $2)", client, starts),
            await CallAsync(owner, "select public.create_booking($1, $2, $3, $3)", workspace, client, starts));

        var completed = await CallAsync(owner, "select public.complete_booking($1, $2)", workspace, booking);
        Assert.Contains("\"already\": false", completed);
        Assert.Equal(1, await UsedAsync(db, pack));
        Assert.Equal(await CallAsync(owner, "select public.complete_booking($1)", booking),
            await CallAsync(owner, "select public.complete_booking($1, $2)", workspace, booking));
        Assert.Equal(await CallAsync(owner, "select public.mark_no_show($1)", booking),
            await CallAsync(owner, "select public.mark_no_show($1, $2)", workspace, booking));
        var cancelled = await CallAsync(owner, "select public.cancel_booking($1, $2, true)", workspace, booking);
        Assert.Contains("\"reinstated\": true", cancelled);
        Assert.Equal(0, await UsedAsync(db, pack));
        Assert.Equal(await CallAsync(owner, "select public.cancel_booking($1, true)", booking),
            await CallAsync(owner, "select public.cancel_booking($1, $2, true)", workspace, booking));
    }

    /// <summary>The p_workspace_id form of each session function: $1 the workspace, $2 the id, then the rest.</summary>
    public static TheoryData<string> WorkspaceForms() =>
    [
        "select public.get_purchase($1, $2)",
        "select public.use_session($1, $2)::text",
        "select public.consume_session($1, $2)",
        "select public.reinstate_session($1, $2)",
        "select public.list_client_purchases($1, $2)",
        "select public.create_purchase($1, $2, 5)",
        "select public.list_client_bookings($1, $2)",
        "select public.create_booking($1, $2, now() + interval '1 day', now() + interval '1 day 1 hour')",
        "select public.complete_booking($1, $2)",
        "select public.mark_no_show($1, $2)",
        "select public.cancel_booking($1, $2, true)",
    ];

    [Theory]
    [MemberData(nameof(WorkspaceForms))]
    public async Task WorkspaceForm_WhenTheIdIsInAnotherWorkspaceOfTheCaller_AnswersAsForAMissingIdAndChangesNothing(string sql)
    {
        // The caller owns both workspaces: membership does not hide the row, only the workspace named.
        var (owner, workspace, client) = await ClientAsync(db);
        var pack = await PackAsync(db, owner, client, 3);
        await db.ScalarAsUserAsync<bool>(owner, "select public.use_session($1)", pack);
        var booking = await BookingAsync(db, owner, client, pack, DateTimeOffset.UtcNow.AddDays(2));
        var other = JsonDocument.Parse(await CallAsync(owner, "select public.create_workspace('Other studio')")).RootElement
            .GetProperty("workspace_id").GetGuid();
        var id = sql.Contains("client", StringComparison.Ordinal) || sql.Contains("create_", StringComparison.Ordinal) ? client
            : sql.Contains("booking", StringComparison.Ordinal) ? booking
            : pack;
        var before = await RouteWorld.SnapshotAsync(db);

        var foreign = await CallAsync(owner, sql, other, id);
        var missing = await CallAsync(owner, sql, other, Guid.NewGuid());

        Assert.Equal(missing, foreign);
        Assert.True(foreign == "false" || foreign.Contains("_not_found", StringComparison.Ordinal), foreign);
        Assert.Equal(before, await RouteWorld.SnapshotAsync(db));
    }

    [Fact]
    public async Task ReleaseSession_WhenThePackIsInAnotherWorkspaceOfTheCaller_RaisesPurchaseNotFoundAndChangesNothing()
    {
        var (owner, _, client) = await ClientAsync(db);
        var pack = await PackAsync(db, owner, client, 3);
        await db.ScalarAsUserAsync<bool>(owner, "select public.use_session($1)", pack);
        var other = JsonDocument.Parse(await CallAsync(owner, "select public.create_workspace('Other studio')")).RootElement
            .GetProperty("workspace_id").GetGuid();

        var refused = await Assert.ThrowsAsync<PostgresException>(() => db.ScalarAsUserAsync<int>(owner, "select public.release_session($1, $2)", other, pack));

        Assert.Equal(("P0001", "purchase_not_found"), (refused.SqlState, refused.ConstraintName));
        Assert.Equal(1, await UsedAsync(db, pack));
    }
}
