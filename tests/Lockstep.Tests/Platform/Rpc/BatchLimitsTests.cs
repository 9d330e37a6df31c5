using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Lockstep.Tests.Sessions;
using Lockstep.Tests.Support;
using static Lockstep.Tests.Platform.Rpc.Batches;

namespace Lockstep.Tests.Platform.Rpc;

/// <summary>The configured limits: the batch timeout (1 s here), the number of calls (3 here), the body size (4 KB here).</summary>
public sealed class BatchLimitsTests(BatchLimitsFixture server) : IClassFixture<BatchLimitsFixture>
{
    private async Task<(Guid Owner, Guid Workspace)> WorkspaceAsync()
    {
        var owner = Guid.NewGuid();
        var created = await server.ScalarAsUserAsync<string>(owner, "select public.create_workspace('Studio')");
        return (owner, JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid());
    }

    private Task<long> ClientsAsync(Guid workspace) =>
        server.ScalarAsync<long>("select count(*) from crm.clients where workspace_id = $1", workspace);

    [Fact]
    public async Task Batch_WhenACallWaitsOnARowLockPastTheTimeout_IsRolledBackAndAnswered504()
    {
        var (owner, workspace, client) = await SessionsTestData.ClientAsync(server);
        var pack = await SessionsTestData.PackAsync(server, owner, client, 10);
        await server.ScalarAsUserAsync<string>(owner, "select 'ok'"); // warm the pool outside the measured call

        // The test holds the pack's row lock for longer than the batch may run.
        await using var holder = await server.DataSource.OpenConnectionAsync();
        await using var lockTx = await holder.BeginTransactionAsync();
        await using (var take = new Npgsql.NpgsqlCommand("select 1 from sessions.purchases where id = $1 for update", holder, lockTx))
        {
            take.Parameters.Add(new() { Value = pack });
            await take.ExecuteScalarAsync();
        }

        var clock = Stopwatch.StartNew();
        var response = await PostAsync(server.Client(owner), Body(
            ("add_member", new { p_workspace_id = workspace, p_user_id = Guid.NewGuid(), p_role = "member" }),
            ("consume_session", new { p_purchase_id = pack })));
        var elapsed = clock.Elapsed;
        await lockTx.RollbackAsync();

        var error = await AssertErrorAsync(response, HttpStatusCode.GatewayTimeout, "57014", 1);
        Assert.Contains("consume_session", error.GetProperty("details").GetString(), StringComparison.Ordinal);
        Assert.True(elapsed < BatchLimitsFixture.Timeout + TimeSpan.FromSeconds(3), $"answered after {elapsed}");
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from platform.members where workspace_id = $1", workspace));
        Assert.Equal(0, await SessionsTestData.UsedAsync(server, pack));
    }

    [Fact]
    public async Task Batch_WhenItsCallsTogetherOutlastTheTimeout_IsRolledBackAndAnswered504()
    {
        // Each sleep is well inside the statement timeout; only the batch as a whole is too long.
        var (owner, workspace) = await WorkspaceAsync();

        var clock = Stopwatch.StartNew();
        var response = await PostAsync(server.Client(owner), Body(
            ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Ann", p_contact_name = "Ann" }),
            ("test_batch_sleep", new { p_seconds = 0.6 }),
            ("test_batch_sleep", new { p_seconds = 0.6 })));
        var elapsed = clock.Elapsed;

        var error = await AssertErrorAsync(response, HttpStatusCode.GatewayTimeout, "57014", 2);
        Assert.Contains("test_batch_sleep", error.GetProperty("details").GetString(), StringComparison.Ordinal);
        Assert.True(elapsed < BatchLimitsFixture.Timeout + TimeSpan.FromSeconds(3), $"answered after {elapsed}");
        Assert.Equal(0L, await ClientsAsync(workspace));
    }

