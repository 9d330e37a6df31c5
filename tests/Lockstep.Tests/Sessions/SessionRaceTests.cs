using Lockstep.Platform.Database;
using System.Text.Json;
using Lockstep.Tests.Support;
using Microsoft.Extensions.Configuration;
using Npgsql;
using static Lockstep.Tests.Sessions.SessionsTestData;

namespace Lockstep.Tests.Sessions;

/// <summary>use_session, release_session and complete_booking under many real concurrent connections.</summary>
[RunsOnCitus]
public sealed class SessionRaceTests : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private readonly DatabaseFixture _db;
    private NpgsqlDataSource _wide = null!;

    public SessionRaceTests(DatabaseFixture db) => _db = db;

    // The fixture's pool stops at 100; the races need 200 connections open at once.
    public Task InitializeAsync()
    {
        // As the serving role, like the server's calls (set up for routed calls on Citus, as the server's are).
        var serving = DatabaseHost.ServingConnectionString(_db.ConnectionString, new ConfigurationBuilder().Build());
        serving = TestCluster.OnCitus ? DatabaseHost.RoutingConnectionString(serving) : serving;
        // On Citus a call by pack id alone reads every shard before it waits its turn on the pack's row: 200 of
        // them queue for longer than Npgsql's 30 s default on a 3-node cluster sharing 2 cores (measured 38-55 s
        // for the whole race), so the wait is the command timeout's, not the assertion's.
        _wide = new NpgsqlDataSourceBuilder(serving)
        {
            ConnectionStringBuilder = { MaxPoolSize = 250, CommandTimeout = TestCluster.OnCitus ? 180 : 30 },
        }.Build();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _wide.DisposeAsync();

    /// <summary>Opens one connection per call first, then releases every call at the same moment.</summary>
    private async Task<List<Result<T>>> RunAtOnceAsync<T>(IReadOnlyList<(Guid User, string Sql, object[] Args)> calls)
    {
        var connections = new List<NpgsqlConnection>();
        try
        {
            foreach (var _ in calls)
            {
                connections.Add(await _wide.OpenConnectionAsync());
            }
            var start = new TaskCompletionSource();
            var tasks = calls.Select(async (call, i) =>
            {
                await start.Task;
                try
                {
                    return new Result<T>(await DatabaseFixture.ScalarAsUserAsync<T>(connections[i], call.User, call.Sql, call.Args), null);
                }
                catch (PostgresException e)
                {
                    return new Result<T>(default, e);
                }
            }).ToList();
            start.SetResult();
            return [.. await Task.WhenAll(tasks)];
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    private sealed record Result<T>(T? Value, PostgresException? Error);

    [Fact]
    public async Task UseSession_When200CallersRaceForA10SessionPack_Exactly10Succeed()
    {
        // 200 concurrent connections, one use_session each.
        var (owner, _, client) = await ClientAsync(_db);
        var pack = await PackAsync(_db, owner, client, 10);

        var results = await RunAtOnceAsync<bool>(Enumerable.Range(0, 200)
            .Select(_ => (owner, "select public.use_session(p_purchase_id => $1)", new object[] { pack })).ToList());

        Assert.All(results, r => Assert.Null(r.Error));
        Assert.Equal(10, results.Count(r => r.Value));
        Assert.Equal(190, results.Count(r => !r.Value));
        Assert.Equal(10, await UsedAsync(_db, pack));
    }

    [Fact]
    public async Task UseSessionInWorkspace_When200CallersRaceForA10SessionPack_Exactly10Succeed()
    {
        // 200 concurrent connections, one use_session(p_workspace_id, p_purchase_id) each: the routed form.
        var (owner, workspace, client) = await ClientAsync(_db);
        var pack = await PackAsync(_db, owner, client, 10);

        var results = await RunAtOnceAsync<bool>(Enumerable.Range(0, 200)
            .Select(_ => (owner, "select public.use_session(p_workspace_id => $1, p_purchase_id => $2)", new object[] { workspace, pack })).ToList());

        Assert.All(results, r => Assert.Null(r.Error));
        Assert.Equal(10, results.Count(r => r.Value));
        Assert.Equal(10, await UsedAsync(_db, pack));
    }

    [Fact]
    public async Task UseAndRelease_WhenMixedConcurrently_NeverBreakTheCheckAndTheCountAddsUp()
    {
        // 160 concurrent connections: 100 use_session and 60 release_session on a 20-session pack with 5 used.
        var (owner, _, client) = await ClientAsync(_db);
        var pack = await PackAsync(_db, owner, client, 20);
        for (var i = 0; i < 5; i++)
        {
            Assert.True(await _db.ScalarAsUserAsync<bool>(owner, "select public.use_session($1)", pack));
        }
        var uses = Enumerable.Range(0, 100).Select(_ => (owner, "select public.use_session($1)::int", new object[] { pack }));
        var releases = Enumerable.Range(0, 60).Select(_ => (owner, "select public.release_session($1)", new object[] { pack }));
        var calls = uses.Zip(releases.Concat(Enumerable.Repeat(default((Guid, string, object[])), 40)))
            .SelectMany(p => p.Second.Item2 is null ? new[] { p.First } : [p.First, p.Second]).ToList();

        var results = await RunAtOnceAsync<int>(calls);

        var useResults = results.Where((_, i) => calls[i].Item2.Contains("use_session")).ToList();
        var releaseResults = results.Where((_, i) => calls[i].Item2.Contains("release_session")).ToList();
        var successfulUses = useResults.Count(r => r.Value == 1);
        var successfulReleases = releaseResults.Count(r => r.Error is null);
        // A refused release is the stated refusal, never a CHECK violation.
        Assert.All(releaseResults.Where(r => r.Error is not null), r =>
        {
            Assert.Equal("P0001", r.Error!.SqlState);
            Assert.Equal("no_session_to_release", r.Error.ConstraintName);
        });
        Assert.All(useResults, r => Assert.Null(r.Error));
        Assert.All(releaseResults.Where(r => r.Error is null), r => Assert.InRange(r.Value, 0, 19));
        Assert.Equal(5 + successfulUses - successfulReleases, await UsedAsync(_db, pack));
        Assert.InRange(await UsedAsync(_db, pack), 0, 20);
    }

    [Fact]
    public async Task ReleaseSession_WhenNothingIsUsed_RaisesNoSessionToRelease()
    {
        var (owner, _, client) = await ClientAsync(_db);
        var pack = await PackAsync(_db, owner, client, 3);

        var e = await Assert.ThrowsAsync<PostgresException>(() => _db.ScalarAsUserAsync<int>(owner, "select public.release_session($1)", pack));

        Assert.Equal("P0001", e.SqlState);
        Assert.Equal("no_session_to_release", e.ConstraintName);
        Assert.Equal("no_session_to_release", e.Hint);
        Assert.Equal(0, await UsedAsync(_db, pack));
    }

    [Fact]
    public async Task UseSession_WhenThePackExpired_ReturnsFalseAndConsumeSaysPackExpired()
    {
        var (owner, _, client) = await ClientAsync(_db);
        var pack = await PackAsync(_db, owner, client, 3, DateTimeOffset.UtcNow.AddSeconds(1));
        await _db.ScalarAsync<int>("update sessions.purchases set expires_at = now() - interval '1 minute' where id = $1 returning 1", pack);

        Assert.False(await _db.ScalarAsUserAsync<bool>(owner, "select public.use_session($1)", pack));
        var refusal = JsonDocument.Parse(await _db.ScalarAsUserAsync<string>(owner, "select public.consume_session($1)", pack)).RootElement;
        Assert.Equal("pack_expired", refusal.GetProperty("code").GetString());
        Assert.Equal(0, await UsedAsync(_db, pack));
    }

    [Fact]
    public async Task UseReleaseAndRead_WhenTheCallerIsInAnotherWorkspace_AreRefusedAsNotFound()
    {
        var (owner, _, client) = await ClientAsync(_db);
        var pack = await PackAsync(_db, owner, client, 3);
        Assert.True(await _db.ScalarAsUserAsync<bool>(owner, "select public.use_session($1)", pack));
        var (outsider, _, _) = await ClientAsync(_db, "Other");

        Assert.False(await _db.ScalarAsUserAsync<bool>(outsider, "select public.use_session($1)", pack));
        var e = await Assert.ThrowsAsync<PostgresException>(() => _db.ScalarAsUserAsync<int>(outsider, "select public.release_session($1)", pack));
        Assert.Equal("purchase_not_found", e.ConstraintName);
        foreach (var sql in new[] { "public.get_purchase($1)", "public.consume_session($1)", "public.reinstate_session($1)" })
        {
            var refusal = JsonDocument.Parse(await _db.ScalarAsUserAsync<string>(outsider, $"select {sql}::text", pack)).RootElement;
            Assert.Equal("purchase_not_found", refusal.GetProperty("code").GetString());
        }
        var list = JsonDocument.Parse(await _db.ScalarAsUserAsync<string>(outsider, "select public.list_client_purchases($1)", client)).RootElement;
        Assert.Equal("client_not_found", list.GetProperty("code").GetString());
        Assert.Equal(1, await UsedAsync(_db, pack));
        // Anonymous callers are outsiders too.
        Assert.False(await _db.ScalarAsUserAsync<bool>(null, "select public.use_session($1)", pack));
    }

    [Fact]
    public async Task CompleteBooking_When50CallersCompleteOneBookingAtOnce_OneSessionIsConsumed()
    {
        // 50 concurrent connections completing the same booking.
        var (owner, _, client) = await ClientAsync(_db);
        var pack = await PackAsync(_db, owner, client, 5);
        var booking = await BookingAsync(_db, owner, client, pack, DateTimeOffset.UtcNow.AddHours(1));

        var results = await RunAtOnceAsync<string>(Enumerable.Range(0, 50)
            .Select(_ => (owner, "select public.complete_booking($1)", new object[] { booking })).ToList());

        Assert.All(results, r => Assert.True(JsonDocument.Parse(r.Value!).RootElement.GetProperty("success").GetBoolean()));
        Assert.Equal(1, results.Count(r => !JsonDocument.Parse(r.Value!).RootElement.GetProperty("already").GetBoolean()));
        Assert.Equal(1, await UsedAsync(_db, pack));
        Assert.Equal("completed", await _db.ScalarAsync<string>("select status from sessions.bookings where id = $1", booking));
    }

    [Fact]
    public async Task CancelBooking_WhenReinstatedTwice_GivesTheSessionBackOnce()
    {
        var (owner, _, client) = await ClientAsync(_db);
        var pack = await PackAsync(_db, owner, client, 5);
        var booking = await BookingAsync(_db, owner, client, pack, DateTimeOffset.UtcNow.AddHours(1));
        await _db.ScalarAsUserAsync<string>(owner, "select public.mark_no_show($1)", booking);
        Assert.Equal(1, await UsedAsync(_db, pack));

        // 20 concurrent connections cancelling with reinstate.
        var results = await RunAtOnceAsync<string>(Enumerable.Range(0, 20)
            .Select(_ => (owner, "select public.cancel_booking($1, true)", new object[] { booking })).ToList());

        Assert.Equal(1, results.Count(r => JsonDocument.Parse(r.Value!).RootElement.GetProperty("reinstated").GetBoolean()));
        Assert.Equal(0, await UsedAsync(_db, pack));
        Assert.False(await _db.ScalarAsync<bool>("select session_consumed from sessions.bookings where id = $1", booking));
    }

    [Fact]
    public async Task CancelBooking_WhenTheBookingNeverConsumed_GivesNothingBack()
    {
        var (owner, _, client) = await ClientAsync(_db);
        var pack = await PackAsync(_db, owner, client, 5);
        Assert.True(await _db.ScalarAsUserAsync<bool>(owner, "select public.use_session($1)", pack));
        var booking = await BookingAsync(_db, owner, client, pack, DateTimeOffset.UtcNow.AddHours(1));

        var result = JsonDocument.Parse(await _db.ScalarAsUserAsync<string>(owner, "select public.cancel_booking($1, true)", booking)).RootElement;

        Assert.False(result.GetProperty("reinstated").GetBoolean());
        Assert.Equal(1, await UsedAsync(_db, pack));
        var again = JsonDocument.Parse(await _db.ScalarAsUserAsync<string>(owner, "select public.complete_booking($1)", booking)).RootElement;
        Assert.Equal("booking_not_scheduled", again.GetProperty("code").GetString());
    }

    [Fact]
    public async Task DirectUpdate_WhenPastThePackSize_IsRefusedByTheCheck()
    {
        var (owner, _, client) = await ClientAsync(_db);
        var pack = await PackAsync(_db, owner, client, 2);

        var e = await Assert.ThrowsAsync<PostgresException>(() =>
            _db.ScalarAsync<int>("update sessions.purchases set sessions_used = 3 where id = $1 returning 1", pack));

        Assert.Equal(PostgresErrorCodes.CheckViolation, e.SqlState);
        Assert.Equal("purchases_sessions_used_range", await _db.ViolatedConstraintAsync(e));
    }
}
