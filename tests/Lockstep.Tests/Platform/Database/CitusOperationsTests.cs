using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Gifts;
using Lockstep.Platform.Auth;
using Lockstep.Platform.Database;
using Lockstep.Platform.Errors;
using Lockstep.Platform.Http;
using Lockstep.Tests.Leads;
using Lockstep.Tests.Support;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit.Abstractions;

namespace Lockstep.Tests.Platform.Database;

/// <summary>
/// Operations that need more than a routed call, on a real Citus cluster (coordinator and two workers):
/// notifications reaching a live stream with no NOTIFY, workers' claims without FOR UPDATE, the owner rule
/// refused through two-phase commit. A server over the cluster runs with its outbox worker off.
/// Run alone: <c>--filter FullyQualifiedName~CitusOperationsTests</c> (about 1.5 min, most of it the cluster).
/// </summary>
public sealed class CitusOperationsTests(CitusClusterFixture cluster, ITestOutputHelper output) : IClassFixture<CitusClusterFixture>
{
    private async Task<WebApplicationFactory<Program>> ServerAsync()
    {
        // The fixture's third run recorded a migration of no build (CitusClusterFixture.Later); a server refuses
        // to start over a database newer than itself.
        await using (var forget = cluster.DataSource.CreateCommand("delete from platform.schema_migrations where name = $1"))
        {
            forget.Parameters.Add(new() { Value = CitusClusterFixture.Later.Name });
            await forget.ExecuteNonQueryAsync();
        }
        var server = new LockstepFactory(cluster.ConnectionString).WithWebHostBuilder(builder =>
        {
            builder.UseSetting("Lockstep:Gifts:NotificationPollInterval", "00:00:00.100");
            builder.UseSetting("Lockstep:Leads:Outbox:Enabled", "false");
            // A failing listener must not pass for a working one: its reconnect would wake every stream.
            builder.UseSetting("Lockstep:Gifts:ListenerRetryMilliseconds", "600000");
        });
        _ = server.Services;
        return server;
    }

    [CitusFact]
    public async Task Definitions_OnCitusAfterBeingAppliedAgain_LeaveNoNotifyTriggerOnNotifications()
    {
        await using var triggers = cluster.DataSource.CreateCommand(
            "select count(*) from pg_trigger where tgrelid = 'gifts.notifications'::regclass and tgname = 'announce_notification'");

        Assert.Equal(0L, (long)(await triggers.ExecuteScalarAsync())!);
    }