    [Fact]
    public async Task Batch_WhenOneCallSleepsPastTheTimeout_IsCancelledInTheDatabaseAndTheNextBatchSucceeds()
    {
        var (owner, workspace) = await WorkspaceAsync();

        var slow = await PostAsync(server.Client(owner), Body(
            ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Ann", p_contact_name = "Ann" }),
            ("test_batch_sleep", new { p_seconds = 30 })));

        await AssertErrorAsync(slow, HttpStatusCode.GatewayTimeout, "57014", 1);
        // Answered only after the database stopped: no backend still sleeps or sits in the batch's transaction.
        Assert.Equal(0L, await server.ScalarAsync<long>("""
            select count(*) from pg_stat_activity
            where datname = current_database() and pid <> pg_backend_pid()
              and (query like '%test_batch_sleep%' and state = 'active' or state like 'idle in transaction%')
            """));
        var next = await PostAsync(server.Client(owner), Body(
            ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Bea", p_contact_name = "Bea" })));
        await AssertResultsAsync(next);
        Assert.Equal(1L, await server.ScalarAsync<long>("select count(*) from crm.clients where workspace_id = $1 and name = 'Bea'", workspace));
        Assert.Equal(1L, await ClientsAsync(workspace));
    }

    [Fact]
    public async Task BatchTimeouts_WhenTheServerPausesInsideTheTransaction_TheDatabaseEndsItItself()
    {
        // The backstop for a server that stalls between two calls (the C# deadline cannot fire then):
        // the settings every batch starts with make PostgreSQL end an idle transaction at the limit.
        var pack = await SessionsTestData.ClientAsync(server);
        await using var connection = await server.DataSource.OpenConnectionAsync();
        var transaction = await connection.BeginTransactionAsync();
        await using (var set = new Npgsql.NpgsqlCommand(Lockstep.Platform.Rpc.RpcBatchEndpoint.SetTimeouts, connection, transaction))
        {
            set.Parameters.Add(new() { Value = "200" });
            await set.ExecuteNonQueryAsync();
        }
        await using (var write = new Npgsql.NpgsqlCommand("update crm.clients set name = 'Changed' where id = $1", connection, transaction))
        {
            write.Parameters.Add(new() { Value = pack.Client });
            await write.ExecuteNonQueryAsync();
        }

        await Task.Delay(TimeSpan.FromMilliseconds(800));

        await Assert.ThrowsAnyAsync<Npgsql.NpgsqlException>(async () =>
        {
            await using var next = new Npgsql.NpgsqlCommand("select 1", connection, transaction);
            await next.ExecuteScalarAsync();
        });
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from crm.clients where id = $1 and name = 'Changed'", pack.Client));
    }

    [Fact]
    public async Task Batch_WhenItHasMoreCallsThanConfigured_Answers400AndRunsNothing()
    {
        var (owner, workspace) = await WorkspaceAsync();
        var create = ("create_client_with_contact", (object)new { p_workspace_id = workspace, p_client_name = "Ann", p_contact_name = "Ann" });
        var note = ("test_batch_note", (object)new { p_note = "x" });

        var response = await PostAsync(server.Client(owner), Body(create, note, note, note));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "batch_too_many_calls", null);
        Assert.Equal(0L, await ClientsAsync(workspace));
        await AssertResultsAsync(await PostAsync(server.Client(owner), Body(create, note, note)));
    }

    [Fact]
    public async Task Batch_WhenTheBodyIsOverTheLimit_Answers413AndRunsNothing()
    {
        var (owner, workspace) = await WorkspaceAsync();

        var response = await PostAsync(server.Client(owner), Body(
            ("create_client_with_contact", new { p_workspace_id = workspace, p_client_name = "Ann", p_contact_name = "Ann", p_client_notes = new string('n', 5000) })));

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.RequestEntityTooLarge, text);
        Assert.Equal("body_too_large", JsonDocument.Parse(text).RootElement.GetProperty("code").GetString());
        Assert.Equal(0L, await ClientsAsync(workspace));
    }
}
