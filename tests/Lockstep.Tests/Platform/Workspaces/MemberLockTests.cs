using System.Text.Json;
using Lockstep.Tests.Support;
using Npgsql;
using Xunit.Abstractions;

namespace Lockstep.Tests.Platform.Workspaces;

/// <summary>The workspace lock of member changes: it orders them against each other, and nothing else.</summary>
[RunsOnCitus]
public sealed class MemberLockTests(DatabaseFixture db, ITestOutputHelper output) : IClassFixture<DatabaseFixture>
{
    private async Task<Guid> WorkspaceAsync(Guid owner, params (Guid User, string Role)[] members)
    {
        var created = await db.ScalarAsUserAsync<string>(owner, "select public.create_workspace('Locks')");
        var workspace = JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid();
        foreach (var (user, role) in members)
        {
            await db.ScalarAsUserAsync<string>(owner, "select public.add_member($1, $2, $3)", workspace, user, role);
        }
        return workspace;
    }

    [Fact]
    public async Task AddMember_WhenTheCallingAdminIsRemovedAtOnce_NobodyIsAddedAfterTheRemoval()
    {
        // 5 rounds of 20 workspaces (40 connections at once): the owner removes the admin while the admin adds someone.
        var workspaces = new List<Guid>();
        var added = 0;
        for (var round = 0; round < 5; round++)
        {
            var calls = new List<(Guid, string, object?[])>();
            for (var i = 0; i < 20; i++)
            {
                var (owner, admin) = (Guid.NewGuid(), Guid.NewGuid());
                var workspace = await WorkspaceAsync(owner, (admin, "admin"));
                workspaces.Add(workspace);
                calls.Add((owner, "select public.remove_member($1, $2)", [workspace, admin]));
                calls.Add((admin, "select public.add_member($1, $2)", [workspace, Guid.NewGuid()]));
            }

            var outcomes = await db.RunAtOnceAsync(calls);

            Assert.All(outcomes.Where((_, i) => i % 2 == 0), o => Assert.True(o.GetProperty("success").GetBoolean(), o.ToString()));
            var adds = outcomes.Where((_, i) => i % 2 == 1).ToList();
            Assert.All(adds.Where(o => !o.GetProperty("success").GetBoolean()),
                o => Assert.Equal("workspace_not_found", o.GetProperty("code").GetString()));
            added += adds.Count(o => o.GetProperty("success").GetBoolean());
        }
        output.WriteLine($"adds that won the race: {added} of {workspaces.Count}");

        // The audit log numbers changes as they are made: an insert by the admin numbered after the admin's
        // removal went through on a role that was already gone.
        Assert.Equal(0L, await db.ScalarAsync<long>("""
            select count(*)
            from platform.audit_log a
            join platform.audit_log r
              on r.workspace_id = a.workspace_id and r.entity_table = 'platform.members'
             and r.action = 'delete' and r.entity_id = a.actor_id::text
            where a.workspace_id = any($1) and a.entity_table = 'platform.members' and a.action = 'insert' and a.id > r.id
            """, workspaces.ToArray()));
        Assert.Equal((long)workspaces.Count + added, await db.ScalarAsync<long>(
            "select count(*) from platform.members where workspace_id = any($1)", workspaces.ToArray()));
    }

    [Theory]
    [InlineData("set_member_role")]
    [InlineData("remove_member")]
    [InlineData("add_member")]
    public async Task Insert_WhileAMemberChangeHoldsTheWorkspaceLock_DoesNotWait(string change)
    {
        var (owner, secondOwner, member) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var workspace = await WorkspaceAsync(owner, (secondOwner, "owner"), (member, "member"));
        await using var holder = await db.ServingDataSource.OpenConnectionAsync();
        await using var transaction = await holder.BeginTransactionAsync();
        var sql = change switch
        {
            "set_member_role" => "select public.set_member_role($1, $2, 'admin')",
            "remove_member" => "select public.remove_member($1, $2)",
            _ => "select public.add_member($1, $2)",
        };
        var changed = await DatabaseFixture.ScalarAsUserAsync<string>(transaction, owner, sql, workspace, change == "add_member" ? Guid.NewGuid() : member);
        Assert.True(JsonDocument.Parse(changed).RootElement.GetProperty("success").GetBoolean(), changed);

        await AssertInsertDoesNotWaitAsync(workspace, member);
        await transaction.RollbackAsync();
    }

    [SingleNodeFact("SET CONSTRAINTS is not sent to the workers, so the deferred owner check cannot be run early; "
        + "on Citus it runs at commit (LastOwnerRaceTests.DirectUpdate_…)")]
    public async Task Insert_WhileTheOwnerCheckHoldsTheWorkspaceLock_DoesNotWait()
    {
        var (owner, secondOwner, member) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var workspace = await WorkspaceAsync(owner, (secondOwner, "owner"), (member, "member"));
        await using var holder = await db.DataSource.OpenConnectionAsync();
        await using var transaction = await holder.BeginTransactionAsync();
        // Bypasses the functions, so only the deferred owner check locks; run now, it keeps its lock to the end.
        await Execute(holder, "update platform.members set role = 'member' where workspace_id = $1 and user_id = $2", workspace, secondOwner);
        await Execute(holder, "set constraints all immediate");

        await AssertInsertDoesNotWaitAsync(workspace, member);
        await transaction.RollbackAsync();
    }

    /// <summary>The workspace row is held (another locker is refused at once), and a member's insert still goes through without waiting.</summary>
    private async Task AssertInsertDoesNotWaitAsync(Guid workspace, Guid member)
    {
        await using (var probe = await db.DataSource.OpenConnectionAsync())
        {
            var locked = await Assert.ThrowsAsync<PostgresException>(() =>
                Execute(probe, "select 1 from platform.workspaces where id = $1 for no key update nowait", workspace));
            Assert.Equal(PostgresErrorCodes.LockNotAvailable, locked.SqlState);
        }

        await using var inserter = await db.ServingDataSource.OpenConnectionAsync();
        await Execute(inserter, "set lock_timeout = '300ms'");
        var created = await DatabaseFixture.ScalarAsUserAsync<string>(inserter, member,
            "select public.create_client_with_contact($1, 'Ann Lee', 'Ann Lee')", workspace);

        Assert.True(JsonDocument.Parse(created).RootElement.GetProperty("success").GetBoolean(), created);
    }

    private static async Task Execute(NpgsqlConnection connection, string sql, params object[] args)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var arg in args)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = arg });
        }
        await command.ExecuteNonQueryAsync();
    }
}