    [CitusFact]
    public async Task ClaimItem_OnCitusWhenTwoMembersClaimAtOnce_BothCommitAndAThirdMembersStreamIsWokenAndReadsBoth()
    {
        var celebrant = Guid.NewGuid();
        var (first, second, watcher) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var workspace = (await CallAsync(celebrant, "select public.create_workspace('Gift group')")).GetProperty("workspace_id").GetGuid();
        foreach (var member in new[] { first, second, watcher })
        {
            await CallAsync(celebrant, "select public.add_member($1, $2, 'member')", workspace, member);
        }
        var wishlist = (await CallAsync(celebrant, "select public.create_wishlist($1, 'Birthday')", workspace)).GetProperty("wishlist_id").GetGuid();
        var items = new List<Guid>();
        foreach (var title in new[] { "Bicycle", "Kite" })
        {
            items.Add((await CallAsync(celebrant, "select public.add_wishlist_item($1, $2, 50)", wishlist, title)).GetProperty("item_id").GetGuid());
        }
        await using var server = await ServerAsync();
        using var stream = server.Services.GetRequiredService<NotificationHub>().Subscribe(watcher);
        // The listener wakes every stream once as it starts.
        await stream.WaitAsync(TimeSpan.FromSeconds(1), CancellationToken.None);

        // Two members, two connections, released at once.
        var claims = await RunAtOnceAsync([(first, "select public.claim_item($1)", [items[0]]), (second, "select public.claim_item($1)", [items[1]])]);

        Assert.All(claims, claim => Assert.True(claim.GetProperty("success").GetBoolean(), claim.ToString()));
        var read = new List<JsonElement>();
        var cursor = "";
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (read.Count < 2 && DateTime.UtcNow < deadline)
        {
            Assert.True(await stream.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None), "the watcher's stream was not woken");
            var since = await CallAsync(watcher, "select public.notifications_since($1)", cursor);
            read.AddRange(since.GetProperty("notifications").EnumerateArray());
            cursor = since.GetProperty("cursor").GetString()!;
        }
        Assert.Equal(items.Order(), read.Select(n => n.GetProperty("data").GetProperty("item_id").GetGuid()).Order());
        Assert.All(read, n => Assert.Equal("item_claimed", n.GetProperty("type").GetString()));
    }

    [CitusFact]
    public async Task ClaimOutbox_OnCitusWhenEightWorkersClaimTwoHundredRowsInRoundsAtOnce_HandsOutEachRowOnce()
    {
        var owner = Guid.NewGuid();
        var workspaces = new List<Guid>();
        for (var i = 0; i < 4; i++)
        {
            var workspace = (await CallAsync(owner, "select public.create_workspace('Shop')")).GetProperty("workspace_id").GetGuid();
            await OutboxClaimRaceTests.QueueAsync(cluster.DataSource, cluster.ServingDataSource, owner, workspace, 50);
            workspaces.Add(workspace);
        }

        // 200 due rows in 4 workspaces, so on both workers.
        // Rounds of 8 concurrent claims of 50, until a round finds nothing: workers that raced for the same
        // candidates come back short, never with a row another one holds.
        var claimed = new List<Guid>();
        var rounds = 0;
        while (true)
        {
            var claims = await RunAtOnceAsync(Enumerable.Range(0, 8)
                .Select(_ => (owner, "select leads.claim_outbox(50, interval '1 minute')::text", Array.Empty<object?>()))
                .ToList());
            var round = OutboxClaimRaceTests.ClaimedRows(claims);
            if (round.Count == 0)
            {
                break;
            }
            claimed.AddRange(round);
            rounds++;
        }

        output.WriteLine($"{claimed.Count} rows claimed in {rounds} rounds");
        Assert.Equal(claimed.Count, claimed.Distinct().Count());
        Assert.Equal(200, claimed.Count);
        await using var leased = cluster.DataSource.CreateCommand(
            "select count(distinct lease_token) from leads.outbox where workspace_id = any ($1) and claimed_until > now()");
        leased.Parameters.Add(new() { Value = workspaces.ToArray() });
        Assert.Equal(200L, (long)(await leased.ExecuteScalarAsync())!);
    }

    [CitusFact]
    public async Task PurgeAuditLog_OnCitusWhenTwoPurgesRunAtOnce_DeletesAndCountsEachEntryOnce()
    {
        await CallAsync(Guid.NewGuid(), "select public.create_workspace('Audited')");
        await using var before = cluster.DataSource.CreateCommand("select count(*) from platform.audit_log");
        var entries = (long)(await before.ExecuteScalarAsync())!;

        var purged = await Task.WhenAll(Enumerable.Range(0, 2).Select(async _ =>
        {
            await using var purge = cluster.DataSource.CreateCommand("select platform.purge_audit_log(now() + interval '1 day', 100000)");
            return (int)(await purge.ExecuteScalarAsync())!;
        }));

        Assert.Equal(entries, purged.Sum());
    }

    [CitusFact]
    public async Task OwnerRule_OnCitusWhenACommitWouldLeaveNoOwner_IsRefusedAsLastOwnerNotA500()
    {
        // A function without the owner check of set_member_role: only the deferred trigger, at commit, refuses.
        await using (var function = cluster.DataSource.CreateCommand("""
            create or replace function public.test_demote_unchecked(p_workspace_id uuid, p_user_id uuid)
            returns jsonb language plpgsql security definer set search_path = '' as $$
            begin
              update platform.members m set role = 'member' where m.workspace_id = p_workspace_id and m.user_id = p_user_id;
              return jsonb_build_object('success', true);
            end;
            $$;
            grant execute on function public.test_demote_unchecked(uuid, uuid) to lockstep_api;
            """))
        {
            await function.ExecuteNonQueryAsync();
        }
        var owner = Guid.NewGuid();
        var workspace = (await CallAsync(owner, "select public.create_workspace('Studio')")).GetProperty("workspace_id").GetGuid();
        await using var server = await ServerAsync();

        // FunctionCaller's batch: one implicit transaction, committed by Citus with two-phase commit.
        var caller = server.Services.GetRequiredService<FunctionCaller>();
        var token = new VerifiedToken(owner, "authenticated", JsonSerializer.Serialize(new { sub = owner, role = "authenticated" }), DateTimeOffset.MaxValue);
        var refused = await Assert.ThrowsAsync<PostgresException>(() =>
            caller.CallAsync(token, "select public.test_demote_unchecked($1, $2)", [workspace, owner], CancellationToken.None));
        Assert.Equal(PostgresErrorCodes.CheckViolation, refused.SqlState);
        var problem = Problems.FromPostgres(refused);
        Assert.Equal((422, "last_owner"), (problem.StatusCode, problem.ProblemDetails.Extensions["code"]));

        // A keyed request: its explicit transaction's commit.
        using var client = server.Client(owner);
        using var keyed = new HttpRequestMessage(HttpMethod.Post, "/rest/v1/rpc/test_demote_unchecked")
        {
            Content = JsonContent.Create(new { p_workspace_id = workspace, p_user_id = owner }),
        };
        keyed.Headers.Add(Idempotency.KeyHeader, Guid.NewGuid().ToString("N"));
        var response = await client.SendAsync(keyed);
        var body = await response.Content.ReadAsStringAsync();
        output.WriteLine($"keyed: {(int)response.StatusCode} {body}");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("A workspace keeps at least one owner", body, StringComparison.Ordinal);

        await using var role = cluster.DataSource.CreateCommand("select role from platform.members where workspace_id = $1 and user_id = $2");
        role.Parameters.Add(new() { Value = workspace });
        role.Parameters.Add(new() { Value = owner });
        Assert.Equal("owner", (string)(await role.ExecuteScalarAsync())!);
    }

    private async Task<JsonElement[]> RunAtOnceAsync(IReadOnlyList<(Guid User, string Sql, object?[] Args)> calls)
    {
        var connections = new List<NpgsqlConnection>();
        foreach (var _ in calls)
        {
            connections.Add(await cluster.ServingDataSource.OpenConnectionAsync());
        }
        try
        {
            var start = new TaskCompletionSource();
            var tasks = calls.Select(async (call, i) =>
            {
                await start.Task;
                return JsonDocument.Parse(await DatabaseFixture.ScalarAsUserAsync<string>(connections[i], call.User, call.Sql, call.Args)).RootElement.Clone();
            }).ToList();
            start.SetResult();
            return await Task.WhenAll(tasks);
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    private async Task<JsonElement> CallAsync(Guid user, string sql, params object?[] args)
    {
        await using var connection = await cluster.ServingDataSource.OpenConnectionAsync();
        return JsonDocument.Parse(await DatabaseFixture.ScalarAsUserAsync<string>(connection, user, sql, args)).RootElement.Clone();
    }
}
