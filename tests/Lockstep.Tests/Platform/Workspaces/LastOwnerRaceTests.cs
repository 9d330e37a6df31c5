using System.Text.Json;
using Lockstep.Platform.Database;
using Lockstep.Tests.Support;
using Npgsql;

namespace Lockstep.Tests.Platform.Workspaces;

/// <summary>"A workspace always keeps at least one owner", under concurrent demotion and removal.</summary>
[RunsOnCitus]
public sealed class LastOwnerRaceTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private async Task<(Guid Workspace, Guid[] Owners)> WorkspaceWithOwnersAsync(int owners)
    {
        var ids = Enumerable.Range(0, owners).Select(_ => Guid.NewGuid()).ToArray();
        var created = await db.ScalarAsUserAsync<string>(ids[0], "select public.create_workspace('Race')");
        var workspace = JsonDocument.Parse(created).RootElement.GetProperty("workspace_id").GetGuid();
        foreach (var owner in ids.Skip(1))
        {
            await db.ScalarAsUserAsync<string>(ids[0], "select public.add_member($1, $2, 'owner')", workspace, owner);
        }
        return (workspace, ids);
    }

    private Task<long> OwnersAsync(Guid workspace) =>
        db.ScalarAsync<long>("select count(*) from platform.members where workspace_id = $1 and role = 'owner'", workspace);

    [Fact]
    public async Task SetMemberRole_WhenTheLastTwoOwnersDemoteEachOtherAtOnce_OneOwnerRemains()
    {
        // 25 workspaces × 2 owners = 50 concurrent connections, each owner demoting the other.
        var workspaces = new List<(Guid Workspace, Guid[] Owners)>();
        for (var i = 0; i < 25; i++)
        {
            workspaces.Add(await WorkspaceWithOwnersAsync(2));
        }
        var calls = workspaces.SelectMany(w => new[]
        {
            (w.Owners[0], "select public.set_member_role($1, $2, 'member')", new object?[] { w.Workspace, w.Owners[1] }),
            (w.Owners[1], "select public.set_member_role($1, $2, 'member')", new object?[] { w.Workspace, w.Owners[0] }),
        }).ToList();

        var outcomes = await db.RunAtOnceAsync(calls);

        foreach (var (workspace, _) in workspaces)
        {
            Assert.Equal(1L, await OwnersAsync(workspace));
        }
        Assert.Equal(25, outcomes.Count(o => o.GetProperty("success").GetBoolean()));
        // The loser was either already demoted (forbidden) or would demote the last owner (last_owner).
        Assert.All(outcomes.Where(o => !o.GetProperty("success").GetBoolean()),
            o => Assert.Contains(o.GetProperty("code").GetString(), new[] { "last_owner", "forbidden" }));
    }

    [Fact]
    public async Task RemoveMember_WhenEveryOwnerLeavesAtOnce_OneOwnerRemains()
    {
        var (workspace, owners) = await WorkspaceWithOwnersAsync(40);

        var results = await db.RunAtOnceAsync(owners
            .Select(o => (o, "select public.remove_member($1, $2)", new object?[] { workspace, o }))
            .ToList());

        Assert.Equal(1L, await OwnersAsync(workspace));
        Assert.Equal(39, results.Count(r => r.GetProperty("success").GetBoolean()));
    }

    [Fact]
    public async Task DirectUpdate_WhenTwoTransactionsDemoteTheLastTwoOwners_TheTriggerRefusesOne()
    {
        // Bypasses the functions: the constraint trigger alone must hold the rule.
        var (workspace, owners) = await WorkspaceWithOwnersAsync(2);
        await using var first = await db.DataSource.OpenConnectionAsync();
        await using var second = await db.DataSource.OpenConnectionAsync();
        await using var t1 = await first.BeginTransactionAsync();
        await using var t2 = await second.BeginTransactionAsync();
        const string demote = "update platform.members set role = 'member' where workspace_id = $1 and user_id = $2";
        await Execute(first, demote, workspace, owners[0]);
        await Execute(second, demote, workspace, owners[1]);

        var commits = await Task.WhenAll(CommitAsync(t1), CommitAsync(t2));

        Assert.Equal(1, commits.Count(c => c is null));
        var refused = Assert.Single(commits, c => c is not null)!;
        Assert.Equal(PostgresErrorCodes.CheckViolation, refused.SqlState);
        Assert.Equal("workspace_keeps_owner", await db.ViolatedConstraintAsync(refused));
        Assert.Equal(1L, await OwnersAsync(workspace));
    }

    [Fact]
    public async Task DirectDelete_WhenTheOnlyOwnerIsDeleted_IsRefusedWithTheNamedConstraint()
    {
        var (workspace, owners) = await WorkspaceWithOwnersAsync(1);
        await using var connection = await db.DataSource.OpenConnectionAsync();

        // The check is deferred to commit; a lone statement commits at once.
        var e = await Assert.ThrowsAsync<PostgresException>(() =>
            Execute(connection, "delete from platform.members where workspace_id = $1 and user_id = $2", workspace, owners[0]));

        Assert.Equal(PostgresErrorCodes.CheckViolation, e.SqlState);
        Assert.Equal("workspace_keeps_owner", await db.ViolatedConstraintAsync(e));
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

    /// <summary>
    /// The commit's refusal, read as the server reads it (<see cref="CommitRefusal"/>): on Citus a violation at
    /// a two-phase commit arrives as a warning before the commit's own failure.
    /// </summary>
    private static async Task<PostgresException?> CommitAsync(NpgsqlTransaction transaction)
    {
        using var refusal = new CommitRefusal(transaction.Connection!);
        try
        {
            await transaction.CommitAsync();
            return null;
        }
        catch (PostgresException e)
        {
            return refusal.Of(e) ?? e;
        }
    }
}
